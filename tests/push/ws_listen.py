#!/usr/bin/env python3
"""A browser-side client for the push tests, with Python `websockets` (independent of
herald): connect, say so, print what arrives, and how the connection ended.

Owns one client-side script for the integration tests; it starts no server. Usage:

  ws_listen.py URL [--count N] [--send TEXT] [--timeout SECONDS]

prints JSON lines on stdout: {"event": "open"} once connected (or {"event": "refused",
"status": 401, "body": "..."} when the upgrade is refused, then exit 0); then
{"event": "text", "data": "..."} or {"event": "binary", "hex": "..."} per message, until N
messages arrived (default: until the connection ends); with --send, TEXT is sent after
"open". Last, {"event": "closed", "code": C, "reason": "..."} when the server closed the
connection, or {"event": "done"} when N messages arrived (the client then closes 1000).
Exit status 0, or 1 on a timeout (default 10 s per wait), 2 without `websockets`.
"""

import asyncio
import json
import sys

try:
    import websockets
    from websockets.exceptions import ConnectionClosed, InvalidStatus
except ImportError:
    print("ws_listen.py: the websockets package is missing (pip install websockets)",
          file=sys.stderr)
    sys.exit(2)


def emit(**event):
    print(json.dumps(event), flush=True)


async def listen(url, count, send, timeout):
    try:
        ws = await asyncio.wait_for(websockets.connect(url, max_size=None), timeout)
    except InvalidStatus as e:
        body = e.response.body.decode("utf-8", "replace") if e.response.body else ""
        emit(event="refused", status=e.response.status_code, body=body.strip())
        return 0
    emit(event="open")
    if send is not None:
        await ws.send(send)
    got = 0
    try:
        while count is None or got < count:
            msg = await asyncio.wait_for(ws.recv(), timeout)
            got += 1
            if isinstance(msg, str):
                emit(event="text", data=msg)
            else:
                emit(event="binary", hex=msg.hex())
    except ConnectionClosed as e:
        rcvd = e.rcvd
        emit(event="closed", code=rcvd.code if rcvd else None,
             reason=rcvd.reason if rcvd else None)
        return 0
    except asyncio.TimeoutError:
        emit(event="timeout")
        return 1
    emit(event="done")
    await ws.close()
    return 0


def main():
    args = sys.argv[1:]
    opts = {"--count": None, "--send": None, "--timeout": "10"}
    for flag in list(opts):
        if flag in args:
            i = args.index(flag)
            opts[flag] = args[i + 1]
            del args[i : i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    count = int(opts["--count"]) if opts["--count"] is not None else None
    sys.exit(asyncio.run(listen(args[0], count, opts["--send"], float(opts["--timeout"]))))


if __name__ == "__main__":
    main()
