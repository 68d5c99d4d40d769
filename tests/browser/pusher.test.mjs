// pusher-js's browser build (served by the auth backend from tests/pusher/node_modules) in Debian's headless Chromium (playwright-core) against herald's
// Pusher endpoint: two pages connect, subscribe to a public, a private and a presence
// channel (authorized by tests/pusher/auth_server.py), see each other in the member list,
// whisper a client event, and receive an event the backend triggers through the HTTP API
// (signed here with Node's crypto, as the Pusher server SDKs sign).
//
//   HERALD_PORT=P AUTH_PORT=A node pusher.test.mjs
//
// Optional: APP_ID, APP_KEY, APP_SECRET [1, app-key, app-secret]; CHROMIUM
// [/usr/bin/chromium]; OUT_DIR for the screenshot [target/browser].
// Prints one PASS or FAIL line; exits 0 on pass, 1 on failure.

import { chromium } from "playwright-core";
import { createHash, createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";
import path from "node:path";

const PORT = Number(process.env.HERALD_PORT);
const AUTH_PORT = Number(process.env.AUTH_PORT);
const APP_ID = process.env.APP_ID || "1";
const KEY = process.env.APP_KEY || "app-key";
const SECRET = process.env.APP_SECRET || "app-secret";
const OUT_DIR = process.env.OUT_DIR || "target/browser";
const WAIT = 10_000;
const TOTAL = 60_000;

if (!PORT || !AUTH_PORT) {
  console.log("FAIL browser pusher test: HERALD_PORT and AUTH_PORT must be set");
  process.exit(1);
}
let step = "start";
const started = Date.now();
const ok = (what) => console.log(`  ok  ${what}  (${((Date.now() - started) / 1000).toFixed(1)}s)`);
const watchdog = setTimeout(() => {
  console.log(`FAIL browser pusher test: over ${TOTAL / 1000}s (at step: ${step})`);
  process.exit(1);
}, TOTAL);

// The page and pusher-js come from the auth backend (as a Laravel app serves its pages),
// so the authorization requests are same-origin.
const ORIGIN = `http://127.0.0.1:${AUTH_PORT}`;

const pages = [];

async function openClient(browser, user) {
  const page = await browser.newPage();
  pages.push(page);
  page.on("pageerror", (e) => console.log(`  page error (${user}): ${e}`));
  page.on("console", (m) => console.log(`  console (${user}): ${m.text()}`));
  await page.goto(`${ORIGIN}/`);
  await page.addScriptTag({ url: "/pusher.min.js" });
  await page.evaluate(
    ({ port, key, user }) => {
      window.events = [];
      const log = (e) => {
        window.events.push(e);
        document.getElementById("log").textContent += JSON.stringify(e) + "\n";
      };
      const pusher = new Pusher(key, {
        cluster: "local",
        wsHost: "127.0.0.1",
        wsPort: port,
        forceTLS: false,
        enabledTransports: ["ws"],
        disableStats: true,
        channelAuthorization: {
          endpoint: "/pusher/auth",
          transport: "ajax",
          params: { user_id: user, user_name: `User ${user}` },
        },
      });
      window.pusher = pusher;
      pusher.connection.bind("connected", () => log({ type: "connected", socket_id: pusher.connection.socket_id }));
      for (const name of ["news", "private-room", "presence-lobby"]) {
        const ch = pusher.subscribe(name);
        ch.bind("pusher:subscription_succeeded", (members) =>
          log({ type: "subscribed", channel: name, count: members && members.count }),
        );
        ch.bind("pusher:subscription_error", (e) => log({ type: "subscription_error", channel: name, e }));
        ch.bind_global((event, data) => {
          if (!event.startsWith("pusher")) log({ type: "event", channel: name, event, data });
        });
        if (name.startsWith("presence-")) {
          ch.bind("pusher:member_added", (m) => log({ type: "member_added", id: m.id }));
        }
      }
    },
    { port: PORT, key: KEY, user },
  );
  return page;
}

async function waitFor(page, what, pred) {
  step = what;
  await page.waitForFunction(pred, null, { timeout: WAIT });
  ok(what);
}

/** POST /apps/{id}/events signed as the Pusher server SDKs sign. */
async function trigger(channel, name, data) {
  const body = JSON.stringify({ name, channels: [channel], data: JSON.stringify(data) });
  const reqPath = `/apps/${APP_ID}/events`;
  const params = {
    auth_key: KEY,
    auth_timestamp: String(Math.floor(Date.now() / 1000)),
    auth_version: "1.0",
    body_md5: createHash("md5").update(body).digest("hex"),
  };
  const query = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join("&");
  const signature = createHmac("sha256", SECRET).update(`POST\n${reqPath}\n${query}`).digest("hex");
  const res = await fetch(`http://127.0.0.1:${PORT}${reqPath}?${query}&auth_signature=${signature}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body,
  });
  if (res.status !== 200) throw new Error(`trigger answered ${res.status}: ${await res.text()}`);
}

let browser;
try {
  step = "launch";
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  const a = await openClient(browser, "1");
  await waitFor(a, "page A subscribed to three channels", () =>
    window.events.filter((e) => e.type === "subscribed").length === 3,
  );
  const b = await openClient(browser, "2");
  await waitFor(b, "page B subscribed, with two members in presence-lobby", () =>
    window.events.some((e) => e.type === "subscribed" && e.channel === "presence-lobby" && e.count === 2),
  );
  await waitFor(a, "page A saw member 2 arrive", () =>
    window.events.some((e) => e.type === "member_added" && String(e.id) === "2"),
  );
  step = "client event";
  await a.evaluate(() => window.pusher.channel("private-room").trigger("client-wave", { from: "A" }));
  await waitFor(b, "page B got A's client event", () =>
    window.events.some((e) => e.type === "event" && e.event === "client-wave" && e.data.from === "A"),
  );
  step = "server event";
  await trigger("news", "headline", { text: "hello browsers" });
  for (const [page, name] of [[a, "A"], [b, "B"]]) {
    await waitFor(page, `page ${name} got the backend's event`, () =>
      window.events.some((e) => e.type === "event" && e.event === "headline" && e.data.text === "hello browsers"),
    );
  }
  const echoed = await a.evaluate(() => window.events.some((e) => e.event === "client-wave"));
  if (echoed) throw new Error("the client event came back to its sender");
  mkdirSync(OUT_DIR, { recursive: true });
  await b.screenshot({ path: path.join(OUT_DIR, "pusher.png") });
  console.log("PASS browser pusher test");
  clearTimeout(watchdog);
  await browser.close();
  process.exit(0);
} catch (e) {
  console.log(`FAIL browser pusher test at step "${step}": ${e.message}`);
  for (const [i, page] of pages.entries()) {
    const seen = await page.evaluate(() => JSON.stringify(window.events)).catch(() => "?");
    console.log(`  page ${i} saw: ${seen}`);
  }
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}
