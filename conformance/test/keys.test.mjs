// Generic key commands.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { useStack, uniq, rejection } from "./harness.mjs";

const ctx = useStack({ before, after });

test("del / exists / unlink / touch", async () => {
  const { redis } = ctx;
  const [a, b, c] = [uniq("a"), uniq("b"), uniq("c")];
  await redis.mset({ [a]: 1, [b]: 2, [c]: 3 });
  assert.equal(await redis.exists(a, b, uniq("none")), 2);
  assert.equal(await redis.exists(a, a), 2, "EXISTS counts repeated keys");
  assert.equal(await redis.touch(a, b, uniq("none")), 2);
  assert.equal(await redis.del(a, uniq("none")), 1);
  assert.equal(await redis.unlink(b, c), 2);
  assert.equal(await redis.exists(a, b, c), 0);
  assert.equal(await redis.del(a), 0);
});

test("expire / ttl / pttl / persist / pexpire / expireat", async () => {
  const { redis } = ctx;
  const k = uniq("exp");
  await redis.set(k, "v");
  assert.equal(await redis.ttl(k), -1);
  assert.equal(await redis.pttl(k), -1);
  assert.equal(await redis.ttl(uniq("none")), -2);
  assert.equal(await redis.pttl(uniq("none")), -2);
  assert.equal(await redis.expire(k, 100), 1);
  const ttl = await redis.ttl(k);
  assert.ok(ttl === 100 || ttl === 99, `ttl ${ttl}`);
  const pttl = await redis.pttl(k);
  assert.ok(pttl > 98_000 && pttl <= 100_000, `pttl ${pttl}`);
  // Redis 7 options
  assert.equal(await redis.expire(k, 50, "GT"), 0);
  assert.equal(await redis.expire(k, 200, "GT"), 1);
  assert.equal(await redis.expire(k, 300, "NX"), 0);
  assert.equal(await redis.persist(k), 1);
  assert.equal(await redis.persist(k), 0);
  assert.equal(await redis.ttl(k), -1);
  assert.equal(await redis.pexpire(k, 123_456), 1);
  const p2 = await redis.pttl(k);
  assert.ok(p2 > 120_000 && p2 <= 123_456, `pttl ${p2}`);
  assert.equal(await redis.expireat(k, Math.floor(Date.now() / 1000) + 1000), 1);
  const t2 = await redis.ttl(k);
  assert.ok(t2 > 990 && t2 <= 1000, `ttl ${t2}`);
  assert.equal(await redis.expire(uniq("none"), 10), 0);
});

test("type of every data type", async () => {
  const { redis } = ctx;
  const p = uniq("type");
  await redis.set(`${p}:s`, "v");
  await redis.rpush(`${p}:l`, "v");
  await redis.hset(`${p}:h`, { f: "v" });
  await redis.sadd(`${p}:set`, "v");
  await redis.zadd(`${p}:z`, { score: 1, member: "v" });
  await redis.xadd(`${p}:x`, "*", { f: "v" });
  assert.equal(await redis.type(`${p}:s`), "string");
  assert.equal(await redis.type(`${p}:l`), "list");
  assert.equal(await redis.type(`${p}:h`), "hash");
  assert.equal(await redis.type(`${p}:set`), "set");
  assert.equal(await redis.type(`${p}:z`), "zset");
  assert.equal(await redis.type(`${p}:x`), "stream");
  assert.equal(await redis.type(`${p}:none`), "none");
});

test("rename / renamenx / copy", async () => {
  const { redis } = ctx;
  const [a, b, c] = [uniq("ra"), uniq("rb"), uniq("rc")];
  await redis.set(a, "va");
  assert.equal(await redis.rename(a, b), "OK");
  assert.equal(await redis.get(b), "va");
  assert.equal(await redis.exists(a), 0);
  const err = await rejection(redis.rename(uniq("none"), c));
  assert.match(err.message, /ERR no such key/);
  await redis.set(c, "vc");
  assert.equal(await redis.renamenx(b, c), 0);
  assert.equal(await redis.renamenx(b, a), 1);
  assert.equal(await redis.copy(a, c), "NOT_COPIED");
  assert.equal(await redis.copy(a, c, { replace: true }), "COPIED");
  assert.equal(await redis.get(c), "va");
});

test("flushdb / dbsize / keys / scan / randomkey", async () => {
  const { redis } = ctx;
  assert.equal(await redis.flushdb(), "OK");
  assert.equal(await redis.dbsize(), 0);
  assert.equal(await redis.randomkey(), null);
  const names = [];
  for (let i = 0; i < 150; i++) names.push(`scan:${String(i).padStart(3, "0")}`);
  await redis.mset(Object.fromEntries(names.map((n) => [n, "x"])));
  await redis.hset("other:hash", { f: 1 });
  await redis.rpush("other:list", "a");
  assert.equal(await redis.dbsize(), 152);
  assert.deepEqual((await redis.keys("other:*")).sort(), ["other:hash", "other:list"]);
  assert.equal((await redis.keys("scan:*")).length, 150);
  assert.deepEqual(await redis.keys("nomatch:*"), []);

  const seen = new Set();
  let cursor = 0;
  let rounds = 0;
  do {
    const [next, keys] = await redis.scan(cursor, { match: "scan:*", count: 20 });
    assert.equal(typeof next, "string");
    for (const key of keys) seen.add(key);
    cursor = next;
  } while (String(cursor) !== "0" && ++rounds < 200);
  assert.equal(String(cursor), "0");
  assert.deepEqual([...seen].sort(), names);

  // TYPE filter and WITHTYPE
  const hashKeys = [];
  cursor = 0;
  rounds = 0;
  do {
    const [next, keys] = await redis.scan(cursor, { type: "hash", count: 1000 });
    hashKeys.push(...keys);
    cursor = next;
  } while (String(cursor) !== "0" && ++rounds < 200);
  assert.deepEqual(hashKeys, ["other:hash"]);

  // (the SDK's scan({withType: true}) sends WITHTYPE, an Upstash-only extension
  // that stock Redis answers with "ERR syntax error"; not tested here.)

  const rk = await redis.randomkey();
  assert.ok(rk === "other:hash" || rk === "other:list" || names.includes(rk), `randomkey ${rk}`);
  assert.equal(await redis.flushdb(), "OK");
  assert.equal(await redis.dbsize(), 0);
});

test("ping / echo / time", async () => {
  const { redis } = ctx;
  assert.equal(await redis.ping(), "PONG");
  // ping takes an array: ping("abc") would send PING "a"
  assert.equal(await redis.ping(["hello there"]), "hello there");
  assert.equal(await redis.echo("echo me"), "echo me");
  const [sec, usec] = await redis.time();
  assert.ok(Math.abs(sec - Date.now() / 1000) < 60, `time ${sec}`);
  assert.ok(usec >= 0 && usec < 1_000_000);
});
