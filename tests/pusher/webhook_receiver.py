#!/usr/bin/env python3
"""A Pusher webhook endpoint for herald's tests: checks each POST with the official Python
SDK's `validate_webhook` (the key, the HMAC-SHA256 signature of the body, a time_ms within
five minutes) and prints what it got.

Usage: webhook_receiver.py --key KEY --secret SECRET [--fail-first N]
Prints {"listening": PORT} once it accepts connections, then one line per POST:
{"valid": true, "events": [...]} (or {"valid": false, "error": ...}). With --fail-first N
the first N POSTs are answered 503 (and printed with "answered": 503), to exercise retries.
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import pusher
except ImportError:
    print(json.dumps({"error": "the pusher package is not installed (pip install pusher)"}), flush=True)
    sys.exit(2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    client = pusher.Pusher(app_id="1", key=args.key, secret=args.secret)
    state = {"failures_left": args.fail_first}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            sys.stderr.write("webhook_receiver: " + (fmt % a) + "\n")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            if state["failures_left"] > 0:
                state["failures_left"] -= 1
                print(json.dumps({"answered": 503}), flush=True)
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            try:
                result = client.validate_webhook(
                    self.headers.get("X-Pusher-Key"), self.headers.get("X-Pusher-Signature"), body
                )
                line = {"valid": result is not None, "events": (result or {}).get("events", [])}
            except Exception as e:  # the SDK raises on malformed input
                line = {"valid": False, "error": str(e)}
            print(json.dumps(line), flush=True)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(json.dumps({"listening": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
