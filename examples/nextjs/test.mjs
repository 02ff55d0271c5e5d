// Drives the built app (`next build` first; test.sh does both) against a real gateway in front
// of a real redis-server, all on loopback, started here and killed at exit:
//   - /api/limited (@upstash/ratelimit, 5 per 60 s): 5 requests pass, then 429;
//   - /api/counter/node and /api/counter/edge (INCR through @upstash/redis): 30 concurrent
//     requests each get 30 distinct counts 1…30, and the key then holds exactly 30.
// Every wait has a deadline. Environment: REDISGATE_BIN (a built gateway; default: go build),
// REDIS_SERVER (default: redis-server from PATH), NEXTJS_VERBOSE=1 (echo the children's logs).
import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test, after } from "node:test";
import assert from "node:assert/strict";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const verbose = process.env.NEXTJS_VERBOSE === "1";
const children = new Set();
const tmp = mkdtempSync(path.join(os.tmpdir(), "redisgate-nextjs-"));

function killAll() {
  for (const c of children) c.kill("SIGKILL");
  children.clear();
  rmSync(tmp, { recursive: true, force: true });
}
process.once("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"]) process.once(sig, () => process.exit(130));
after(killAll);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// start runs cmd and waits, up to timeoutMs, for ready() to resolve true.
async function start(name, cmd, args, opts, ready, timeoutMs) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  children.add(child);
  let log = "";
  const keep = (b) => {
    log = (log + b).slice(-8000);
    if (verbose) process.stderr.write(`[${name}] ${b}`);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let exited = null;
  child.once("exit", (code, signal) => {
    exited = { code, signal };
    children.delete(child);
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) throw new Error(`${name} exited (${JSON.stringify(exited)}):\n${log}`);
    if (await ready().catch(() => false)) return child;
    if (Date.now() > deadline) throw new Error(`${name} not ready within ${timeoutMs} ms:\n${log}`);
    await sleep(100);
  }
}

const redisPort = await freePort();
const gatewayPort = await freePort();
const appPort = await freePort();
const token = randomBytes(18).toString("base64url");
const gateway = `http://127.0.0.1:${gatewayPort}`;
const app = `http://127.0.0.1:${appPort}`;

let bin = process.env.REDISGATE_BIN;
if (!bin) {
  bin = path.join(tmp, "redisgate");
  execFileSync("go", ["build", "-o", bin, "./cmd/redisgate"], { cwd: root, stdio: "inherit" });
}

// cmd sends one command to the gateway as the REST API's JSON array and returns its result.
async function cmd(...args) {
  const res = await fetch(gateway, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
    body: JSON.stringify(args),
    signal: AbortSignal.timeout(5000),
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`${args[0]}: ${res.status} ${JSON.stringify(body)}`);
  return body.result;
}

await start("redis", process.env.REDIS_SERVER ?? "redis-server",
  ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
  {}, () => new Promise((resolve) => {
    const s = net.connect(redisPort, "127.0.0.1", () => { s.destroy(); resolve(true); });
    s.on("error", () => resolve(false));
  }), 10_000);
await start("redisgate", bin,
  ["--listen", `127.0.0.1:${gatewayPort}`, "--admin-listen=", "--upstream", `redis://127.0.0.1:${redisPort}`, "--token", token],
  {}, async () => (await cmd("PING")) === "PONG", 20_000);
await start("next", process.execPath, [path.join(here, "node_modules/next/dist/bin/next"), "start", "-H", "127.0.0.1", "-p", String(appPort)], {
  cwd: here,
  env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", UPSTASH_REDIS_REST_URL: gateway, UPSTASH_REDIS_REST_TOKEN: token },
}, async () => (await fetch(app, { signal: AbortSignal.timeout(2000) })).status === 200, 30_000);

test("the rate-limited route lets 5 requests through, then answers 429", async () => {
  // The sliding window weighs the previous minute: start well inside a minute, so that the
  // 7 requests do not straddle two windows.
  if (Date.now() % 60_000 > 50_000) await sleep(60_000 - (Date.now() % 60_000) + 100);
  const client = `test-${randomBytes(6).toString("hex")}`;
  const statuses = [];
  for (let i = 0; i < 7; i++) {
    const res = await fetch(`${app}/api/limited`, { headers: { "X-Forwarded-For": client }, signal: AbortSignal.timeout(10_000) });
    const body = await res.json();
    statuses.push(res.status);
    assert.equal(res.headers.get("x-ratelimit-limit"), "5");
    if (res.status === 200) assert.equal(body.remaining, 4 - i);
    else assert.deepEqual(body, { error: "too many requests" });
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
  // Another client has its own allowance.
  const other = await fetch(`${app}/api/limited`, { headers: { "X-Forwarded-For": client + "-2" } });
  assert.equal(other.status, 200);
});

for (const runtime of ["node", "edge"]) {
  test(`the ${runtime} counter counts 30 concurrent requests exactly`, async () => {
    await cmd("DEL", `counter:${runtime}`);
    const answers = await Promise.all(Array.from({ length: 30 }, async () => {
      const res = await fetch(`${app}/api/counter/${runtime}`, { method: "POST", signal: AbortSignal.timeout(20_000) });
      assert.equal(res.status, 200);
      return res.json();
    }));
    assert.deepEqual(answers.map((a) => a.count).sort((a, b) => a - b), Array.from({ length: 30 }, (_, i) => i + 1));
    assert.ok(answers.every((a) => a.runtime === (runtime === "node" ? "nodejs" : "edge")), JSON.stringify(answers[0]));
    assert.equal(await cmd("GET", `counter:${runtime}`), "30");
  });
}
