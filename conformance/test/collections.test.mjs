// Hashes, lists, sets and sorted sets.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { useStack, uniq, rejection, CLUSTER, slotUniq, crossKeys, assertCrossSlot } from "./harness.mjs";

const ctx = useStack({ before, after });

const sorted = (a) => [...a].sort((x, y) => String(x).localeCompare(String(y)));

describe("hashes", () => {
  test("hset / hget / hgetall with strings, numbers and JSON", async () => {
    const { redis } = ctx;
    const k = uniq("h");
    assert.equal(await redis.hset(k, { name: "gate", count: 2, meta: { a: [1, 2] } }), 3);
    assert.equal(await redis.hset(k, { name: "gate2", extra: "x" }), 1);
    assert.equal(await redis.hget(k, "name"), "gate2");
    assert.equal(await redis.hget(k, "count"), 2);
    assert.deepEqual(await redis.hget(k, "meta"), { a: [1, 2] });
    assert.equal(await redis.hget(k, "nope"), null);
    assert.equal(await redis.hget(uniq("none"), "f"), null);
    assert.deepEqual(await redis.hgetall(k), { name: "gate2", count: 2, meta: { a: [1, 2] }, extra: "x" });
    assert.equal(await redis.hgetall(uniq("none")), null);
  });

  test("hincrby / hincrbyfloat / hdel / hexists / hlen / hstrlen / hsetnx", async () => {
    const { redis } = ctx;
    const k = uniq("hn");
    assert.equal(await redis.hincrby(k, "n", 5), 5);
    assert.equal(await redis.hincrby(k, "n", -7), -2);
    assert.equal(await redis.hincrbyfloat(k, "f", 1.25), 1.25);
    assert.equal(await redis.hincrbyfloat(k, "f", 0.5), 1.75);
    assert.equal(await redis.hexists(k, "n"), 1);
    assert.equal(await redis.hexists(k, "zz"), 0);
    assert.equal(await redis.hlen(k), 2);
    assert.equal(await redis.hsetnx(k, "n", 100), 0);
    assert.equal(await redis.hsetnx(k, "s", "hello"), 1);
    assert.equal(await redis.hstrlen(k, "s"), 5);
    assert.equal(await redis.hdel(k, "n", "zz"), 1);
    assert.equal(await redis.hlen(k), 2);
    assert.equal(await redis.hdel(k, "f", "s"), 2);
    assert.equal(await redis.exists(k), 0);
  });

  test("hkeys / hvals / hmget / hmset", async () => {
    const { redis } = ctx;
    const k = uniq("hk");
    assert.equal(await redis.hmset(k, { a: "alpha", b: "beta", c: "3" }), "OK");
    assert.deepEqual(sorted(await redis.hkeys(k)), ["a", "b", "c"]);
    assert.deepEqual(sorted(await redis.hvals(k)), [3, "alpha", "beta"].sort((x, y) => String(x).localeCompare(String(y))));
    assert.deepEqual(await redis.hmget(k, "a", "c", "zz"), { a: "alpha", c: 3, zz: null });
    assert.equal(await redis.hmget(k, "x", "y"), null);
    assert.deepEqual(await redis.hkeys(uniq("none")), []);
  });

  test("hscan walks all fields (cursor, match, count)", async () => {
    const { redis } = ctx;
    const k = uniq("hs");
    const fields = {};
    // values over 64 bytes force a real hashtable, so HSCAN needs several rounds
    for (let i = 0; i < 300; i++) fields[`f${i}`] = `v${i}-`.padEnd(80, "x");
    assert.equal(await redis.hset(k, fields), 300);
    const seen = {};
    let cursor = 0;
    let rounds = 0;
    do {
      const [next, items] = await redis.hscan(k, cursor, { count: 50 });
      assert.equal(typeof next, "string", "the SDK returns the cursor as a string");
      assert.equal(items.length % 2, 0);
      for (let i = 0; i < items.length; i += 2) seen[items[i]] = items[i + 1];
      cursor = next;
      rounds++;
    } while (String(cursor) !== "0" && rounds < 100);
    assert.equal(String(cursor), "0");
    assert.ok(rounds > 1, "expected several hscan rounds");
    assert.deepEqual(seen, fields);

    const small = uniq("hs2");
    await redis.hset(small, { apple: 1, avocado: 2, banana: 3 });
    const [c2, matched] = await redis.hscan(small, 0, { match: "a*" });
    assert.equal(c2, "0");
    const obj = {};
    for (let i = 0; i < matched.length; i += 2) obj[matched[i]] = matched[i + 1];
    assert.deepEqual(obj, { apple: 1, avocado: 2 }); // values parsed to numbers
  });

  test("hrandfield", async () => {
    const { redis } = ctx;
    const k = uniq("hr");
    await redis.hset(k, { a: "1", b: "2" });
    const one = await redis.hrandfield(k);
    assert.ok(["a", "b"].includes(one));
    assert.deepEqual(sorted(await redis.hrandfield(k, 2)), ["a", "b"]);
    assert.deepEqual(await redis.hrandfield(k, 2, true), { a: 1, b: 2 });
  });
});

describe("lists", () => {
  test("lpush / rpush / lrange / llen", async () => {
    const { redis } = ctx;
    const k = uniq("l");
    assert.equal(await redis.rpush(k, "a", "b", "c"), 3);
    assert.equal(await redis.lpush(k, "z", "y"), 5);
    assert.deepEqual(await redis.lrange(k, 0, -1), ["y", "z", "a", "b", "c"]);
    assert.deepEqual(await redis.lrange(k, 1, 2), ["z", "a"]);
    assert.deepEqual(await redis.lrange(k, 10, 20), []);
    assert.equal(await redis.llen(k), 5);
    assert.deepEqual(await redis.lrange(uniq("none"), 0, -1), []);
    assert.equal(await redis.lpushx(uniq("none"), "x"), 0);
    assert.equal(await redis.rpushx(k, "d"), 6);
  });

  test("list elements go through JSON deserialisation", async () => {
    const { redis } = ctx;
    const k = uniq("lnum");
    await redis.rpush(k, "1", 2, "x", { o: 1 }, "true");
    assert.deepEqual(await redis.lrange(k, 0, -1), [1, 2, "x", { o: 1 }, true]);
  });

  test("lpop / rpop with and without count", async () => {
    const { redis } = ctx;
    const k = uniq("lp");
    await redis.rpush(k, "a", "b", "c", "d", "e");
    assert.equal(await redis.lpop(k), "a");
    assert.equal(await redis.rpop(k), "e");
    assert.deepEqual(await redis.lpop(k, 2), ["b", "c"]);
    assert.deepEqual(await redis.rpop(k, 5), ["d"]);
    assert.equal(await redis.lpop(k), null);
    assert.equal(await redis.rpop(k), null);
    assert.equal(await redis.lpop(k, 3), null);
  });

  test("lindex / lset / linsert / lrem / ltrim", async () => {
    const { redis } = ctx;
    const k = uniq("li");
    await redis.rpush(k, "a", "x", "b", "x", "c", "x");
    assert.equal(await redis.lindex(k, 0), "a");
    assert.equal(await redis.lindex(k, -1), "x");
    assert.equal(await redis.lindex(k, 99), null);
    assert.equal(await redis.lset(k, 0, "A"), "OK");
    const err = await rejection(redis.lset(k, 99, "nope"));
    assert.match(err.message, /ERR index out of range/);
    assert.equal(await redis.linsert(k, "before", "b", "pre-b"), 7);
    assert.equal(await redis.lrem(k, 2, "x"), 2);
    assert.deepEqual(await redis.lrange(k, 0, -1), ["A", "pre-b", "b", "c", "x"]);
    assert.equal(await redis.lrem(k, 0, "missing"), 0);
    assert.equal(await redis.ltrim(k, 1, -2), "OK");
    assert.deepEqual(await redis.lrange(k, 0, -1), ["pre-b", "b", "c"]);
  });

  test("lpos with rank / count / maxLen", async () => {
    const { redis } = ctx;
    const k = uniq("lpos");
    await redis.rpush(k, "a", "b", "c", "b", "d", "b");
    assert.equal(await redis.lpos(k, "b"), 1);
    assert.equal(await redis.lpos(k, "b", { rank: 2 }), 3);
    assert.equal(await redis.lpos(k, "b", { rank: -1 }), 5);
    assert.deepEqual(await redis.lpos(k, "b", { count: 0 }), [1, 3, 5]);
    assert.deepEqual(await redis.lpos(k, "b", { count: 2 }), [1, 3]);
    assert.deepEqual(await redis.lpos(k, "b", { count: 0, maxLen: 4 }), [1, 3]);
    assert.equal(await redis.lpos(k, "zz"), null);
    assert.deepEqual(await redis.lpos(k, "zz", { count: 0 }), []);
  });

  test("lmove", async () => {
    const { redis } = ctx;
    // Cluster exception: LMOVE between slots.
    if (CLUSTER) await assertCrossSlot(ctx.stack, ["LMOVE", ...crossKeys("lmx", 2), "LEFT", "RIGHT"]);
    const src = slotUniq("lmsrc");
    const dst = slotUniq("lmdst");
    await redis.rpush(src, "1a", "2b", "3c");
    assert.equal(await redis.lmove(src, dst, "left", "right"), "1a");
    assert.equal(await redis.lmove(src, dst, "right", "left"), "3c");
    assert.deepEqual(await redis.lrange(src, 0, -1), ["2b"]);
    assert.deepEqual(await redis.lrange(dst, 0, -1), ["3c", "1a"]);
    assert.equal(await redis.lmove(slotUniq("none"), dst, "left", "left"), null);
  });
});

describe("sets", () => {
  test("sadd / smembers / sismember / smismember / srem / scard", async () => {
    const { redis } = ctx;
    const k = uniq("s");
    assert.equal(await redis.sadd(k, "a", "b", "c"), 3);
    assert.equal(await redis.sadd(k, "a", "d"), 1);
    assert.deepEqual(sorted(await redis.smembers(k)), ["a", "b", "c", "d"]);
    assert.equal(await redis.sismember(k, "a"), 1);
    assert.equal(await redis.sismember(k, "zz"), 0);
    assert.deepEqual(await redis.smismember(k, ["a", "zz", "d"]), [1, 0, 1]);
    assert.equal(await redis.srem(k, "a", "zz"), 1);
    assert.equal(await redis.scard(k), 3);
    assert.equal(await redis.scard(uniq("none")), 0);
    assert.deepEqual(await redis.smembers(uniq("none")), []);
  });

  test("numeric members come back as numbers", async () => {
    const { redis } = ctx;
    const k = uniq("snum");
    await redis.sadd(k, 1, 2, "3");
    assert.deepEqual((await redis.smembers(k)).sort(), [1, 2, 3]);
  });

  test("sinter / sunion / sdiff and the *store variants", async () => {
    const { redis } = ctx;
    // Cluster exception: set operations and SMOVE over several slots.
    if (CLUSTER) {
      for (const cmd of ["SINTER", "SUNION", "SDIFF"]) await assertCrossSlot(ctx.stack, [cmd, ...crossKeys("sx", 2)]);
      for (const cmd of ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]) await assertCrossSlot(ctx.stack, [cmd, ...crossKeys("sx", 3)]);
      await assertCrossSlot(ctx.stack, ["SMOVE", ...crossKeys("sx", 2), "x"]);
    }
    const a = slotUniq("sa");
    const b = slotUniq("sb");
    await redis.sadd(a, "x", "y", "z");
    await redis.sadd(b, "y", "z", "w");
    assert.deepEqual(sorted(await redis.sinter(a, b)), ["y", "z"]);
    assert.deepEqual(sorted(await redis.sunion(a, b)), ["w", "x", "y", "z"]);
    assert.deepEqual(sorted(await redis.sdiff(a, b)), ["x"]);
    assert.deepEqual(sorted(await redis.sdiff(b, a)), ["w"]);
    const d = slotUniq("sd");
    assert.equal(await redis.sinterstore(d, a, b), 2);
    assert.equal(await redis.sunionstore(d, a, b), 4);
    assert.equal(await redis.sdiffstore(d, a, b), 1);
    assert.deepEqual(await redis.smembers(d), ["x"]);
    assert.equal(await redis.smove(a, b, "x"), 1);
    assert.equal(await redis.sismember(b, "x"), 1);
  });

  test("spop / srandmember", async () => {
    const { redis } = ctx;
    const k = uniq("sp");
    const members = ["m1", "m2", "m3", "m4", "m5"];
    await redis.sadd(k, ...members);
    const one = await redis.srandmember(k);
    assert.ok(members.includes(one));
    const three = await redis.srandmember(k, 3);
    assert.equal(three.length, 3);
    assert.equal(new Set(three).size, 3);
    for (const m of three) assert.ok(members.includes(m));
    const many = await redis.srandmember(k, -8); // negative: may repeat
    assert.equal(many.length, 8);
    for (const m of many) assert.ok(members.includes(m));
    assert.equal(await redis.scard(k), 5);

    const popped = await redis.spop(k);
    assert.ok(members.includes(popped));
    const two = await redis.spop(k, 2);
    assert.equal(two.length, 2);
    assert.equal(await redis.scard(k), 2);
    const rest = sorted(await redis.smembers(k));
    assert.deepEqual(sorted([popped, ...two, ...rest]), members);
    assert.deepEqual(sorted(await redis.spop(k, 10)), rest);
    assert.equal(await redis.spop(k), null);
    assert.equal(await redis.srandmember(k), null);
  });

  test("sscan", async () => {
    const { redis } = ctx;
    const k = uniq("ss");
    const members = Array.from({ length: 200 }, (_, i) => `m${i}-`.padEnd(80, "y"));
    await redis.sadd(k, ...members);
    const seen = new Set();
    let cursor = 0;
    let rounds = 0;
    do {
      const [next, items] = await redis.sscan(k, cursor, { count: 40 });
      items.forEach((m) => seen.add(m));
      cursor = next;
    } while (String(cursor) !== "0" && ++rounds < 100);
    assert.deepEqual(sorted([...seen]), sorted(members));
  });
});

describe("sorted sets", () => {
  test("zadd with options, zscore, zcard", async () => {
    const { redis } = ctx;
    const k = uniq("z");
    assert.equal(await redis.zadd(k, { score: 1, member: "a" }, { score: 2, member: "b" }, { score: 3, member: "c" }), 3);
    assert.equal(await redis.zscore(k, "a"), 1);
    // NX: only add new members
    assert.equal(await redis.zadd(k, { nx: true }, { score: 10, member: "a" }, { score: 4, member: "d" }), 1);
    assert.equal(await redis.zscore(k, "a"), 1);
    // XX + CH: only update, count changed
    assert.equal(await redis.zadd(k, { xx: true, ch: true }, { score: 5, member: "a" }, { score: 9, member: "new" }), 1);
    assert.equal(await redis.zscore(k, "a"), 5);
    assert.equal(await redis.zscore(k, "new"), null);
    // GT: only raise
    assert.equal(await redis.zadd(k, { gt: true, ch: true }, { score: 4, member: "a" }), 0);
    assert.equal(await redis.zadd(k, { gt: true, ch: true }, { score: 6, member: "a" }), 1);
    // LT: only lower
    assert.equal(await redis.zadd(k, { lt: true, ch: true }, { score: 7, member: "a" }), 0);
    // INCR returns the new score (a bulk string the SDK parses)
    assert.equal(await redis.zadd(k, { incr: true }, { score: 1.5, member: "a" }), 7.5);
    assert.equal(await redis.zscore(k, "a"), 7.5);
    assert.equal(await redis.zcard(k), 4);
    assert.equal(await redis.zscore(uniq("none"), "a"), null);
  });

  test("zrange plain / withScores / rev / byScore / limit / byLex", async () => {
    const { redis } = ctx;
    const k = uniq("zr");
    await redis.zadd(k, { score: 1, member: "one" }, { score: 2, member: "two" }, { score: 2.5, member: "twohalf" }, { score: 3, member: "three" });
    assert.deepEqual(await redis.zrange(k, 0, -1), ["one", "two", "twohalf", "three"]);
    assert.deepEqual(await redis.zrange(k, 0, 1, { withScores: true }), ["one", 1, "two", 2]);
    assert.deepEqual(await redis.zrange(k, 0, 1, { rev: true }), ["three", "twohalf"]);
    assert.deepEqual(await redis.zrange(k, 2, 3, { byScore: true }), ["two", "twohalf", "three"]);
    assert.deepEqual(await redis.zrange(k, "(2", "+inf", { byScore: true }), ["twohalf", "three"]);
    assert.deepEqual(await redis.zrange(k, "-inf", "+inf", { byScore: true, offset: 1, count: 2 }), ["two", "twohalf"]);
    assert.deepEqual(await redis.zrange(k, "+inf", 2, { byScore: true, rev: true, withScores: true }), ["three", 3, "twohalf", 2.5, "two", 2]);
    const lex = uniq("zlex");
    await redis.zadd(lex, { score: 0, member: "apple" }, { score: 0, member: "banana" }, { score: 0, member: "cherry" });
    assert.deepEqual(await redis.zrange(lex, "[b", "+", { byLex: true }), ["banana", "cherry"]);
    assert.deepEqual(await redis.zrange(uniq("none"), 0, -1), []);
  });

  test("zincrby / zrank / zrevrank / zcount / zrem / zmscore", async () => {
    const { redis } = ctx;
    const k = uniq("zi");
    await redis.zadd(k, { score: 1, member: "a" }, { score: 2, member: "b" }, { score: 3, member: "c" });
    assert.equal(await redis.zincrby(k, 2.5, "b"), 4.5);
    assert.equal(await redis.zincrby(k, -1, "a"), 0);
    assert.equal(await redis.zrank(k, "a"), 0);
    assert.equal(await redis.zrank(k, "c"), 1);
    assert.equal(await redis.zrank(k, "b"), 2);
    assert.equal(await redis.zrevrank(k, "b"), 0);
    assert.equal(await redis.zrank(k, "zz"), null);
    assert.equal(await redis.zcount(k, "-inf", "+inf"), 3);
    assert.equal(await redis.zcount(k, 1, 4.5), 2);
    assert.equal(await redis.zcount(k, "(3", 4.5), 1);
    assert.deepEqual(await redis.zmscore(k, ["a", "b", "zz"]), [0, 4.5, null]);
    assert.equal(await redis.zrem(k, "a", "zz"), 1);
    assert.equal(await redis.zcard(k), 2);
  });

  test("zpopmin / zpopmax", async () => {
    const { redis } = ctx;
    const k = uniq("zp");
    await redis.zadd(k, { score: 1, member: "a" }, { score: 2, member: "b" }, { score: 3, member: "c" }, { score: 4, member: "d" });
    assert.deepEqual(await redis.zpopmin(k), ["a", 1]);
    assert.deepEqual(await redis.zpopmax(k), ["d", 4]);
    assert.deepEqual(await redis.zpopmin(k, 5), ["b", 2, "c", 3]);
    assert.deepEqual(await redis.zpopmax(k), []);
  });

  test("zunion / zunionstore / zinterstore / zremrangebyscore", async () => {
    const { redis } = ctx;
    // Cluster exception: ZUNION and the *STORE variants over several slots.
    if (CLUSTER) {
      const [x, y, z] = crossKeys("zx", 3);
      await assertCrossSlot(ctx.stack, ["ZUNION", "2", x, y]);
      await assertCrossSlot(ctx.stack, ["ZUNIONSTORE", z, "2", x, y]);
      await assertCrossSlot(ctx.stack, ["ZINTERSTORE", z, "2", x, y]);
    }
    const a = slotUniq("zua");
    const b = slotUniq("zub");
    await redis.zadd(a, { score: 1, member: "x" }, { score: 2, member: "y" });
    await redis.zadd(b, { score: 10, member: "y" }, { score: 20, member: "z" });
    assert.deepEqual(await redis.zunion(2, [a, b], { withScores: true }), ["x", 1, "y", 12, "z", 20]);
    const d = slotUniq("zud");
    assert.equal(await redis.zunionstore(d, 2, [a, b], { weights: [2, 1] }), 3);
    assert.deepEqual(await redis.zrange(d, 0, -1, { withScores: true }), ["x", 2, "y", 14, "z", 20]);
    assert.equal(await redis.zinterstore(d, 2, [a, b], { aggregate: "max" }), 1);
    assert.deepEqual(await redis.zrange(d, 0, -1, { withScores: true }), ["y", 10]);
    assert.equal(await redis.zremrangebyscore(b, 15, "+inf"), 1);
    assert.deepEqual(await redis.zrange(b, 0, -1), ["y"]);
  });
});
