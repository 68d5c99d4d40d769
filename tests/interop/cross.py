"""One library's compressed message read by the other's: with permessage-deflate, herald
sends a message that arrived compressed on as it came, so Node `ws` must inflate what
Python `websockets` compressed, and the other way round; used by scripts/interop.sh.

usage: cross.py send URL        send the test message, then close
       cross.py receive URL     print "ready", then check the first message and exit
"""
import asyncio
import sys

import websockets

# Compressible text (about 1 KiB of chat-like JSON), the same in cross.mjs.
MESSAGE = '{"text":"' + " ".join("lorem ipsum dolor sit amet %d" % i for i in range(40)) + '"}'


async def main(mode, url):
    async with websockets.connect(url) as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert ext.startswith("permessage-deflate"), ext
        if mode == "send":
            await ws.send(MESSAGE)
            return
        print("ready", flush=True)
        got = await asyncio.wait_for(ws.recv(), 10)
        assert got == MESSAGE, got[:80]
        print("python: inflated node's message (%d bytes)" % len(got))


asyncio.run(main(sys.argv[1], sys.argv[2]))
