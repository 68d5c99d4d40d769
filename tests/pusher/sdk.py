#!/usr/bin/env python3
"""Drive a Pusher-compatible server with the official Python server SDK (PyPI `pusher`),
for herald's Pusher tests: trigger, batch-trigger, query channels and users, terminate a
user's connections, and authorize channels and users as a backend would.

Usage: sdk.py [--host H] [--port P] [--app-id ID] [--key K] [--secret S] COMMAND ARGS
(or PUSHER_HOST / PUSHER_PORT / PUSHER_APP_ID / PUSHER_KEY / PUSHER_SECRET). Commands:
  trigger CHANNELS EVENT DATA [--socket-id ID]   CHANNELS comma-separated
  batch JSON                                      a list of {"channel","name","data"}
  channels [--prefix P] [--info a,b]
  channel NAME [--info a,b]
  users NAME
  terminate USER_ID
  send-to-user USER_ID EVENT DATA
  authorize CHANNEL SOCKET_ID [--user-id U] [--user-info JSON]   (no network)
  authenticate-user SOCKET_ID USER_JSON                           (no network)
Prints one JSON line: {"ok": true, "result": …} or {"ok": false, "status": …,
"error": …}, and exits 0 or 1. DATA that parses as JSON is sent as that JSON (the SDK
encodes it), otherwise as the string.
"""

import argparse
import json
import os
import sys

try:
    import pusher
    from pusher.errors import PusherBadAuth, PusherBadRequest, PusherBadStatus, PusherForbidden
except ImportError:
    print(json.dumps({"ok": False, "error": "the pusher package is not installed (pip install pusher)"}))
    sys.exit(2)


def data_arg(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def main() -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=env("PUSHER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("PUSHER_PORT", "6001")))
    parser.add_argument("--app-id", default=env("PUSHER_APP_ID"))
    parser.add_argument("--key", default=env("PUSHER_KEY"))
    parser.add_argument("--secret", default=env("PUSHER_SECRET"))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("trigger")
    p.add_argument("channels")
    p.add_argument("event")
    p.add_argument("data")
    p.add_argument("--socket-id")
    p = sub.add_parser("batch")
    p.add_argument("json")
    p = sub.add_parser("channels")
    p.add_argument("--prefix")
    p.add_argument("--info", default="")
    p = sub.add_parser("channel")
    p.add_argument("name")
    p.add_argument("--info", default="")
    p = sub.add_parser("users")
    p.add_argument("name")
    p = sub.add_parser("terminate")
    p.add_argument("user_id")
    p = sub.add_parser("send-to-user")
    p.add_argument("user_id")
    p.add_argument("event")
    p.add_argument("data")
    p = sub.add_parser("authorize")
    p.add_argument("channel")
    p.add_argument("socket_id")
    p.add_argument("--user-id")
    p.add_argument("--user-info", default="null")
    p = sub.add_parser("authenticate-user")
    p.add_argument("socket_id")
    p.add_argument("user_json")
    args = parser.parse_args()
    if not (args.app_id and args.key and args.secret):
        parser.error("--app-id, --key and --secret (or PUSHER_APP_ID / PUSHER_KEY / PUSHER_SECRET) are required")

    client = pusher.Pusher(
        app_id=args.app_id, key=args.key, secret=args.secret,
        ssl=False, host=args.host, port=args.port, timeout=10,
    )
    attributes = lambda text: [a for a in text.split(",") if a]
    c = args.command
    try:
        if c == "trigger":
            result = client.trigger(args.channels.split(","), args.event, data_arg(args.data), socket_id=args.socket_id)
        elif c == "batch":
            result = client.trigger_batch(json.loads(args.json))
        elif c == "channels":
            result = client.channels_info(prefix_filter=args.prefix, attributes=attributes(args.info))
        elif c == "channel":
            result = client.channel_info(args.name, attributes=attributes(args.info))
        elif c == "users":
            result = client.users_info(args.name)
        elif c == "terminate":
            result = client.terminate_user_connections(args.user_id)
        elif c == "send-to-user":
            result = client.send_to_user(args.user_id, args.event, data_arg(args.data))
        elif c == "authorize":
            custom = None
            if args.user_id is not None:
                custom = {"user_id": args.user_id, "user_info": json.loads(args.user_info)}
            result = client.authenticate(args.channel, args.socket_id, custom)
        elif c == "authenticate-user":
            result = client.authenticate_user(args.socket_id, json.loads(args.user_json))
        else:
            raise AssertionError(c)
    except PusherBadRequest as e:
        print(json.dumps({"ok": False, "status": 400, "error": str(e)}))
        return 1
    except PusherBadAuth as e:
        print(json.dumps({"ok": False, "status": 401, "error": str(e)}))
        return 1
    except PusherForbidden as e:
        print(json.dumps({"ok": False, "status": 403, "error": str(e)}))
        return 1
    except PusherBadStatus as e:
        status = str(e).split(":", 1)[0]
        print(json.dumps({"ok": False, "status": int(status) if status.isdigit() else None, "error": str(e)}))
        return 1
    except ValueError as e:
        print(json.dumps({"ok": False, "status": None, "error": f"refused by the SDK: {e}"}))
        return 1
    print(json.dumps({"ok": True, "result": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
