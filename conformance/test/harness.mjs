// Test harness for the redisgate SDK conformance suite.
//
// Starts a private redis-server and a redisgate in front of it, and hands the
// tests a URL + token. Every wait has a deadline so that a hang fails the run
// instead of stalling it.
//
// Environment knobs (all optional):
//   REDISGATE_BIN      use this gateway binary instead of `go build ./cmd/redisgate`
//   REDIS_SERVER       redis-server binary (default: from PATH, else /usr/bin/redis-server)
//   REDISGATE_URL + REDISGATE_TOKEN
//                      do not start anything; run against this endpoint
//   CONFORMANCE_VERBOSE=1  echo gateway / redis logs to stderr
//   REDISGATE_LAYOUT   shared | replicated | cluster (see README); with cluster,
//                      REDISGATE_CLUSTER_SEEDS names a running cluster (cluster-run.mjs)

import { spawn, execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, rmSync, accessSync, writeFileSync, constants as fsConstants } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { Redis } from "@upstash/redis";

const here = path.dirname(fileURLToPath(import.meta.url));
export const CONFORMANCE_DIR = path.resolve(here, "..");
export const REPO_ROOT = path.resolve(CONFORMANCE_DIR, "..");

const VERBOSE = process.env.CONFORMANCE_VERBOSE === "1";

// Hard stop for a whole test file: nothing in this suite may take this long.
const FILE_WATCHDOG_MS = 150_000;
const watchdog = setTimeout(() => {
  console.error(`[harness] watchdog: test file still running after ${FILE_WATCHDOG_MS} ms, killing it`);
  killAll();
  process.exit(70);
}, FILE_WATCHDOG_MS);
watchdog.unref();

/** Turns off the per-file watchdog: for cluster-run.mjs, which runs the whole suite. */
export function stopWatchdog() {
  clearTimeout(watchdog);
}

const children = new Set();

function killAll() {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {}
  }
  children.clear();
}

process.once("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(sig, () => {
    killAll();
    process.exit(128 + (os.constants.signals[sig] ?? 1));
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1 (listen on 0, read the port, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function findRedisServer() {
  if (process.env.REDIS_SERVER) return process.env.REDIS_SERVER;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, "redis-server");
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {}
  }
  return "/usr/bin/redis-server";
}

/** Ring buffer of a child's output, for error messages. */
function capture(child, name) {
  const lines = [];
  const push = (chunk) => {
    const text = chunk.toString();
    if (VERBOSE) process.stderr.write(`[${name}] ${text}`);
    lines.push(text);
    while (lines.length > 200) lines.shift();
  };
  child.stdout?.on("data", push);
  child.stderr?.on("data", push);
  child.stdout?.unref?.();
  child.stderr?.unref?.();
  return () => lines.join("").slice(-8000);
}

function spawnChild(cmd, args, name, opts = {}) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  children.add(child);
  const logs = capture(child, name);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      children.delete(child);
      resolve(exited);
    });
    child.once("error", (err) => {
      exited = { code: null, signal: null, error: err };
      children.delete(child);
      resolve(exited);
    });
  });
  child.unref();
  const stop = async () => {
    if (exited) return;
    try {
      child.kill("SIGTERM");
    } catch {}
    const t = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {}
    }, 2000);
    await exitPromise;
    clearTimeout(t);
  };
  return { child, logs, stop, exitPromise, get exited() { return exited; } };
}

function run(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024, ...opts }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n${stdout}\n${stderr}`;
        reject(err);
      } else resolve({ stdout, stderr });
    });
  });
}

let buildPromise = null;

/**
 * Build the gateway once per process into a stable temp dir (keyed by the repo
 * path) so that every test file after the first reuses Go's build cache.
 */
export function buildGateway() {
  if (process.env.REDISGATE_BIN) return Promise.resolve(process.env.REDISGATE_BIN);
  if (!buildPromise) {
    buildPromise = (async () => {
      const key = createHash("sha1").update(REPO_ROOT).digest("hex").slice(0, 12);
      const dir = path.join(os.tmpdir(), `redisgate-conformance-${key}`);
      mkdirSync(dir, { recursive: true });
      // Build into a per-process file and rename, so parallel runs never see a
      // half-written binary.
      const out = path.join(dir, `redisgate-${process.pid}`);
      const t0 = Date.now();
      await run("go", ["build", "-o", out, "./cmd/redisgate"], {
        cwd: REPO_ROOT,
        timeout: 170_000,
        env: { ...process.env, GOFLAGS: process.env.GOFLAGS ?? "" },
      });
      if (VERBOSE) console.error(`[harness] go build took ${Date.now() - t0} ms`);
      process.once("exit", () => {
        try {
          rmSync(out, { force: true });
        } catch {}
      });
      return out;
    })();
  }
  return buildPromise;
}

/** Start a throwaway redis-server on a free port. */
export async function startRedis({ port: wantPort } = {}) {
  const bin = findRedisServer();
  const port = wantPort ?? (await freePort());
  const proc = spawnChild(
    bin,
    [
      "--port", String(port),
      "--bind", "127.0.0.1",
      "--save", "",
      "--appendonly", "no",
      "--daemonize", "no",
      "--protected-mode", "no",
      "--loglevel", "warning",
      "--dir", os.tmpdir(),
      "--dbfilename", `conformance-${process.pid}-${port}.rdb`,
    ],
    "redis",
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exited) throw new Error(`redis-server exited early (${JSON.stringify(proc.exited)}):\n${proc.logs()}`);
    if (await redisPing(port)) break;
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`redis-server did not answer PING on ${port} within 10 s:\n${proc.logs()}`);
    }
    await sleep(50);
  }
  return { port, url: `redis://127.0.0.1:${port}`, stop: proc.stop, logs: proc.logs };
}

function redisPing(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: "127.0.0.1" });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on("error", () => done(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => done(d.toString().startsWith("+PONG")));
  });
}

/**
 * Send one inline command to the redis-server on port and resolve with what it answered
 * within 500 ms, once `done(text)` holds (or whatever arrived by then).
 */
function redisAsk(port, line, done = () => true) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: "127.0.0.1" });
    let text = "";
    const finish = () => {
      sock.destroy();
      resolve(text);
    };
    sock.setTimeout(500, finish);
    sock.on("error", finish);
    sock.on("connect", () => sock.write(line + "\r\n"));
    sock.on("data", (d) => {
      text += d.toString();
      if (done(text)) finish();
    });
  });
}

/**
 * REDISGATE_LAYOUT=replicated: start a redis-server replicating the one on leaderPort and
 * wait for its link to be up. Returns it (stop it with the stack).
 */
async function startReplica(leaderPort) {
  const replica = await startRedis();
  await redisAsk(replica.port, `REPLICAOF 127.0.0.1 ${leaderPort}`);
  const deadline = Date.now() + 10_000;
  while (!(await redisAsk(replica.port, "INFO replication", (t) => t.includes("master_link_status:up"))).includes("master_link_status:up")) {
    if (Date.now() > deadline) {
      await replica.stop();
      throw new Error(`replica of ${leaderPort} not linked within 10 s:\n${replica.logs()}`);
    }
    await sleep(100);
  }
  return replica;
}

/** Send one command (RESP) to the redis-server on port; resolves with its raw reply text. */
function redisCmd(port, ...args) {
  const wire = `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join("");
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: "127.0.0.1" });
    let text = "";
    const finish = () => {
      sock.destroy();
      resolve(text);
    };
    sock.setTimeout(2000, finish);
    sock.on("error", finish);
    sock.on("connect", () => sock.write(wire));
    sock.on("data", (d) => {
      text += d.toString();
      const bulk = /^\$(\d+)\r\n/.exec(text);
      if (bulk ? text.length >= bulk[0].length + Number(bulk[1]) + 2 : text.endsWith("\r\n")) finish();
    });
  });
}

/** The payload of a bulk reply's text ("" for anything else). */
const bulkText = (reply) => (/^\$\d+\r\n/.test(reply) ? reply.slice(reply.indexOf("\r\n") + 2, -2) : "");

const CLUSTER_PRIMARIES = 3;

/**
 * REDISGATE_LAYOUT=cluster: a Redis Cluster of 3 primaries with a replica each
 * (cluster-node-timeout 1 s, cluster-require-full-coverage no), slots split evenly. Returns
 * { seeds, ports, stop, kill, restart, logs }: kill() kills every node, restart() starts them
 * again on the same ports from their nodes.conf (empty: nothing is saved).
 */
export async function startCluster() {
  const bin = findRedisServer();
  const dir = path.join(os.tmpdir(), `redisgate-cluster-${process.pid}-${randomBytes(4).toString("hex")}`);
  mkdirSync(dir, { recursive: true });
  const ports = [];
  for (let i = 0; i < CLUSTER_PRIMARIES * 2; i++) ports.push(await freePort());
  const procs = new Map();
  const startNode = async (port) => {
    const proc = spawnChild(bin, [
      "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
      "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning", "--dir", dir,
      "--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`,
      "--cluster-node-timeout", "1000", "--cluster-require-full-coverage", "no",
    ], `redis-${port}`);
    procs.set(port, proc);
    const deadline = Date.now() + 10_000;
    while (!(await redisPing(port))) {
      if (proc.exited) throw new Error(`cluster node ${port} exited (${JSON.stringify(proc.exited)}):\n${proc.logs()}`);
      if (Date.now() > deadline) throw new Error(`cluster node ${port} did not answer PING within 10 s:\n${proc.logs()}`);
      await sleep(50);
    }
  };
  const waitFor = async (what, cond, ms = 30_000) => {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`cluster: ${what} not within ${ms} ms`);
      await sleep(100);
    }
  };
  const allOK = async () => {
    for (const p of ports) if (!bulkText(await redisCmd(p, "CLUSTER", "INFO")).includes("cluster_state:ok")) return false;
    return true;
  };
  const stopAll = async () => {
    await Promise.all([...procs.values()].map((p) => p.stop()));
  };
  try {
    await Promise.all(ports.map(startNode));
    for (let i = 0; i < ports.length; i++) await redisCmd(ports[i], "CLUSTER", "SET-CONFIG-EPOCH", String(i + 1));
    for (let i = 0; i < CLUSTER_PRIMARIES; i++) {
      const lo = Math.floor((i * 16384) / CLUSTER_PRIMARIES), hi = Math.floor(((i + 1) * 16384) / CLUSTER_PRIMARIES) - 1;
      await redisCmd(ports[i], "CLUSTER", "ADDSLOTSRANGE", String(lo), String(hi));
    }
    for (const p of ports.slice(1)) await redisCmd(ports[0], "CLUSTER", "MEET", "127.0.0.1", String(p));
    await waitFor("nodes meeting", async () => {
      for (const p of ports) if ((bulkText(await redisCmd(p, "CLUSTER", "NODES")).match(/connected/g) ?? []).length < ports.length) return false;
      return true;
    });
    for (let i = 0; i < CLUSTER_PRIMARIES; i++) {
      const id = bulkText(await redisCmd(ports[i], "CLUSTER", "MYID"));
      await waitFor("replica attached", async () => (await redisCmd(ports[CLUSTER_PRIMARIES + i], "CLUSTER", "REPLICATE", id)).startsWith("+OK"));
    }
    await waitFor("cluster state ok", allOK);
    await waitFor("replica links up", async () => {
      for (const p of ports.slice(CLUSTER_PRIMARIES)) if (!bulkText(await redisCmd(p, "INFO", "replication")).includes("master_link_status:up")) return false;
      return true;
    });
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    seeds: ports.slice(0, CLUSTER_PRIMARIES).map((p) => `127.0.0.1:${p}`).join(","),
    ports,
    logs: () => [...procs.entries()].map(([p, proc]) => `--- redis ${p} ---\n${proc.logs()}`).join("\n"),
    kill: stopAll,
    restart: async () => {
      await Promise.all(ports.map(startNode));
      await waitFor("cluster state ok after restart", allOK);
    },
    stop: async () => {
      await stopAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** POST / ["PING"] with the token; true on a 200. */
async function gatewayReady(url, token) {
  try {
    const res = await fetch(url + "/", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify(["PING"]),
      signal: AbortSignal.timeout(1000),
    });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Start a gateway in front of `redisUrl`. */
export async function startGateway({ redisUrl, token, extraArgs = [], clusterSeeds = null }) {
  const port = await freePort();
  // REDISGATE_EXTRA_ARGS (space-separated) runs the whole suite with more flags, e.g. --cache=true.
  const envArgs = (process.env.REDISGATE_EXTRA_ARGS ?? "").split(/\s+/).filter(Boolean);
  // Every client of the suite comes from 127.0.0.1, where in production the 20 "clients" of the
  // fan-out tests would be separate function instances: the per-IP connection cap is lifted.
  let args = ["--listen", `127.0.0.1:${port}`, "--upstream", redisUrl, "--token", token, "--max-conns-per-ip", "0", ...envArgs, ...extraArgs];
  if (process.env.REDISGATE_LAYOUT === "shared") args = sharedLayout(redisUrl, token, args);
  if (clusterSeeds) args = args.map((a, i) => (a === "--upstream" ? "--cluster" : args[i - 1] === "--upstream" ? clusterSeeds : a));
  const bin = await buildGateway();
  const proc = spawnChild(bin, args, "redisgate", { cwd: REPO_ROOT });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exited) throw new Error(`gateway exited early (${JSON.stringify(proc.exited)}):\n${proc.logs()}`);
    if (await gatewayReady(url, token)) break;
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`gateway did not answer POST / ["PING"] with 200 within 20 s:\n${proc.logs()}`);
    }
    await sleep(100);
  }
  return { url, port, stop: proc.stop, logs: proc.logs };
}

/**
 * REDISGATE_LAYOUT=shared: the suite's database is logical database 1 of its redis-server and a
 * neighbour database (another token) is logical database 2 of the same server, so the gateway
 * runs with the isolation of a shared server (namespaced channels, the commands refused there).
 * The single-database flags move into a config file.
 */
function sharedLayout(redisUrl, token, args) {
  const rest = [];
  let readOnly = null;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--upstream" || args[i] === "--token") i++;
    else if (args[i] === "--read-only-token") readOnly = args[++i];
    else rest.push(args[i]);
  }
  const dir = path.join(os.tmpdir(), `redisgate-shared-${process.pid}-${randomBytes(4).toString("hex")}`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "redisgate.yaml");
  const base = redisUrl.replace(/\/$/, "");
  writeFileSync(file, [
    "databases:",
    "  - name: suite",
    `    upstream: ${base}/1`,
    `    tokens: [ "${token}" ]`,
    ...(readOnly ? [`    read_only_tokens: [ "${readOnly}" ]`] : []),
    "  - name: neighbour",
    `    upstream: ${base}/2`,
    `    tokens: [ "${randomBytes(18).toString("base64url")}" ]`,
    "",
  ].join("\n"));
  return ["--config", file, ...rest];
}

/**
 * Start redis-server + gateway. Returns { url, token, redisUrl, stop, logs }.
 * stop() kills both (they are also killed when the process exits).
 */
export async function startStack(opts = {}) {
  if (process.env.REDISGATE_URL) {
    return {
      url: process.env.REDISGATE_URL.replace(/\/$/, ""),
      token: process.env.REDISGATE_TOKEN ?? "",
      redisUrl: null,
      external: true,
      stop: async () => {},
      logs: () => "",
    };
  }
  const token = opts.token ?? randomBytes(18).toString("base64url");
  if (process.env.REDISGATE_LAYOUT === "cluster") return startClusterStack(token, opts);
  const redis = await startRedis();
  let gw;
  let replica = null;
  try {
    let extraArgs = opts.extraArgs ?? [];
    if (process.env.REDISGATE_LAYOUT === "replicated") {
      // The suite's database is a leader and one replica, in strong mode: reads from the
      // leader, every write acknowledged by the replica before it is answered.
      replica = await startReplica(redis.port);
      extraArgs = ["--replica", replica.url, "--consistency", "strong", ...extraArgs];
    }
    gw = await startGateway({ redisUrl: redis.url, token, extraArgs });
  } catch (err) {
    await replica?.stop();
    await redis.stop();
    throw err;
  }
  let stopped = false;
  let current = redis;
  return {
    url: gw.url,
    token,
    redisUrl: redis.url,
    redisPort: redis.port,
    external: false,
    logs: () => `--- gateway ---\n${gw.logs()}\n--- redis ---\n${current.logs()}`,
    /** Kill the backend redis-server (the gateway keeps running). */
    stopRedis: async () => {
      await current.stop();
    },
    /** Start a fresh redis-server on the same port. */
    startRedis: async () => {
      current = await startRedis({ port: redis.port });
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await gw.stop();
      await replica?.stop();
      await current.stop();
    },
  };
}

/**
 * REDISGATE_LAYOUT=cluster: the suite's database is a Redis Cluster (3 primaries with a
 * replica each) served with --cluster and --consistency strong (every write acknowledged by its
 * shard's replica). The cluster is the one named by REDISGATE_CLUSTER_SEEDS (started once for
 * the whole run by cluster-run.mjs; flushed by useStack) or, without it, one of the file's own.
 * stopRedis/startRedis kill every node and start them again, empty, from their nodes.conf.
 */
async function startClusterStack(token, opts) {
  const shared = opts.privateBackend ? undefined : process.env.REDISGATE_CLUSTER_SEEDS;
  const cluster = shared ? null : await startCluster();
  const seeds = shared ?? cluster.seeds;
  let gw;
  try {
    const extraArgs = ["--consistency", "strong", ...(opts.extraArgs ?? [])];
    gw = await startGateway({ redisUrl: "cluster", token, extraArgs, clusterSeeds: seeds });
  } catch (err) {
    await cluster?.stop();
    throw err;
  }
  let stopped = false;
  return {
    url: gw.url,
    token,
    redisUrl: null,
    clusterSeeds: seeds,
    external: false,
    logs: () => `--- gateway ---\n${gw.logs()}\n${cluster?.logs() ?? ""}`,
    stopRedis: async () => {
      if (!cluster) throw new Error("the shared cluster of REDISGATE_CLUSTER_SEEDS cannot be stopped by one file");
      await cluster.kill();
    },
    startRedis: async () => {
      await cluster.restart();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await gw.stop();
      await cluster?.stop();
    },
  };
}

/** new Redis({url, token, ...}) for a stack. */
export function client(stack, opts = {}) {
  return new Redis({ url: stack.url, token: stack.token, ...opts });
}

/**
 * Per-file setup: start the stack (once) and flush the db. Use with
 * node:test's before/after:
 *
 *   const ctx = useStack();  // registers before()/after() hooks
 *   test("x", async () => { const redis = ctx.redis; ... })
 */
export function useStack(hooks, opts = {}) {
  const { before, after } = hooks;
  const ctx = { stack: null, redis: null };
  before(async () => {
    ctx.stack = await startStack(opts);
    ctx.redis = client(ctx.stack);
    const flushed = await ctx.redis.flushdb();
    if (flushed !== "OK") throw new Error(`flushdb answered ${JSON.stringify(flushed)}`);
  }, { timeout: 200_000 });
  after(async () => {
    await ctx.stack?.stop();
  }, { timeout: 10_000 });
  return ctx;
}

/** A unique key prefix for one test. */
let keySeq = 0;
export function uniq(name = "k") {
  return `${name}:${process.pid}:${Date.now().toString(36)}:${++keySeq}`;
}

/** The suite runs against a Redis Cluster (REDISGATE_LAYOUT=cluster). */
export const CLUSTER = process.env.REDISGATE_LAYOUT === "cluster";

/**
 * uniq(name), in the cluster layout with a hashtag shared by the whole file: the keys of a
 * test that runs multi-key commands Redis Cluster runs only within one slot (SINTER, RENAME,
 * MULTI over several keys…) are then in one slot, so the test still checks every answer.
 */
export function slotUniq(name = "k") {
  return CLUSTER ? `{slot:${process.pid}}${uniq(name)}` : uniq(name);
}

/** n fresh keys in n different slots (hashtags {a}, {b}, {c}, {d}: slots 15495, 3300, 7365, 11298). */
export function crossKeys(name, n) {
  return ["a", "b", "c", "d"].slice(0, n).map((tag) => `{${tag}}${uniq(name)}`);
}

/**
 * The documented exception of the cluster layout: command (an array, or a list of commands for
 * /multi-exec) over keys of several slots is answered as Redis Cluster answers it, 400 with
 * its CROSSSLOT error (in an EXECABORT for a transaction), and runs nothing.
 */
export async function assertCrossSlot(stack, command, pathname = "/") {
  const r = await rawRequest(stack, pathname, command);
  assert.equal(r.status, 400, `${pathname} ${JSON.stringify(command)}: ${r.status} ${r.text}`);
  const want = /CROSSSLOT Keys in request don't hash to the same slot/;
  assert.match(r.json?.error ?? "", pathname === "/" ? new RegExp("^" + want.source) : want);
}

/** Raw POST helper for wire-level checks. */
export async function rawRequest(stack, pathname, body, headers = {}, method = "POST") {
  const res = await fetch(stack.url + pathname, {
    method,
    headers: {
      Authorization: `Bearer ${stack.token}`,
      "Content-Type": "application/json",
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/**
 * A recording HTTP proxy in front of the gateway: every request the SDK makes
 * and every response it gets are kept in `exchanges`, so tests can assert what
 * actually crossed the wire.
 */
export async function startRecorder(targetUrl) {
  const http = await import("node:http");
  const exchanges = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const reqBody = Buffer.concat(chunks).toString("utf8");
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (["host", "connection", "content-length", "transfer-encoding", "keep-alive"].includes(k)) continue;
      headers[k] = v;
    }
    const entry = { method: req.method, path: req.url, reqHeaders: { ...req.headers }, reqBody };
    try {
      const upstream = await fetch(targetUrl + req.url, {
        method: req.method,
        headers,
        body: ["GET", "HEAD"].includes(req.method) ? undefined : reqBody,
        signal: AbortSignal.timeout(15_000),
      });
      const resBody = Buffer.from(await upstream.arrayBuffer());
      entry.status = upstream.status;
      entry.resHeaders = Object.fromEntries(upstream.headers.entries());
      entry.resBody = resBody.toString("utf8");
      exchanges.push(entry);
      const outHeaders = { ...entry.resHeaders };
      delete outHeaders["content-length"];
      delete outHeaders["transfer-encoding"];
      delete outHeaders["content-encoding"];
      delete outHeaders["connection"];
      delete outHeaders["keep-alive"];
      res.writeHead(upstream.status, outHeaders);
      res.end(resBody);
    } catch (err) {
      entry.status = 599;
      entry.error = String(err);
      exchanges.push(entry);
      res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: `recorder: ${err}` }));
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    clear: () => exchanges.splice(0, exchanges.length),
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** Assert that `promise` rejects and return the error. */
export async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected the promise to reject, but it resolved");
}

export { existsSync };
