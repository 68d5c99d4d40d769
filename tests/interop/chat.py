"""Two Python `websockets` clients chat through herald; used by scripts/interop.sh.

usage: chat.py URL [CA_FILE]   (a wss:// URL needs the CA file that signed the server)
"""
import asyncio
import ssl
import sys

import websockets


async def main(url, ca_file):
    context = None
    if url.startswith("wss://"):
        context = ssl.create_default_context(cafile=ca_file)
    async with websockets.connect(url, ssl=context) as a, websockets.connect(url, ssl=context) as b:
        await a.send("hello from python")
        got = await asyncio.wait_for(b.recv(), 10)
        assert got == "hello from python", got
        payload = bytes(range(256)) * 300
        await b.send(payload)
        got = await asyncio.wait_for(a.recv(), 10)
        assert got == payload, len(got)
        # The server offers permessage-deflate and websockets accepts it by default.
        ext = a.response.headers.get("Sec-WebSocket-Extensions", "")
        print("python: ok (%s, extensions: %s)" % (url.split(":")[0], ext or "none"))


asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
