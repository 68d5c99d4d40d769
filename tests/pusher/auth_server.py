#!/usr/bin/env python3
"""A tiny app backend for herald's Pusher tests: the channel-authorization and
user-authentication endpoints pusher-js and Laravel Echo call, signing with the app secret
by Python's own hmac (independent of herald's code).

Usage: auth_server.py --key KEY --secret SECRET [--port 0] [--host 127.0.0.1]
(or PUSHER_KEY / PUSHER_SECRET / AUTH_PORT in the environment). Prints one line
{"listening": PORT} on stdout once it accepts connections, then serves until killed.

Endpoints (form-encoded POST bodies, as pusher-js sends them):
- POST /pusher/auth and /broadcasting/auth: socket_id, channel_name, and optionally
  user_id / user_name (pusher-js channelAuthorization.params). Answers {"auth": …} for
  private- and private-encrypted- channels, {"auth": …, "channel_data": …} for presence-
  channels (user_id defaults to "anonymous"; a user_id of digits is sent as a JSON number,
  as Laravel does). Channels whose name contains "forbidden" get 403, as a backend that
  refuses would.
- POST /pusher/user-auth: socket_id and user_id → {"auth": …, "user_data": …}.
- GET / : a blank page, and GET /pusher.min.js : pusher-js's browser build from
  node_modules beside this script, so a browser test runs pusher-js on the backend's
  origin (as a Laravel page would), with same-origin authorization requests.
Each request is logged to stderr.
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


def sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


PAGE = b'<!doctype html><meta charset="utf-8"><title>herald pusher test</title><pre id="log"></pre>'
PUSHER_JS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "node_modules/pusher-js/dist/web/pusher.min.js"
)


def make_handler(key: str, secret: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            sys.stderr.write("auth_server: " + (fmt % args) + "\n")

        def reply(self, status: int, body: dict):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(data)

        def form(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            if self.headers.get("Content-Type", "").startswith("application/json"):
                return json.loads(raw or "{}")
            return {k: v[0] for k, v in parse_qs(raw).items()}

        def do_OPTIONS(self):
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Headers", "*")
            self.end_headers()

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/":
                body, kind = PAGE, "text/html; charset=utf-8"
            elif path == "/pusher.min.js":
                try:
                    with open(PUSHER_JS, "rb") as f:
                        body, kind = f.read(), "text/javascript"
                except OSError:
                    return self.reply(404, {"error": "pusher-js is not installed (npm ci)"})
            else:
                return self.reply(404, {"error": "not found"})
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            try:
                form = self.form()
            except ValueError:
                return self.reply(400, {"error": "bad body"})
            socket_id = form.get("socket_id", "")
            if path in ("/pusher/auth", "/broadcasting/auth"):
                return self.channel_auth(form, socket_id)
            if path == "/pusher/user-auth":
                return self.user_auth(form, socket_id)
            return self.reply(404, {"error": "not found"})

        def channel_auth(self, form: dict, socket_id: str):
            channel = form.get("channel_name", "")
            if "forbidden" in channel:
                return self.reply(403, {"error": "forbidden"})
            if channel.startswith("presence-"):
                user_id = form.get("user_id", "anonymous")
                info = {"name": form.get("user_name", user_id)}
                uid = int(user_id) if user_id.isdigit() else user_id
                channel_data = json.dumps({"user_id": uid, "user_info": info}, separators=(",", ":"))
                signature = sign(secret, f"{socket_id}:{channel}:{channel_data}")
                return self.reply(200, {"auth": f"{key}:{signature}", "channel_data": channel_data})
            if channel.startswith("private-"):
                signature = sign(secret, f"{socket_id}:{channel}")
                return self.reply(200, {"auth": f"{key}:{signature}"})
            return self.reply(400, {"error": "public channels need no auth"})

        def user_auth(self, form: dict, socket_id: str):
            user_id = form.get("user_id", "anonymous")
            user_data = json.dumps({"id": user_id, "name": form.get("user_name", user_id)}, separators=(",", ":"))
            signature = sign(secret, f"{socket_id}::user::{user_data}")
            return self.reply(200, {"auth": f"{key}:{signature}", "user_data": user_data})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--key", default=os.environ.get("PUSHER_KEY"))
    parser.add_argument("--secret", default=os.environ.get("PUSHER_SECRET"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("AUTH_PORT", "0")))
    args = parser.parse_args()
    if not args.key or not args.secret:
        parser.error("--key and --secret (or PUSHER_KEY / PUSHER_SECRET) are required")
    server = ThreadingHTTPServer((args.host, args.port), make_handler(args.key, args.secret))
    print(json.dumps({"listening": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
