// One library's compressed message read by the other's (see cross.py); used by
// scripts/interop.sh.
// usage: node cross.mjs send URL | node cross.mjs receive URL
import WebSocket from "ws";

const [mode, url] = process.argv.slice(2);
// The same text as cross.py's MESSAGE.
const words = [];
for (let i = 0; i < 40; i++) words.push(`lorem ipsum dolor sit amet ${i}`);
const MESSAGE = `{"text":"${words.join(" ")}"}`;

const timer = setTimeout(() => { console.error("node: timed out"); process.exit(1); }, 10000);
const ws = new WebSocket(url);
await new Promise((ok, fail) => { ws.on("open", ok); ws.on("error", fail); });
if (!String(ws.extensions).startsWith("permessage-deflate")) throw new Error("no deflate: " + ws.extensions);
if (mode === "send") {
  // Compress even this (ws compresses messages over its threshold of 1 KiB by default).
  ws.send(MESSAGE, { compress: true }, () => { ws.close(); clearTimeout(timer); });
} else {
  console.log("ready");
  ws.once("message", (data, isBinary) => {
    if (isBinary || data.toString() !== MESSAGE) throw new Error("bad message " + data.toString().slice(0, 80));
    console.log(`node: inflated python's message (${data.length} bytes)`);
    clearTimeout(timer);
    ws.close();
  });
}
