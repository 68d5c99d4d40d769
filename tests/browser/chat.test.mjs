// Drives herald's chat page (GET /) in Debian's headless Chromium with playwright-core.
//
//   HERALD_URL=http://127.0.0.1:PORT/ node chat.test.mjs
//
// Optional environment:
//   HERALD_PID   the server's PID: the test stops it at the end and checks the page shows
//                that it is reconnecting;
//   HERALD_BIN   with HERALD_PID, the server binary: the test starts it again on the same
//                address (and stops it when done) and checks the page comes back online;
//   CHROMIUM     the browser [default: /usr/bin/chromium];
//   OUT_DIR      where the screenshots go [default: target/browser].
//
// Prints one PASS or FAIL line; exits 0 on pass, 1 on failure.

import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";

const BASE = process.env.HERALD_URL;
if (!BASE) {
  console.error("FAIL browser chat test: HERALD_URL is not set (e.g. http://127.0.0.1:8080/)");
  process.exit(1);
}
const base = new URL(BASE);
const SERVER_PID = process.env.HERALD_PID ? Number(process.env.HERALD_PID) : 0;
const SERVER_BIN = process.env.HERALD_BIN || "";
const OUT_DIR = process.env.OUT_DIR || "target/browser";
const WAIT = 10_000; // every wait's limit
const TOTAL = 50_000; // the whole test's limit

const started = Date.now();
let browser = null;
let restarted = null; // a server this test started
const problems = []; // page errors and requests that left the server
let step = "start";
const ok = (what) => console.log(`  ok  ${what}  (${((Date.now() - started) / 1000).toFixed(1)}s)`);

function check(cond, what) {
  if (!cond) throw new Error(what);
}

function cleanup() {
  if (restarted && restarted.exitCode === null) restarted.kill("SIGKILL");
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    console.log(`FAIL browser chat test: ${sig} (at step: ${step})`);
    cleanup();
    process.exit(1);
  });
}

const watchdog = setTimeout(() => {
  console.log(`FAIL browser chat test: over ${TOTAL / 1000}s (at step: ${step})`);
  cleanup();
  process.exit(1);
}, TOTAL);

async function openPage(context, hash = "") {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(m.text())) {
      problems.push(`console error: ${m.text()}`);
    }
  });
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.host !== base.host) problems.push(`request off the server: ${r.url()}`);
  });
  await page.goto(new URL("/" + hash, base).href);
  return page;
}

// Resolves once the old server has let go of its port (bounded poll).
async function portFree(host, port) {
  const until = Date.now() + WAIT;
  for (;;) {
    const free = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port, host, () => srv.close(() => resolve(true)));
    });
    if (free) return;
    if (Date.now() > until) throw new Error(`port ${port} still in use ${WAIT / 1000}s after SIGTERM`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const state = (page, s) => page.locator(`#status[data-state="${s}"]`).waitFor();
const onlineIs = (page, n) =>
  page.waitForFunction((n) => document.getElementById("online").textContent.trim() === `${n} online`, n, {
    timeout: WAIT,
  });
async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}
// The last message in the log whose text is exactly `text`, once it is there.
async function received(page, text) {
  const li = page.locator("#log li:not(.note)").filter({ has: page.locator(".text", { hasText: text }) }).last();
  await li.waitFor();
  return {
    from: (await li.locator(".from").textContent()).trim(),
    text: await li.locator(".text").textContent(),
    mine: await li.evaluate((el) => el.classList.contains("mine")),
    time: (await li.locator("time").textContent()).trim(),
  };
}

try {
  mkdirSync(OUT_DIR, { recursive: true });
  step = "launch chromium";
  // launch() gives the browser a fresh temporary profile (--user-data-dir) of its own and
  // removes it on close; Playwright refuses --user-data-dir in args.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    timeout: WAIT,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
    ],
  });
  ok(`chromium ${browser.version()}`);

  step = "two pages come online";
  const viewport = { width: 900, height: 640 };
  const ctxA = await browser.newContext({ viewport });
  const ctxB = await browser.newContext({ viewport });
  const a = await openPage(ctxA);
  const b = await openPage(ctxB);
  await Promise.all([state(a, "connected"), state(b, "connected")]);
  check((await a.locator("#status").textContent()).trim() === "connected", "status text is not 'connected'");
  ok("both pages connected");

  step = "online count 2";
  await Promise.any([onlineIs(a, 2), onlineIs(b, 2)]).catch(async () => {
    throw new Error(`online count never showed 2 (a: ${await a.textContent("#online")}, b: ${await b.textContent("#online")})`);
  });
  ok("online count shows 2");

  step = "nicks";
  const defaultNick = await a.inputValue("#nick");
  check(/^guest-\d{4}$/.test(defaultNick), `default nick looks wrong: ${defaultNick}`);
  await a.fill("#nick", "alice");
  await b.fill("#nick", "bob");
  ok(`nicks set (default was ${defaultNick})`);

  step = "a message from page one reaches page two";
  await say(a, "hello from alice");
  check((await a.inputValue("#text")) === "", "input not cleared after sending");
  const mineA = await received(a, "hello from alice");
  check(mineA.mine && mineA.from.startsWith("alice"), `own message not shown as own: ${JSON.stringify(mineA)}`);
  const gotB = await received(b, "hello from alice");
  check(gotB.from === "alice" && !gotB.mine, `page two shows ${JSON.stringify(gotB)}`);
  check(/\d/.test(gotB.time), `no time on the message: ${JSON.stringify(gotB)}`);
  ok("page one -> page two with nick and time");

  await say(b, "hi alice, bob here");
  check((await received(a, "hi alice, bob here")).from === "bob", "page two -> page one failed");
  ok("page two -> page one");

  step = "HTML is shown as text";
  const html = `<b>x</b> & <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>`;
  await say(a, html);
  const gotHtml = await received(b, "<b>x</b>");
  check(gotHtml.text === html, `HTML message altered: ${JSON.stringify(gotHtml.text)}`);
  check((await b.locator("#log b, #log img, #log script").count()) === 0, "HTML from a message was rendered");
  check((await b.evaluate(() => window.pwned)) === undefined, "script from a message ran");
  ok("HTML appears as literal text");

  step = "empty messages are not sent";
  const before = await a.locator("#log li:not(.note)").count();
  await say(a, "   ");
  check((await a.locator("#log li:not(.note)").count()) === before, "an empty message was sent");
  ok("empty message not sent");

  step = "plain text and wrong shapes show as from ?";
  // A raw client in page one's context (not through the page's own socket).
  await a.evaluate((url) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.onopen = () => {
      ws.send("just plain text");
      ws.send(JSON.stringify({ type: "chat", nick: 5, text: "wrong shape" }));
      ws.send(JSON.stringify({ type: "chat", nick: "mallory", text: "right shape" }));
      ws.close();
      resolve();
    };
    ws.onerror = () => reject(new Error("raw socket failed"));
  }), base.href.replace(/^http/, "ws"));
  check((await received(b, "just plain text")).from === "?", "plain text not shown from ?");
  const wrong = await received(b, "wrong shape");
  check(wrong.from === "?" && wrong.text.startsWith("{"), `wrong-shaped JSON shown as ${JSON.stringify(wrong)}`);
  check((await received(b, "right shape")).from === "mallory", "well-formed JSON from another client");
  ok("plain text and wrong-shaped JSON shown raw from ?");

  step = "screenshot";
  await b.screenshot({ path: path.join(OUT_DIR, "chat.png") });
  ok(`screenshot ${path.join(OUT_DIR, "chat.png")}`);

  step = "online count drops to 1 after page two closes";
  await ctxB.close();
  await onlineIs(a, 1).catch(async () => {
    throw new Error(`online count stayed at '${await a.textContent("#online")}' after page two closed`);
  });
  ok("online count drops to 1");

  step = "rooms from the hash and from the path are one room, isolated from the rest";
  const ctxC = await browser.newContext({ viewport });
  const c = await openPage(ctxC, "#lobby");
  const d = await openPage(ctxC, "room/lobby");
  await Promise.all([state(c, "connected"), state(d, "connected")]);
  check((await c.textContent("#room")).trim() === "#lobby", "room name not shown");
  check((await d.textContent("#room")).trim() === "#lobby", "room name from the path not shown");
  await Promise.all([onlineIs(c, 2), onlineIs(d, 2)]).catch(async () => {
    throw new Error(`lobby count is not 2 (c: ${await c.textContent("#online")}, d: ${await d.textContent("#online")})`);
  });
  check((await a.textContent("#online")).trim() === "1 online", "the default room's count includes the lobby");
  await say(c, "lobby only");
  check((await received(d, "lobby only")).from !== "?", "room message not delivered within the room");
  await say(a, "default room only");
  await received(a, "default room only");
  await say(c, "lobby second");
  await received(d, "lobby second");
  // One event loop serves every room: a leak would have arrived by now.
  check((await a.locator("#log .text", { hasText: "lobby" }).count()) === 0, "a lobby message reached the default room");
  check((await d.locator("#log .text", { hasText: "default room only" }).count()) === 0, "a default-room message reached the lobby");
  await ctxC.close();
  ok("#lobby and / are separate rooms");

  step = "phone layout";
  await a.setViewportSize({ width: 390, height: 844 });
  await a.locator("#form").waitFor();
  const layout = await a.evaluate(() => {
    const box = (id) => document.getElementById(id).getBoundingClientRect();
    return {
      scrollWidth: document.documentElement.scrollWidth,
      formBottom: box("form").bottom,
      innerHeight,
      sizes: ["nick", "text", "send"].map((id) => [id, Math.round(box(id).width), Math.round(box(id).height)]),
    };
  });
  check(layout.scrollWidth <= 390, `page scrolls sideways on a phone: ${layout.scrollWidth}px wide`);
  check(Math.abs(layout.formBottom - layout.innerHeight) < 1, `input is not at the bottom: ${JSON.stringify(layout)}`);
  for (const [id, w, h] of layout.sizes) check(w >= 44 && h >= 44, `#${id} is ${w}x${h}, under 44px`);
  await a.screenshot({ path: path.join(OUT_DIR, "chat-phone.png") });
  ok(`phone layout ok, screenshot ${path.join(OUT_DIR, "chat-phone.png")}`);

  check(problems.length === 0, problems.join("; "));

  if (SERVER_PID) {
    step = "server stops: page shows reconnecting";
    process.kill(SERVER_PID, "SIGTERM");
    await state(a, "reconnecting");
    const label = (await a.textContent("#status")).trim();
    check(/^reconnecting in \d+s$/.test(label), `reconnecting label: ${label}`);
    await a.screenshot({ path: path.join(OUT_DIR, "chat-reconnecting.png") });
    ok(`server stopped: '${label}', screenshot ${path.join(OUT_DIR, "chat-reconnecting.png")}`);
    if (SERVER_BIN) {
      step = "server restarts: page comes back online";
      await portFree(base.hostname, Number(base.port));
      restarted = spawn(SERVER_BIN, ["--listen", base.host], { stdio: ["ignore", "ignore", "inherit"] });
      await state(a, "connected");
      await onlineIs(a, 1);
      ok("server restarted: page back online, 1 online");
    }
  }

  check(problems.length === 0, problems.join("; "));
  console.log(`PASS browser chat test (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  process.exitCode = 0;
} catch (e) {
  console.log(`FAIL browser chat test at step '${step}': ${e.message.split("\n")[0]}`);
  if (problems.length) console.log(`  also: ${problems.join("; ")}`);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  if (browser) await browser.close().catch(() => {});
  cleanup();
}
