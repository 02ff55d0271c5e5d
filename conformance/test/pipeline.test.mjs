// Auto-pipelining, explicit pipelines and MULTI/EXEC transactions.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { useStack, uniq, rejection, client, startRecorder, CLUSTER, slotUniq, crossKeys, assertCrossSlot } from "./harness.mjs";

const ctx = useStack({ before, after });

/** A client that talks through a recording proxy. */
async function recorded(opts = {}) {
  const rec = await startRecorder(ctx.stack.url);
  const redis = client({ url: rec.url, token: ctx.stack.token }, opts);
  return { rec, redis };
}

describe("auto-pipelining (the default)", () => {
  test("concurrent writes travel as ONE /pipeline request", async () => {
    const { rec, redis } = await recorded();
    try {
      const p = uniq("ap");
      const before = redis.pipelineCounter;
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => redis.set(`${p}:${i}`, `v${i}`)));
      assert.deepEqual(results, Array(50).fill("OK"));
      assert.equal(redis.pipelineCounter - before, 1);
      assert.equal(rec.exchanges.length, 1);
      assert.equal(rec.exchanges[0].path, "/pipeline");
      assert.equal(JSON.parse(rec.exchanges[0].reqBody).length, 50);
      const res = JSON.parse(rec.exchanges[0].resBody);
      assert.equal(res.length, 50);
      for (const e of res) assert.deepEqual(Object.keys(e), ["result"]);

      rec.clear();
      const values = await Promise.all(Array.from({ length: 50 }, (_, i) => redis.get(`${p}:${i}`)));
      assert.deepEqual(values, Array.from({ length: 50 }, (_, i) => `v${i}`));
      assert.equal(rec.exchanges.length, 1);
      assert.equal(rec.exchanges[0].path, "/pipeline");
    } finally {
      await rec.stop();
    }
  });

  test("reads and writes awaited together go as two pipelines (SDK splits by mode)", async () => {
    const { rec, redis } = await recorded();
    try {
      const k = uniq("rw");
      await redis.set(k, "before");
      rec.clear();
      const [setRes, ttl, incr] = await Promise.all([redis.set(k, "after"), redis.ttl(k), redis.incr(uniq("c"))]);
      assert.equal(setRes, "OK");
      assert.equal(ttl, -1);
      assert.equal(incr, 1);
      assert.equal(rec.exchanges.length, 2);
      const bodies = rec.exchanges.map((e) => JSON.parse(e.reqBody).map((c) => c[0]).join(",")).sort();
      assert.deepEqual(bodies, ["set,incr", "ttl"]);
    } finally {
      await rec.stop();
    }
  });

  test("results come back in order, including null, numbers and errors", async () => {
    const { redis } = ctx;
    const k = uniq("mix");
    const l = uniq("mixl");
    await redis.set(k, "str");
    const settled = await Promise.allSettled([
      redis.get(k),
      redis.get(uniq("none")),
      redis.incr(uniq("n")),
      redis.lpush(k, "x"), // WRONGTYPE
      redis.rpush(l, "a", "b"),
      redis.lrange(l, 0, -1), // excluded from auto-pipelining: a plain request
    ]);
    assert.deepEqual(settled.map((s) => s.status), ["fulfilled", "fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"]);
    assert.equal(settled[0].value, "str");
    assert.equal(settled[1].value, null);
    assert.equal(settled[2].value, 1);
    assert.match(settled[3].reason.message, /^Command failed: WRONGTYPE/);
    assert.equal(settled[4].value, 2);
    assert.ok(Array.isArray(settled[5].value));
  });

  test("more than 1000 concurrent commands are split into batches of 1000", async () => {
    const { rec, redis } = await recorded();
    try {
      const k = uniq("many");
      const results = await Promise.all(Array.from({ length: 1234 }, () => redis.incr(k)));
      assert.deepEqual([...results].sort((a, b) => a - b), Array.from({ length: 1234 }, (_, i) => i + 1));
      assert.equal(await redis.get(k), 1234);
      const sizes = rec.exchanges.filter((e) => e.path === "/pipeline").map((e) => JSON.parse(e.reqBody).length);
      assert.deepEqual(sizes.slice(0, 2).sort((a, b) => b - a), [1000, 234]);
    } finally {
      await rec.stop();
    }
  });

  test("enableAutoPipelining:false sends every command to POST / on its own", async () => {
    const { rec, redis } = await recorded({ enableAutoPipelining: false });
    try {
      const k = uniq("noap");
      const [a, b] = await Promise.all([redis.set(k, "1"), redis.incr(uniq("x"))]);
      assert.equal(a, "OK");
      assert.equal(b, 1);
      assert.equal(await redis.get(k), 1);
      assert.deepEqual(rec.exchanges.map((e) => e.path), ["/", "/", "/"]);
      const bodies = rec.exchanges.map((e) => JSON.parse(e.reqBody)[0]).sort();
      assert.deepEqual(bodies, ["get", "incr", "set"]);
      for (const e of rec.exchanges) {
        assert.equal(e.status, 200);
        assert.deepEqual(Object.keys(JSON.parse(e.resBody)), ["result"]);
      }
      const err = await rejection(redis.lpush(k, "x"));
      assert.match(err.message, /^WRONGTYPE Operation against a key holding the wrong kind of value, command was: \["lpush",/);
      assert.equal(rec.exchanges.at(-1).status, 400);
    } finally {
      await rec.stop();
    }
  });
});

describe("explicit pipeline()", () => {
  test("exec returns every result in order", async () => {
    const { redis } = ctx;
    const k = uniq("p");
    const l = uniq("pl");
    const h = uniq("ph");
    const p = redis.pipeline();
    p.set(k, 1).incr(k).get(k).rpush(l, "a", "b").lrange(l, 0, -1).hset(h, { f: { j: 1 } }).hgetall(h).get(uniq("none"));
    assert.equal(p.length(), 8);
    assert.deepEqual(await p.exec(), ["OK", 2, 2, 2, ["a", "b"], 1, { f: { j: 1 } }, null]);
  });

  test("a failing command makes exec() throw, but the others still ran (not atomic)", async () => {
    const { redis } = ctx;
    const k = uniq("pf");
    const after = uniq("pfafter");
    const p = redis.pipeline();
    p.set(k, "string");
    p.lpush(k, "x");
    p.set(after, "ran");
    const err = await rejection(p.exec());
    assert.match(err.message, /^Command 2 \[ lpush \] failed: WRONGTYPE/);
    assert.equal(await redis.get(k), "string");
    assert.equal(await redis.get(after), "ran");
  });

  test("exec({keepErrors: true}) returns {result, error} for every command", async () => {
    const { redis } = ctx;
    const k = uniq("pk");
    const p = redis.pipeline();
    p.set(k, "string");
    p.lpush(k, "x");
    p.get(k);
    p.incr(k);
    const res = await p.exec({ keepErrors: true });
    assert.equal(res.length, 4);
    assert.deepEqual(res[0], { error: undefined, result: "OK" });
    assert.match(res[1].error, /^WRONGTYPE/);
    assert.equal(res[1].result, undefined, "no result key next to an error");
    assert.deepEqual(res[2], { error: undefined, result: "string" });
    assert.match(res[3].error, /^ERR value is not an integer/);
    assert.equal(res[3].result, undefined);
  });

  test("pipeline with automaticDeserialization:false and with auto-pipelining off", async () => {
    const raw = client(ctx.stack, { automaticDeserialization: false, enableAutoPipelining: false });
    const k = uniq("praw");
    const p = raw.pipeline();
    p.set(k, { a: 1 }).get(k).incrbyfloat(uniq("f"), 1.5);
    assert.deepEqual(await p.exec(), ["OK", '{"a":1}', "1.5"]);
  });

  test("an empty pipeline is refused by the SDK before any request", async () => {
    const err = await rejection(ctx.redis.pipeline().exec());
    assert.match(err.message, /Pipeline is empty/);
  });
});

describe("multi() transactions", () => {
  test("exec returns every result; goes to /multi-exec", async () => {
    const { rec, redis } = await recorded();
    try {
      // Cluster exception: a transaction over several slots is refused whole (CROSSSLOT in
      // EXECABORT, as Redis Cluster answers it) and runs nothing.
      if (CLUSTER) {
        const [x, y] = crossKeys("mx", 2);
        await assertCrossSlot(ctx.stack, [["SET", x, "1"], ["INCR", y]], "/multi-exec");
        assert.deepEqual(await redis.mget(x, y), [null, null]);
        rec.clear();
      }
      const k = slotUniq("m");
      const c = slotUniq("mc");
      const tx = redis.multi();
      tx.set(k, "v").incr(c).incr(c).get(k).get(c);
      assert.deepEqual(await tx.exec(), ["OK", 1, 2, "v", 2]);
      assert.equal(rec.exchanges.length, 1);
      assert.equal(rec.exchanges[0].path, "/multi-exec");
      assert.equal(rec.exchanges[0].status, 200);
    } finally {
      await rec.stop();
    }
  });

  test("a runtime error inside EXEC fails only that entry (Redis does not roll back)", async () => {
    const { redis } = ctx;
    const k = slotUniq("mt");
    const k2 = slotUniq("mt2");
    const tx = redis.multi();
    tx.set(k, "str").lpush(k, "x").set(k2, "y");
    const err = await rejection(tx.exec());
    assert.match(err.message, /^Command 2 \[ lpush \] failed: WRONGTYPE/);
    assert.equal(await redis.get(k2), "y");

    const tx2 = redis.multi();
    tx2.set(k, "str2").lpush(k, "x").get(k);
    const res = await tx2.exec({ keepErrors: true });
    assert.deepEqual(res[0], { error: undefined, result: "OK" });
    assert.match(res[1].error, /^WRONGTYPE/);
    assert.equal(res[1].result, undefined);
    assert.deepEqual(res[2], { error: undefined, result: "str2" });
  });

  test("a queue-time error discards the whole transaction", async () => {
    const { rec, redis } = await recorded();
    try {
      const k = uniq("mq");
      const tx = redis.multi();
      tx.set(k, "should-not-exist");
      tx.get(); // wrong number of arguments: refused when queued
      const err = await rejection(tx.exec());
      assert.match(err.message, /EXECABORT|wrong number of arguments/i);
      assert.equal(await redis.exists(k), 0);
      const ex = rec.exchanges.find((e) => e.path === "/multi-exec");
      assert.equal(ex.status, 400);
      const body = JSON.parse(ex.resBody);
      assert.equal(Array.isArray(body), false);
      assert.equal(typeof body.error, "string");
    } finally {
      await rec.stop();
    }
  });

  test("multi is atomic: concurrent INCRs never interleave with a transaction", async () => {
    const { redis } = ctx;
    const k = uniq("atomic");
    const noap = client(ctx.stack, { enableAutoPipelining: false });
    const txs = [];
    for (let t = 0; t < 10; t++) {
      const tx = noap.multi();
      for (let i = 0; i < 20; i++) tx.incr(k);
      txs.push(tx.exec());
    }
    const singles = Array.from({ length: 50 }, () => noap.incr(k));
    const [txResults] = await Promise.all([Promise.all(txs), Promise.all(singles)]);
    for (const r of txResults) {
      // inside one transaction the 20 values must be consecutive
      for (let i = 1; i < r.length; i++) assert.equal(r[i], r[i - 1] + 1, JSON.stringify(r));
    }
    assert.equal(await redis.get(k), 250);
  });
});

describe("many concurrent clients", () => {
  test("every reply reaches the command that asked for it (20 clients x 150 commands)", async () => {
    const base = uniq("fan");
    const clients = Array.from({ length: 20 }, (_, i) =>
      client(ctx.stack, i % 2 ? {} : { enableAutoPipelining: i % 4 === 0 ? false : true }),
    );
    // seed distinct values
    await Promise.all(clients.map((c, ci) => c.mset(Object.fromEntries(Array.from({ length: 50 }, (_, j) => [`${base}:${ci}:${j}`, `v-${ci}-${j}`])))));
    const work = clients.map(async (c, ci) => {
      const ops = [];
      for (let j = 0; j < 50; j++) {
        ops.push(c.get(`${base}:${ci}:${j}`).then((v) => assert.equal(v, `v-${ci}-${j}`)));
        ops.push(c.incrby(`${base}:ctr:${ci}`, j + 1));
        ops.push(c.strlen(`${base}:${ci}:${j}`).then((n) => assert.equal(n, `v-${ci}-${j}`.length)));
      }
      await Promise.all(ops);
      return c.get(`${base}:ctr:${ci}`);
    });
    const totals = await Promise.all(work);
    assert.deepEqual(totals, Array(20).fill((50 * 51) / 2));
  });
});
