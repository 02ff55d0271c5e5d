// Strings, JSON values and the SDK's number/JSON deserialisation.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { useStack, client, uniq, sleep, rejection, CLUSTER, slotUniq, crossKeys, assertCrossSlot } from "./harness.mjs";

const ctx = useStack({ before, after });

test("set/get round trip; get of a missing key is null", async () => {
  const { redis } = ctx;
  const k = uniq("str");
  assert.equal(await redis.set(k, "hello"), "OK");
  assert.equal(await redis.get(k), "hello");
  assert.equal(await redis.get(uniq("missing")), null);
});

test("set EX / PX set a TTL", async () => {
  const { redis } = ctx;
  const k1 = uniq("ex");
  const k2 = uniq("px");
  assert.equal(await redis.set(k1, "v", { ex: 100 }), "OK");
  const ttl = await redis.ttl(k1);
  assert.ok(ttl === 100 || ttl === 99, `ttl ${ttl}`);
  assert.equal(await redis.set(k2, "v", { px: 50_000 }), "OK");
  const pttl = await redis.pttl(k2);
  assert.ok(pttl > 48_000 && pttl <= 50_000, `pttl ${pttl}`);
});

test("set PX really expires the key", async () => {
  const { redis } = ctx;
  const k = uniq("pxexp");
  assert.equal(await redis.set(k, "short", { px: 100 }), "OK");
  assert.equal(await redis.get(k), "short");
  await sleep(300);
  assert.equal(await redis.get(k), null);
  assert.equal(await redis.exists(k), 0);
});

test("set EXAT / PXAT / KEEPTTL", async () => {
  const { redis } = ctx;
  const k = uniq("exat");
  const at = Math.floor(Date.now() / 1000) + 500;
  assert.equal(await redis.set(k, "v", { exat: at }), "OK");
  const ttl = await redis.ttl(k);
  assert.ok(ttl > 490 && ttl <= 500, `ttl ${ttl}`);
  assert.equal(await redis.set(k, "v2", { keepTtl: true }), "OK");
  const ttl2 = await redis.ttl(k);
  assert.ok(ttl2 > 490 && ttl2 <= 500, `keepTtl lost the ttl: ${ttl2}`);
  assert.equal(await redis.get(k), "v2");
  assert.equal(await redis.set(k, "v3", { pxat: Date.now() + 300_000 }), "OK");
  const pttl = await redis.pttl(k);
  assert.ok(pttl > 290_000 && pttl <= 300_000, `pttl ${pttl}`);
  // a plain SET drops the TTL
  assert.equal(await redis.set(k, "v4"), "OK");
  assert.equal(await redis.ttl(k), -1);
});

test("set NX / XX", async () => {
  const { redis } = ctx;
  const k = uniq("nx");
  assert.equal(await redis.set(k, "first", { nx: true }), "OK");
  assert.equal(await redis.set(k, "second", { nx: true }), null);
  assert.equal(await redis.get(k), "first");
  assert.equal(await redis.set(k, "third", { xx: true }), "OK");
  assert.equal(await redis.get(k), "third");
  const k2 = uniq("xx");
  assert.equal(await redis.set(k2, "v", { xx: true }), null);
  assert.equal(await redis.exists(k2), 0);
});

test("set GET returns the old value (and null when there was none)", async () => {
  const { redis } = ctx;
  const k = uniq("setget");
  assert.equal(await redis.set(k, "old", { get: true }), null);
  assert.equal(await redis.set(k, "new", { get: true }), "old");
  assert.equal(await redis.get(k), "new");
  // NX + GET (Redis 7): not set, returns current value
  assert.equal(await redis.set(k, "newer", { nx: true, get: true }), "new");
  assert.equal(await redis.get(k), "new");
});

test("incr / incrby / decr / decrby / incrbyfloat", async () => {
  const { redis } = ctx;
  const k = uniq("ctr");
  assert.equal(await redis.incr(k), 1);
  assert.equal(await redis.incrby(k, 10), 11);
  assert.equal(await redis.decr(k), 10);
  assert.equal(await redis.decrby(k, 3), 7);
  assert.equal(await redis.incrby(k, -10), -3);
  // INCRBYFLOAT answers a bulk string; the SDK parses it to a number
  assert.equal(await redis.incrbyfloat(k, 0.5), -2.5);
  assert.equal(await redis.incrbyfloat(k, 5), 2.5);
  assert.equal(await redis.get(k), 2.5);
  const f = uniq("flt");
  assert.equal(await redis.incrbyfloat(f, 1), 1);
  assert.equal(await redis.incrbyfloat(f, 0.1), 1.1);
  const big = uniq("big");
  await redis.set(big, "9007199254740990");
  assert.equal(await redis.incr(big), 9007199254740991);
});

test("incr on a non-integer value rejects with ERR", async () => {
  const { redis } = ctx;
  const k = uniq("notint");
  await redis.set(k, "abc");
  const err = await rejection(redis.incr(k));
  assert.match(err.message, /ERR value is not an integer or out of range/);
});

test("append / getrange / setrange / strlen", async () => {
  const { redis } = ctx;
  const k = uniq("app");
  assert.equal(await redis.append(k, "Hello"), 5);
  assert.equal(await redis.append(k, " World"), 11);
  assert.equal(await redis.get(k), "Hello World");
  assert.equal(await redis.getrange(k, 0, 4), "Hello");
  assert.equal(await redis.getrange(k, -5, -1), "World");
  assert.equal(await redis.getrange(k, 100, 200), "");
  assert.equal(await redis.setrange(k, 6, "Redis"), 11);
  assert.equal(await redis.get(k), "Hello Redis");
  assert.equal(await redis.strlen(k), 11);
  assert.equal(await redis.strlen(uniq("none")), 0);
  // setrange past the end pads with NUL bytes
  const k2 = uniq("pad");
  assert.equal(await redis.setrange(k2, 3, "x"), 4);
  assert.equal(await redis.get(k2), "\0\0\0x");
});

test("mset / mget (varargs and array form, missing keys are null)", async () => {
  const { redis } = ctx;
  const a = uniq("ma");
  const b = uniq("mb");
  const c = uniq("mc");
  assert.equal(await redis.mset({ [a]: "one", [b]: 2, [c]: { x: [1, 2] } }), "OK");
  assert.deepEqual(await redis.mget(a, b, c, uniq("none")), ["one", 2, { x: [1, 2] }, null]);
  assert.deepEqual(await redis.mget([a, b]), ["one", 2]);
  if (CLUSTER) {
    // Cluster exception: MSETNX over several slots (it is all-or-nothing, so it cannot be split).
    await assertCrossSlot(ctx.stack, ["MSETNX", ...crossKeys("mnx", 2).flatMap((k) => [k, "y"])]);
    const t = slotUniq("mt");
    assert.equal(await redis.set(t, "one"), "OK");
    assert.equal(await redis.msetnx({ [t]: "x", [slotUniq("n")]: "y" }), 0);
  } else assert.equal(await redis.msetnx({ [a]: "x", [uniq("n")]: "y" }), 0);
  assert.equal(await redis.get(a), "one");
});

test("getdel / getex / getset", async () => {
  const { redis } = ctx;
  const k = uniq("gd");
  await redis.set(k, "bye");
  assert.equal(await redis.getdel(k), "bye");
  assert.equal(await redis.get(k), null);
  assert.equal(await redis.getdel(k), null);

  const e = uniq("gex");
  await redis.set(e, "val");
  assert.equal(await redis.getex(e, { ex: 100 }), "val");
  const ttl = await redis.ttl(e);
  assert.ok(ttl === 100 || ttl === 99, `ttl ${ttl}`);
  assert.equal(await redis.getex(e, { px: 200_000 }), "val");
  const pttl = await redis.pttl(e);
  assert.ok(pttl > 198_000 && pttl <= 200_000, `pttl ${pttl}`);
  assert.equal(await redis.getex(e, { persist: true }), "val");
  assert.equal(await redis.ttl(e), -1);
  assert.equal(await redis.getex(uniq("none"), { ex: 10 }), null);

  assert.equal(await redis.getset(e, "newval"), "val");
  assert.equal(await redis.get(e), "newval");
});

test("setex / psetex / setnx", async () => {
  const { redis } = ctx;
  const k = uniq("setex");
  assert.equal(await redis.setex(k, 100, "v"), "OK");
  assert.ok((await redis.ttl(k)) >= 99);
  const p = uniq("psetex");
  assert.equal(await redis.psetex(p, 100_000, "v"), "OK");
  assert.ok((await redis.pttl(p)) > 98_000);
  const n = uniq("setnx");
  assert.equal(await redis.setnx(n, "a"), 1);
  assert.equal(await redis.setnx(n, "b"), 0);
  assert.equal(await redis.get(n), "a");
});

test("objects and arrays are stored as JSON and come back as objects", async () => {
  const { redis } = ctx;
  const k = uniq("json");
  const value = { name: "redisgate", tags: ["a", "b"], nested: { n: 1.5, ok: true, nil: null } };
  assert.equal(await redis.set(k, value), "OK");
  assert.deepEqual(await redis.get(k), value);
  const arr = uniq("jsonarr");
  await redis.set(arr, [1, "two", { three: 3 }]);
  assert.deepEqual(await redis.get(arr), [1, "two", { three: 3 }]);

  // what is really stored is the JSON text
  const raw = client(ctx.stack, { automaticDeserialization: false });
  assert.equal(await raw.get(k), JSON.stringify(value));
  assert.equal(await raw.get(arr), '[1,"two",{"three":3}]');
});

test("the SDK turns numeric / JSON-literal strings into numbers, booleans, null", async () => {
  const { redis } = ctx;
  const cases = [
    // [stored value, what get() returns]
    ["42", 42],
    [42, 42],
    ["-17", -17],
    ["3.25", 3.25],
    ["1.50", "1.50"], // parse would lose the trailing zero -> string kept
    ["007", "007"], // not valid JSON
    ["1e3", "1e3"], // parses to 1000 but "1000" !== "1e3" -> string kept
    ["12345678901234567890", "12345678901234567890"], // not a safe integer
    ["-0", "-0"],
    ["true", true],
    [false, false],
    ["null", null],
    ['"quoted"', "quoted"], // JSON string literal loses its quotes
    ["", ""],
    ["hello world", "hello world"],
  ];
  const keys = cases.map(() => uniq("num"));
  for (let i = 0; i < cases.length; i++) assert.equal(await redis.set(keys[i], cases[i][0]), "OK");
  for (let i = 0; i < cases.length; i++) {
    assert.deepEqual(await redis.get(keys[i]), cases[i][1], `value ${JSON.stringify(cases[i][0])}`);
  }
  // the stored text is what the SDK sent
  const raw = client(ctx.stack, { automaticDeserialization: false });
  for (let i = 0; i < cases.length; i++) {
    assert.equal(await raw.get(keys[i]), String(cases[i][0]), `raw ${JSON.stringify(cases[i][0])}`);
  }
});

test("automaticDeserialization:false returns raw strings (integers stay numbers)", async () => {
  const raw = client(ctx.stack, { automaticDeserialization: false });
  const k = uniq("raw");
  assert.equal(await raw.set(k, "123"), "OK");
  assert.equal(await raw.get(k), "123");
  assert.equal(await raw.incr(k), 124); // RESP integer -> JSON number
  assert.equal(await raw.incrbyfloat(k, 0.5), "124.5"); // bulk string stays a string
  const j = uniq("rawjson");
  await raw.set(j, { a: 1 });
  assert.equal(await raw.get(j), '{"a":1}');
  assert.deepEqual(await raw.mget(k, j), ["124.5", '{"a":1}']);
});

test("SET with GET on a wrong type rejects", async () => {
  const { redis } = ctx;
  const l = uniq("list");
  await redis.rpush(l, "x");
  const err = await rejection(redis.set(l, "v", { get: true }));
  assert.match(err.message, /WRONGTYPE/);
});
