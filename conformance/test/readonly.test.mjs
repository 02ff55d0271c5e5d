// A read-only token (gateway flag --read-only-token) used through the SDK.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Redis, errors } from "@upstash/redis";
import { useStack, uniq, rejection, rawRequest } from "./harness.mjs";

const RO_TOKEN = randomBytes(18).toString("base64url");
const ctx = useStack({ before, after }, { extraArgs: ["--read-only-token", RO_TOKEN] });

const ro = (opts = {}) => new Redis({ url: ctx.stack.url, token: RO_TOKEN, ...opts });

test("reads work with the read-only token", async (t) => {
  if (ctx.stack.external) return t.skip("external gateway: no read-only token configured");
  const k = uniq("ro");
  const h = uniq("roh");
  const z = uniq("roz");
  await ctx.redis.set(k, { hello: "ro" });
  await ctx.redis.hset(h, { a: 1 });
  await ctx.redis.zadd(z, { score: 1, member: "m" });
  const r = ro();
  const [get, hgetall, zrange, exists, ttl, strlen, mget] = await Promise.all([
    r.get(k),
    r.hgetall(h),
    r.zrange(z, 0, -1, { withScores: true }),
    r.exists(k, h, uniq("none")),
    r.ttl(k),
    r.strlen(k),
    r.mget(k, h + ":none"),
  ]);
  assert.deepEqual(get, { hello: "ro" });
  assert.deepEqual(hgetall, { a: 1 });
  assert.deepEqual(zrange, ["m", 1]);
  assert.equal(exists, 2);
  assert.equal(ttl, -1);
  assert.equal(strlen, JSON.stringify({ hello: "ro" }).length);
  assert.deepEqual(mget, [{ hello: "ro" }, null]);
  assert.deepEqual(await r.evalRo("return redis.call('GET', KEYS[1])", [k], []), { hello: "ro" });
});

test("writes are refused with NOPERM and change nothing", async (t) => {
  if (ctx.stack.external) return t.skip("external gateway");
  const k = uniq("row");
  await ctx.redis.set(k, "orig");
  const r = ro();
  for (const [name, call] of [
    ["set", () => r.set(k, "changed")],
    ["del", () => r.del(k)],
    ["incr", () => r.incr(uniq("c"))],
    ["expire", () => r.expire(k, 10)],
    ["eval", () => r.eval("return redis.call('SET', KEYS[1], 'x')", [k], [])],
    ["flushdb", () => r.flushdb()],
  ]) {
    const err = await rejection(call());
    assert.ok(err instanceof errors.UpstashError, name);
    assert.match(err.message, /NOPERM/, `${name}: ${err.message}`);
  }
  assert.equal(await ctx.redis.get(k), "orig");
  assert.equal(await ctx.redis.ttl(k), -1);
});

test("keyspace walks (KEYS, SCAN) are refused with NOPERM", async (t) => {
  if (ctx.stack.external) return t.skip("external gateway");
  const r = ro();
  assert.match((await rejection(r.keys("*"))).message, /NOPERM/);
  assert.match((await rejection(r.scan(0))).message, /NOPERM/);
});

test("in a pipeline a refused write is an error entry; in a transaction it discards the whole", async (t) => {
  if (ctx.stack.external) return t.skip("external gateway");
  const k = uniq("rop");
  await ctx.redis.set(k, "v");
  const r = ro();
  const res = await r.pipeline().get(k).set(k, "nope").strlen(k).exec({ keepErrors: true });
  assert.deepEqual(res[0], { error: undefined, result: "v" });
  assert.match(res[1].error, /^NOPERM/);
  assert.deepEqual(res[2], { error: undefined, result: 1 });

  const raw = await rawRequest({ url: ctx.stack.url, token: RO_TOKEN }, "/multi-exec", [["GET", k], ["SET", k, "x"]]);
  assert.equal(raw.status, 400);
  assert.match(raw.json.error, /NOPERM/);
  const err = await rejection(r.multi().get(k).set(k, "x").exec());
  assert.match(err.message, /NOPERM/);
  assert.equal(await ctx.redis.get(k), "v");
});
