// Generic key commands.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { useStack, uniq, rejection, CLUSTER, slotUniq, crossKeys, assertCrossSlot } from "./harness.mjs";

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
  // Cluster exception: RENAME, RENAMENX and COPY between slots.
  if (CLUSTER) for (const cmd of ["RENAME", "RENAMENX", "COPY"]) await assertCrossSlot(ctx.stack, [cmd, ...crossKeys("rx", 2)]);
  const uniq = slotUniq; // every key of this test in one slot on a cluster
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
  // COPY of a key onto itself: Upstash answers 0 (Redis 7 answers an error).
  assert.equal(await redis.copy(a, a), "NOT_COPIED");
  assert.equal(await redis.copy(a, a, { replace: true }), "NOT_COPIED");
  assert.equal(await redis.copy(uniq("none"), uniq("none")), "NOT_COPIED");
  const same = uniq("same");
  assert.equal(await redis.copy(same, same), "NOT_COPIED");
  assert.equal(await redis.exec(["COPY", a, a]), 0);
  assert.deepEqual(await redis.pipeline().copy(a, a).copy(a, uniq("rd")).exec(), ["NOT_COPIED", "COPIED"]);
  assert.deepEqual(await redis.multi().copy(a, a).get(a).exec(), ["NOT_COPIED", "va"]);
  assert.equal(await redis.get(a), "va");
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

  // WITHTYPE (Upstash's extension, which stock Redis refuses): [cursor, [k1, t1, …]],
  // read by the SDK as [cursor, [{key, type}, …]].
  const types = {};
  cursor = 0;
  rounds = 0;
  do {
    const [next, entries] = await redis.scan(cursor, { withType: true, count: 20 });
    assert.equal(typeof next, "string");
    for (const { key, type } of entries) {
      assert.equal(types[key], undefined, `${key} seen twice`);
      types[key] = type;
    }
    cursor = next;
  } while (String(cursor) !== "0" && ++rounds < 200);
  assert.equal(String(cursor), "0");
  const wantTypes = { "other:hash": "hash", "other:list": "list" };
  for (const n of names) wantTypes[n] = "string";
  assert.deepEqual(types, wantTypes);
  // Cluster exception: one SCAN call walks one primary (the cursor names the node), so what one
  // call with a large COUNT answers on one Redis takes a call per primary: the cluster layout
  // walks to cursor 0 and checks that the first call did not end the walk. Inside /pipeline
  // and /multi-exec (one call each) it checks that what came back is right, not that it is all.
  const walk = async (once) => {
    let [cursor, out] = await once(0);
    if (!CLUSTER) return out;
    assert.notEqual(String(cursor), "0", "one SCAN call covered every primary");
    for (let i = 0; String(cursor) !== "0" && i < 200; i++) {
      const [next, more] = await once(cursor);
      out = out.concat(more);
      cursor = next;
    }
    return out;
  };
  // with MATCH and COUNT, the order the SDK sends them in
  const listed = await walk((c) => redis.scan(c, { match: "other:*", count: 1000, withType: true }));
  assert.deepEqual(listed.sort((x, y) => x.key.localeCompare(y.key)), [
    { key: "other:hash", type: "hash" },
    { key: "other:list", type: "list" },
  ]);
  // the flat pairs on the wire, and WITHTYPE with a TYPE filter (the SDK sends one or the other)
  if (!CLUSTER) assert.deepEqual(await redis.exec(["SCAN", "0", "TYPE", "list", "COUNT", "1000", "WITHTYPE"]), [0, ["other:list", "list"]]); // exec parses "0"
  assert.deepEqual(await walk((c) => redis.exec(["SCAN", String(c), "TYPE", "list", "COUNT", "1000", "WITHTYPE"])), ["other:list", "list"]);
  // inside /pipeline and /multi-exec
  const [[, piped], dbsize] = await redis.pipeline().scan(0, { match: "other:l*", count: 1000, withType: true }).dbsize().exec();
  assert.deepEqual(piped, CLUSTER && piped.length === 0 ? [] : [{ key: "other:list", type: "list" }]);
  assert.equal(dbsize, 152);
  const [[, inTx]] = await redis.multi().scan(0, { match: "other:h*", count: 1000, withType: true }).exec();
  assert.deepEqual(inTx, CLUSTER && inTx.length === 0 ? [] : [{ key: "other:hash", type: "hash" }]);

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
