// Streams: xadd / xrange / xrevrange / xlen / xdel / xtrim / consumer groups.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { useStack, uniq, rejection } from "./harness.mjs";

const ctx = useStack({ before, after });

test("xadd with explicit and generated ids", async () => {
  const { redis } = ctx;
  const k = uniq("st");
  assert.equal(await redis.xadd(k, "1-0", { a: "x" }), "1-0");
  assert.equal(await redis.xadd(k, "1-5", { a: "y" }), "1-5");
  const auto = await redis.xadd(k, "*", { a: "z" });
  assert.equal(typeof auto, "string");
  assert.match(auto, /^\d+-\d+$/);
  const [ms] = auto.split("-").map(Number);
  assert.ok(Math.abs(ms - Date.now()) < 60_000, `id time ${ms}`);
  const err = await rejection(redis.xadd(k, "1-1", { a: "too small" }));
  assert.match(err.message, /ERR The ID specified in XADD is equal or smaller/);
  assert.equal(await redis.xlen(k), 3);
});

test("xrange / xrevrange decode to {id: {field: value}} with JSON-parsed values", async () => {
  const { redis } = ctx;
  const k = uniq("xr");
  await redis.xadd(k, "1-0", { name: "alice", n: 1 });
  await redis.xadd(k, "2-0", { name: "bob", obj: { deep: [1, 2] } });
  await redis.xadd(k, "3-0", { name: "carol", flag: "true" });
  assert.deepEqual(await redis.xrange(k, "-", "+"), {
    "1-0": { name: "alice", n: 1 },
    "2-0": { name: "bob", obj: { deep: [1, 2] } },
    "3-0": { name: "carol", flag: true },
  });
  assert.deepEqual(await redis.xrange(k, "2-0", "+", 1), { "2-0": { name: "bob", obj: { deep: [1, 2] } } });
  const rev = await redis.xrevrange(k, "+", "-");
  assert.deepEqual(Object.keys(rev), ["3-0", "2-0", "1-0"]);
  assert.deepEqual(rev["1-0"], { name: "alice", n: 1 });
  assert.deepEqual(Object.keys(await redis.xrevrange(k, "+", "-", 2)), ["3-0", "2-0"]);
  assert.deepEqual(await redis.xrange(uniq("none"), "-", "+"), {});
});

test("xdel / xtrim", async () => {
  const { redis } = ctx;
  const k = uniq("xd");
  for (let i = 1; i <= 10; i++) await redis.xadd(k, `${i}-0`, { i });
  assert.equal(await redis.xdel(k, "2-0"), 1);
  assert.equal(await redis.xdel(k, ["3-0", "4-0", "99-0"]), 2);
  assert.equal(await redis.xlen(k), 7);
  assert.equal(await redis.xtrim(k, { strategy: "MAXLEN", threshold: 5, exactness: "=" }), 2);
  assert.equal(await redis.xlen(k), 5);
  assert.deepEqual(Object.keys(await redis.xrange(k, "-", "+")), ["6-0", "7-0", "8-0", "9-0", "10-0"]);
  assert.equal(await redis.xtrim(k, { strategy: "MINID", threshold: "9-0", exactness: "=" }), 3);
  assert.deepEqual(Object.keys(await redis.xrange(k, "-", "+")), ["9-0", "10-0"]);
  // xadd with trim options
  assert.equal(await redis.xadd(k, "11-0", { i: 11 }, { trim: { type: "MAXLEN", threshold: 1, comparison: "=" } }), "11-0");
  assert.equal(await redis.xlen(k), 1);
});

test("consumer group: xgroup create / xreadgroup / xack / xpending / xinfo groups", async () => {
  const { redis } = ctx;
  const k = uniq("xg");
  await redis.xadd(k, "1-0", { job: "a" });
  await redis.xadd(k, "2-0", { job: "b" });
  await redis.xadd(k, "3-0", { job: "c" });
  assert.equal(await redis.xgroup(k, { type: "CREATE", group: "g1", id: "0" }), "OK");
  const dup = await rejection(redis.xgroup(k, { type: "CREATE", group: "g1", id: "0" }));
  assert.match(dup.message, /BUSYGROUP/);
  const mk = uniq("xgmk");
  assert.equal(await redis.xgroup(mk, { type: "CREATE", group: "g", id: "$", options: { MKSTREAM: true } }), "OK");
  assert.equal(await redis.exists(mk), 1);

  // non-blocking read of two new entries
  const read = await redis.xreadgroup("g1", "c1", k, ">", { count: 2 });
  assert.deepEqual(read, [[k, [["1-0", ["job", "a"]], ["2-0", ["job", "b"]]]]]);
  const read2 = await redis.xreadgroup("g1", "c2", k, ">");
  assert.deepEqual(read2, [[k, [["3-0", ["job", "c"]]]]]);
  // nothing new: nil
  assert.equal(await redis.xreadgroup("g1", "c2", k, ">"), null);

  const pending = await redis.xpending(k, "g1", "-", "+", 10);
  assert.equal(pending.length, 3);
  assert.deepEqual(pending.map((p) => [p[0], p[1], p[3]]), [["1-0", "c1", 1], ["2-0", "c1", 1], ["3-0", "c2", 1]]);
  for (const p of pending) assert.ok(typeof p[2] === "number" && p[2] >= 0, `idle ${p[2]}`);

  assert.equal(await redis.xack(k, "g1", "1-0"), 1);
  assert.equal(await redis.xack(k, "g1", ["2-0", "99-0"]), 1);
  const pending2 = await redis.xpending(k, "g1", "-", "+", 10, { consumer: "c2" });
  assert.deepEqual(pending2.map((p) => p[0]), ["3-0"]);

  const groups = await redis.xinfo(k, { type: "GROUPS" });
  assert.equal(groups.length, 1);
  const g = {};
  for (let i = 0; i < groups[0].length; i += 2) g[groups[0][i]] = groups[0][i + 1];
  assert.equal(g.name, "g1");
  assert.equal(g.consumers, 2);
  assert.equal(g.pending, 1);
  assert.equal(g["last-delivered-id"], "3-0");
  assert.equal(g["entries-read"], 3);
  assert.equal(g.lag, 0);

  const consumers = await redis.xinfo(k, { type: "CONSUMERS", group: "g1" });
  const names = consumers.map((c) => c[c.indexOf("name") + 1]).sort();
  assert.deepEqual(names, ["c1", "c2"]);
});

test("xread (non-blocking) and xrange with a JSON-looking stream id", async () => {
  const { redis } = ctx;
  const k = uniq("xread");
  await redis.xadd(k, "5-1", { v: "x" });
  assert.deepEqual(await redis.xread(k, "0-0"), [[k, [["5-1", ["v", "x"]]]]]);
  assert.deepEqual(await redis.xread(k, "5-1"), null);
});
