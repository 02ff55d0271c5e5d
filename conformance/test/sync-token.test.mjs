// Read-your-writes: the upstash-sync-token response header.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { useStack, uniq, client, startRecorder } from "./harness.mjs";

const ctx = useStack({ before, after });

test("redis.readYourWritesSyncToken starts empty and changes after every request", async () => {
  const redis = client(ctx.stack);
  assert.equal(redis.readYourWritesSyncToken, "");
  const seen = [];
  const k = uniq("ryw");
  const steps = [
    () => redis.set(k, "1"), // auto-pipelined write
    () => redis.get(k), // auto-pipelined read
    () => redis.incr(k),
    () => redis.lrange(uniq("l"), 0, -1), // not auto-pipelined: POST /
    () => redis.pipeline().set(k, 5).get(k).exec(), // /pipeline
    () => redis.multi().incr(k).get(k).exec(), // /multi-exec
    () => redis.eval("return 1", [], []),
    () => redis.exists(k),
    () => redis.scriptExists("ffffffffffffffffffffffffffffffffffffffff"),
    () => redis.get(uniq("none")),
  ];
  for (const step of steps) {
    await step();
    const tok = redis.readYourWritesSyncToken;
    assert.equal(typeof tok, "string");
    assert.ok(tok.length > 0, `empty sync token after step ${seen.length + 1}`);
    assert.ok(!seen.includes(tok), `sync token repeated after step ${seen.length + 1}: ${tok}`);
    seen.push(tok);
  }
  assert.equal(new Set(seen).size, steps.length);
});

test("the SDK sends the token it last received on the next request", async () => {
  const rec = await startRecorder(ctx.stack.url);
  try {
    const redis = client({ url: rec.url, token: ctx.stack.token });
    const k = uniq("rywwire");
    await redis.set(k, "a");
    await redis.get(k);
    await redis.pipeline().set(k, "b").get(k).exec();
    await redis.multi().set(k, "c").exec();
    await redis.get(k);
    const ex = rec.exchanges;
    assert.equal(ex.length, 5);
    assert.equal(ex[0].reqHeaders["upstash-sync-token"], "", "first request sends an empty token");
    for (let i = 0; i < ex.length; i++) {
      const sent = ex[i].resHeaders["upstash-sync-token"];
      assert.ok(sent, `response ${i} (${ex[i].path}) has no upstash-sync-token header`);
      if (i + 1 < ex.length) assert.equal(ex[i + 1].reqHeaders["upstash-sync-token"], sent);
    }
  } finally {
    await rec.stop();
  }
});

test("a token handed to another client lets it read the write", async () => {
  const writer = client(ctx.stack);
  const reader = client(ctx.stack);
  const k = uniq("handoff");
  await writer.set(k, { written: true });
  reader.readYourWritesSyncToken = writer.readYourWritesSyncToken;
  assert.deepEqual(await reader.get(k), { written: true });
  assert.notEqual(reader.readYourWritesSyncToken, writer.readYourWritesSyncToken);
});

test("readYourWrites:false sends no sync-token header and keeps none", async () => {
  const rec = await startRecorder(ctx.stack.url);
  try {
    const redis = client({ url: rec.url, token: ctx.stack.token }, { readYourWrites: false });
    const k = uniq("norw");
    assert.equal(await redis.set(k, "v"), "OK");
    assert.equal(await redis.get(k), "v");
    assert.equal(redis.readYourWritesSyncToken, "");
    for (const e of rec.exchanges) assert.equal(e.reqHeaders["upstash-sync-token"], undefined);
  } finally {
    await rec.stop();
  }
});

test("concurrent clients each get their own fresh tokens", async () => {
  const clients = Array.from({ length: 5 }, () => client(ctx.stack));
  const k = uniq("conc");
  await Promise.all(clients.map((c, i) => c.set(`${k}:${i}`, i)));
  const toks = clients.map((c) => c.readYourWritesSyncToken);
  for (const t of toks) assert.ok(t.length > 0);
  assert.equal(new Set(toks).size, toks.length, `tokens not unique: ${toks}`);
  const vals = await Promise.all(clients.map((c, i) => c.get(`${k}:${i}`)));
  assert.deepEqual(vals, [0, 1, 2, 3, 4]);
});
