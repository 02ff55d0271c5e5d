// Errors as the SDK surfaces them: Redis errors, auth failures, refused commands.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { Redis, errors } from "@upstash/redis";
import { useStack, uniq, client, rejection, startRecorder } from "./harness.mjs";

const ctx = useStack({ before, after });

describe("Redis errors", () => {
  test("WRONGTYPE via auto-pipeline rejects with an UpstashError", async () => {
    const { redis } = ctx;
    const k = uniq("wt");
    await redis.set(k, "string");
    const err = await rejection(redis.lpush(k, "x"));
    assert.ok(err instanceof Error);
    assert.ok(err instanceof errors.UpstashError);
    assert.equal(err.name, "UpstashError");
    assert.equal(err.message, "Command failed: WRONGTYPE Operation against a key holding the wrong kind of value");
    // the client keeps working afterwards
    assert.equal(await redis.get(k), "string");
  });

  test("WRONGTYPE via a single request (auto-pipelining off) rejects with the 400 body's error", async () => {
    const redis = client(ctx.stack, { enableAutoPipelining: false });
    const k = uniq("wt2");
    await redis.hset(k, { f: "v" });
    const err = await rejection(redis.get(k));
    assert.ok(err instanceof errors.UpstashError);
    assert.equal(err.message, `WRONGTYPE Operation against a key holding the wrong kind of value, command was: ["get","${k}"]`);
  });

  test("syntax / arity / unknown command errors keep Redis's text", async () => {
    const redis = client(ctx.stack, { enableAutoPipelining: false });
    const e1 = await rejection(redis.exec(["SET", "k"]));
    assert.match(e1.message, /^ERR wrong number of arguments for 'set' command/);
    const e2 = await rejection(redis.exec(["NOSUCHCOMMAND", "x"]));
    assert.match(e2.message, /^ERR unknown command/);
    const e3 = await rejection(redis.exec(["SET", "k", "v", "BOGUS"]));
    assert.match(e3.message, /^ERR syntax error/);
    const e4 = await rejection(redis.exec(["ZADD", uniq("z"), "notanumber", "m"]));
    assert.match(e4.message, /^ERR value is not a valid float/);
  });

  test("redis.exec runs a generic command and the name is case-insensitive", async () => {
    const redis = client(ctx.stack);
    const k = uniq("generic");
    assert.equal(await redis.exec(["set", k, "v"]), "OK");
    assert.equal(await redis.exec(["GeT", k]), "v");
    assert.equal(await redis.exec(["STRLEN", k]), 1);
    assert.deepEqual(await redis.exec(["MGET", k, uniq("none")]), ["v", null]);
  });
});

describe("authentication", () => {
  test("a wrong token rejects with WRONGPASS (auto-pipelined)", async () => {
    const bad = new Redis({ url: ctx.stack.url, token: "definitely-not-the-token" });
    const err = await rejection(bad.set(uniq("x"), "v"));
    assert.ok(err instanceof errors.UpstashError);
    assert.match(err.message, /^WRONGPASS invalid or missing auth token, command was: \[\["set",/);
  });

  test("a wrong token rejects with WRONGPASS (single request) and nothing is written", async () => {
    const rec = await startRecorder(ctx.stack.url);
    try {
      const bad = new Redis({ url: rec.url, token: "wrong", enableAutoPipelining: false });
      const k = uniq("x");
      const err = await rejection(bad.set(k, "v"));
      assert.match(err.message, /^WRONGPASS invalid or missing auth token, command was: \["set",/);
      assert.equal(rec.exchanges.length, 1, "401 is not retried");
      assert.equal(rec.exchanges[0].status, 401);
      assert.deepEqual(JSON.parse(rec.exchanges[0].resBody), { error: "WRONGPASS invalid or missing auth token" });
      assert.equal(await ctx.redis.exists(k), 0);
    } finally {
      await rec.stop();
    }
  });

  test("a wrong token fails every command of an auto-pipelined batch", async () => {
    const bad = new Redis({ url: ctx.stack.url, token: "wrong" });
    const settled = await Promise.allSettled([bad.set("a", 1), bad.incr("b"), bad.del("c")]);
    assert.deepEqual(settled.map((s) => s.status), ["rejected", "rejected", "rejected"]);
    for (const s of settled) assert.match(s.reason.message, /WRONGPASS/);
  });
});

describe("commands that cannot work over a stateless API are refused", () => {
  const redis = () => client(ctx.stack, { enableAutoPipelining: false });

  for (const cmd of [
    ["SELECT", "1"],
    ["MULTI"],
    ["EXEC"],
    ["DISCARD"],
    ["WATCH", "k"],
    ["UNWATCH"],
    ["AUTH", "x"],
    ["HELLO", "3"],
    ["CLIENT", "LIST"],
    ["RESET"],
    ["QUIT"],
    ["READONLY"],
    ["SUBSCRIBE", "ch"],
    ["PSUBSCRIBE", "p*"],
    ["MONITOR"],
  ]) {
    test(`${cmd.join(" ")} is refused`, async () => {
      const t0 = Date.now();
      const err = await rejection(redis().exec(cmd));
      assert.ok(err instanceof errors.UpstashError, String(err));
      assert.ok(err.message.length > 0);
      assert.ok(Date.now() - t0 < 5000, "refusal took too long");
    });
  }

  test("after a refused SELECT the data is still db 0's", async () => {
    const r = redis();
    const k = uniq("db0");
    await r.set(k, "here");
    await rejection(r.exec(["SELECT", "1"]));
    assert.equal(await r.get(k), "here");
    assert.equal(await ctx.redis.get(k), "here");
  });

  test("BLPOP is refused or answers within its (capped) timeout", async () => {
    const t0 = Date.now();
    const k = uniq("blpop");
    const r = await redis()
      .exec(["BLPOP", k, "1"])
      .then((v) => ({ v }))
      .catch((e) => ({ e }));
    const took = Date.now() - t0;
    assert.ok(took < 5000, `BLPOP took ${took} ms`);
    if (r.e) assert.ok(r.e.message.length > 0);
    else assert.equal(r.v, null);
  });
});
