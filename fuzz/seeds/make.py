#!/usr/bin/env python3
"""Write the seed corpus (fuzz/corpus/TARGET/NAME): a few small inputs per target that
reach deep quickly, including every input named in issue 15. Run from anywhere:
python3 fuzz/seeds/make.py. The files are committed; rerun after changing this."""
import base64
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def upgrade(target=b"/chat", extra=b""):
    return (b"GET " + target + b" HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13\r\n"
            + extra + b"\r\n")


def frame(op, payload, fin=True, rsv=0, key=b"\x37\xfa\x21\x3d"):
    b0 = (0x80 if fin else 0) | rsv << 4 | op
    n = len(payload)
    if n < 126:
        head = bytes([b0, 0x80 | n])
    elif n < 65536:
        head = bytes([b0, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


HELLO_DEFLATE = bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
SMUGGLE = upgrade(b"/", b"Content-Length: 14\r\n") + frame(1, b"smuggled")[:14]

seeds = {
    "head": {
        "rfc": b"\x00\x00" + upgrade(extra=b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"),
        "smuggle": b"\x00\x00" + SMUGGLE,
        "absolute": b"\x00\x03\x01\x07\x40" + upgrade(b"ws://127.0.0.1:9/room/x?t=1"),
        "quoted-comma": b"\x00\x00" + upgrade(extra=b'Sec-WebSocket-Extensions: foo; bar="a,permessage-deflate,b"\r\n'),
        "deflate-offer": b"\x00\x00" + upgrade(extra=b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=\"10\"\r\n"),
        "healthz": b"\x00\x01\x01GET http://h/x/../healthz?v HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
        "chunked": b"\x00\x00POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "limit": b"\x80\x02\x40\x01GET /" + b"a" * 230 + b" HTTP/1.1\r\nHost: h\r\n\r\n",
        "options": b"\x00\x00OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    },
    "frames": {
        "text": b"\x00\x00" + frame(1, b"Hello") + frame(8, b"\x03\xe8bye"),
        "fragments": b"\x00\x02\x03\x05" + frame(1, "h€l".encode(), fin=False) + frame(9, b"p") + frame(0, "lo wörld".encode()),
        "deflate": b"\x01\x00" + frame(1, HELLO_DEFLATE, rsv=4) + frame(2, HELLO_DEFLATE[:3], fin=False, rsv=4) + frame(0, HELLO_DEFLATE[3:]),
        "bad-deflate": b"\x01\x00" + frame(1, b"\x24\x0b", rsv=4),
        "limit": b"\x05\x01\x07" + frame(2, b"x" * 10, fin=False) + frame(0, b"y" * 10),
        "bad-utf8": b"\x00\x01\x01" + frame(1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"),
        "long": b"\x00\x00" + frame(2, bytes(range(256)) * 2),
    },
    "deflate": {
        "hello": b"\x00\x00" + HELLO_DEFLATE,
        "issue": b"\x00\x00\x24\x0b",
        "bfinal": b"\x00\x00\xf3\x48\xcd\xc9\xc9\x07\x00\x00",
        "stored": b"\x00\x00\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00",
        "two-blocks": b"\x00\x00\xf2\x48\x05\x00\x00\x00\xff\xff\xca\xc9\xc9\x07\x00",
        "truncated-stored": b"\x00\xa0\x00\xed\x00\x12\xff" + b"\x00" * 227,
        "offers": b'\x01permessage-deflate; client_max_window_bits\nfoo; bar="a,permessage-deflate,b", permessage-deflate; server_max_window_bits="9"',
    },
    "response": {
        "ok": b"\x40\x00HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + ACCEPT + b"\r\nSec-WebSocket-Protocol: v2\r\n\r\n\x81\x00",
        "forbidden": b"\x10\x01\x03HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
    },
    "roundtrip": {
        "small": b"\x03\x02\x11\x22\x01\x02hello, fragmented world",
        "empty": b"\x00\x00\x00\x00",
    },
    "api": {
        "publish": b"\x00" + b'{"rooms":["a","b"],"users":["u"],"data":{"x":[1,2]}}',
        "publish-binary": b"\x00" + b'{"room":"a","binary":"aGVsbG8="}',
        "disconnect": b"\x00" + b'{"user":"u"}',
        "route": b"\x00/api/rooms/a%2Fb/publish?x=1",
        "token-query": b"\x01token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln",
        "token-header": b"\x01Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.",
        "subscribe": b"\x02" + b'{"event":"pusher:subscribe","data":{"channel":"presence-x","auth":"key:00","channel_data":"{\\"user_id\\":1}"}}',
        "client-event": b"\x02" + b'{"event":"client-typing","channel":"private-x","data":{"a":1}}',
        "events": b"\x03\x00" + b'{"name":"e","data":"{}","channels":["a","private-b"],"socket_id":"1.2"}',
        "batch": b"\x03\x01" + b'{"batch":[{"name":"e","channel":"a","data":"x"}]}',
        "channels": b"\x03\x02user_count,subscription_count",
    },
    "server": {
        "frames": b"\x01" + frame(1, b"Hello") + frame(9, b"p") + frame(1, HELLO_DEFLATE, rsv=4) + frame(8, b"\x03\xe8"),
        "bad-deflate": b"\x01" + frame(1, b"\x24\x0b", rsv=4),
        "smuggle": b"\x00" + SMUGGLE,
        "http": b"\x00GET http://h/healthz HTTP/1.1\r\nHost: h\r\n\r\n",
        "garbage": b"\x00\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        # The input the CI's fuzz run of 4543d11 stopped on (the harness's read was
        # interrupted by libFuzzer's SIGALRM, not the server's fault): HTTP/0.1, bytes over
        # 0x7f in the head, a broken header and a second request behind it.
        "ci-2026-12-01": base64.b64decode(
            "AEdFVCAvIEhUVFAvMC4xDQpIb3N0OiBzZXJ2ZXIuZXhhbelsZS5jb20NClVwZ3JhIHdkZTplYm9zc2tl"
            "dA0KQ29ubmVjdGlvbjogVXAgAEdFVCBodHSKxS9mdXrQ0JdsSHRoeiBILjEoDcEKSG9zSFRUUC8x////"
            "/////////////////////////////////////////////////////////y4xVFRQLzAuMSgNwQo="
        ),
    },
}

for target, files in seeds.items():
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
print("wrote", sum(len(f) for f in seeds.values()), "seeds under", os.path.normpath(ROOT))
