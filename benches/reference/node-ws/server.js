// Reference chat server for scripts/bench.sh --compare: every message a client sends goes
// to every other client. This is the broadcast example from ws's README ("client
// broadcast"), with ws's defaults (no permessage-deflate on the server).
//
// Usage: node server.js --listen 127.0.0.1:PORT
// scripts/bench.sh installs ws into a cache directory and points NODE_PATH at it.
'use strict';

const { WebSocketServer, WebSocket } = require('ws');

let listen = '127.0.0.1:8080';
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--listen' && i + 1 < args.length) {
    listen = args[++i];
  } else {
    console.error(`unknown argument '${args[i]}'\nusage: node server.js --listen HOST:PORT`);
    process.exit(2);
  }
}
const colon = listen.lastIndexOf(':');
const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
const port = Number(listen.slice(colon + 1));

const wss = new WebSocketServer({ host, port, backlog: 1024 });

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    }
  });
});

wss.on('listening', () => {
  console.error(`listening on ws://${listen} (ws ${require('ws/package.json').version})`);
});
wss.on('error', (e) => {
  console.error(`cannot listen on ${listen}: ${e.message}`);
  process.exit(1);
});
