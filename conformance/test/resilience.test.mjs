// Backend down: the SDK must get a JSON error (502/503), not a parse error or a
// hang, and the gateway must recover once Redis is back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { errors } from "@upstash/redis";
import { useStack, uniq, client, rejection, startRecorder, sleep } from "./harness.mjs";

// privateBackend: with REDISGATE_LAYOUT=cluster, a cluster of this file's own (it is killed).
const ctx = useStack({ before, after }, { extraArgs: ["--command-timeout", "2s"], privateBackend: true });

test("Redis down: JSON 502/503 the SDK can read; back up: requests succeed again", async (t) => {
  if (ctx.stack.external) return t.skip("external gateway: cannot stop its Redis");
  const k = uniq("res");
  assert.equal(await ctx.redis.set(k, "before"), "OK");

  await ctx.stack.stopRedis();
  const rec = await startRecorder(ctx.stack.url);
  try {
    const redis = client({ url: rec.url, token: ctx.stack.token }, { enableAutoPipelining: false });
    const t0 = Date.now();
    const err = await rejection(redis.get(k));
    const took = Date.now() - t0;
    assert.ok(err instanceof errors.UpstashError, String(err));
    assert.ok(!(err instanceof errors.UpstashJSONParseError), `body was not JSON: ${err.message}`);
    assert.ok(took < 15_000, `took ${took} ms to fail`);
    const ex = rec.exchanges.at(-1);
    assert.ok(ex.status === 502 || ex.status === 503, `status ${ex.status}: ${ex.resBody}`);
    assert.equal(typeof JSON.parse(ex.resBody).error, "string");

    // auto-pipelined requests fail the same way
    const ap = client({ url: rec.url, token: ctx.stack.token });
    const settled = await Promise.allSettled([ap.set(k, "x"), ap.incr(uniq("c"))]);
    assert.deepEqual(settled.map((s) => s.status), ["rejected", "rejected"]);
  } finally {
    await rec.stop();
  }

  await ctx.stack.startRedis(); // empty Redis on the same port
  const deadline = Date.now() + 15_000;
  let last;
  for (;;) {
    try {
      last = await ctx.redis.set(k, "after");
      break;
    } catch (e) {
      last = e;
      if (Date.now() > deadline) break;
      await sleep(200);
    }
  }
  assert.equal(last, "OK", `gateway did not recover: ${last}`);
  assert.equal(await ctx.redis.get(k), "after");
  const p = await ctx.redis.pipeline().incr(k + ":n").incr(k + ":n").exec();
  assert.deepEqual(p, [1, 2]);
});
