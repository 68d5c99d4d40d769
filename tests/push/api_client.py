#!/usr/bin/env python3
"""Call herald's HTTP publish API with Python's standard library only (http.client), as a
Django or Flask backend without extra packages would.

Owns one client-side script for the integration tests; it starts no server. Usage:

  api_client.py URL KEY METHOD PATH [BODY] [--content-type T] [--count N]

sends the request N times (default 1) over ONE keep-alive connection (http.client reuses
it while the server keeps it open) and prints one JSON line per request:
{"status": 200, "body": <JSON or text>, "headers": {lower-case name: value},
 "same_connection": bool}. KEY "-" sends no Authorization header. Exit status 0 when every
request got an HTTP answer, 1 on a transport error, 2 on bad arguments.
"""

import http.client
import json
import sys
import urllib.parse


def main():
    args = sys.argv[1:]
    count, content_type = 1, "application/json"
    for flag in ("--count", "--content-type"):
        if flag in args:
            i = args.index(flag)
            if i + 1 >= len(args):
                print(f"api_client.py: {flag} needs a value", file=sys.stderr)
                sys.exit(2)
            value = args[i + 1]
            del args[i : i + 2]
            if flag == "--count":
                count = int(value)
            else:
                content_type = value
    if len(args) not in (4, 5):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    url, key, method, path = args[:4]
    body = args[4].encode() if len(args) == 5 else None
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {}
    if key != "-":
        headers["Authorization"] = f"Bearer {key}"
    if body is not None:
        headers["Content-Type"] = content_type
    first_sock = None
    for _ in range(count):
        try:
            conn.request(method, path, body=body, headers=headers)
            sock = conn.sock
            response = conn.getresponse()
            raw = response.read()
        except OSError as e:
            print(json.dumps({"status": None, "error": str(e)}))
            sys.exit(1)
        if first_sock is None:
            first_sock = sock
        try:
            decoded = json.loads(raw)
        except ValueError:
            decoded = raw.decode("utf-8", "replace")
        print(
            json.dumps(
                {
                    "status": response.status,
                    "body": decoded,
                    "headers": {k.lower(): v for k, v in response.getheaders()},
                    "same_connection": sock is first_sock,
                }
            ),
            flush=True,
        )
    conn.close()


if __name__ == "__main__":
    main()
