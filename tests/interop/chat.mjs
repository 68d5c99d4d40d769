// Two Node `ws` clients chat through herald; used by scripts/interop.sh.
// usage: node chat.mjs URL
import WebSocket from "ws";

const url = process.argv[2];
const timer = setTimeout(() => { console.error("node: timed out"); process.exit(1); }, 10000);
const open = (ws) => new Promise((ok, fail) => { ws.on("open", ok); ws.on("error", fail); });
const next = (ws) => new Promise((ok) => ws.once("message", (data, isBinary) => ok({ data, isBinary })));

const a = new WebSocket(url);
const b = new WebSocket(url);
await Promise.all([open(a), open(b)]);
const got = next(b);
a.send("hello from node");
const m = await got;
if (m.isBinary || m.data.toString() !== "hello from node") throw new Error("bad text " + m.data);
const payload = Buffer.alloc(70000, 7);
const got2 = next(a);
b.send(payload);
const m2 = await got2;
if (!m2.isBinary || !payload.equals(m2.data)) throw new Error("bad binary");
console.log("node: ok (extensions: " + (a.extensions || "none") + ")");
clearTimeout(timer);
a.close(); b.close();
