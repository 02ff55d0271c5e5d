// @upstash/ratelimit 2.2.0 against the gateway. Its Lua scripts start with
// "#!lua flags=allow-key-locking", which stock Redis refuses; the gateway must
// normalise them. A failure mentioning "Unexpected flag in script shebang" is a
// gateway bug.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { Ratelimit } from "@upstash/ratelimit";
import { useStack, uniq, client, sleep, startRecorder, CLUSTER, slotUniq, rejection } from "./harness.mjs";

const ctx = useStack({ before, after });

const WINDOW = "60 s";
const WINDOW_MS = 60_000;

/**
 * Fixed and sliding windows are aligned to multiples of the window. If the
 * next boundary is close, wait for it, so that every call of a test lands in
 * one window and the counts are exact.
 */
async function avoidWindowEdge(needMs = 4_000) {
  const left = WINDOW_MS - (Date.now() % WINDOW_MS);
  if (left < needMs) await sleep(left + 100);
}

const ALGOS = {
  fixedWindow: (n) => Ratelimit.fixedWindow(n, WINDOW),
  slidingWindow: (n) => Ratelimit.slidingWindow(n, WINDOW),
  tokenBucket: (n) => Ratelimit.tokenBucket(1, WINDOW, n), // refill 1 per 60 s, bucket of n
};

function limiter(algo, n, extra = {}) {
  return new Ratelimit({
    redis: extra.redis ?? ctx.redis,
    limiter: ALGOS[algo](n),
    // On a cluster slidingWindow's two keys (this window, the one before) must share a slot:
    // a {hashtag} in the prefix, as a Redis Cluster user of the SDK does (see the exception below).
    prefix: algo === "slidingWindow" ? slotUniq(`rl:${algo}`) : uniq(`rl:${algo}`),
    ephemeralCache: false,
    timeout: 0, // no "timeout => success" fallback: a slow gateway must not fake successes
    analytics: false,
    ...extra,
  });
}

function summarize(results) {
  for (const r of results) {
    assert.equal(typeof r.success, "boolean");
    assert.notEqual(r.reason, "timeout");
  }
  return results.filter((r) => r.success).length;
}

const N = 7;
const EXTRA = 5;

for (const algo of Object.keys(ALGOS)) {
  describe(`Ratelimit.${algo}(${N})`, () => {
    if (CLUSTER && algo === "slidingWindow") {
      test("cluster exception: without a {hashtag} in the prefix, the two windows' keys are in two slots: CROSSSLOT", async () => {
        await avoidWindowEdge();
        const rl = limiter(algo, N, { prefix: uniq(`rl:${algo}:nohashtag`) });
        const err = await rejection(rl.limit(uniq("user")));
        assert.match(String(err?.message ?? err), /CROSSSLOT Keys in request don't hash to the same slot/);
      });
    }
    test(`sequential: exactly ${N} of ${N + EXTRA} calls succeed, in order`, async () => {
      await avoidWindowEdge();
      const rl = limiter(algo, N);
      const id = uniq("user");
      const results = [];
      for (let i = 0; i < N + EXTRA; i++) results.push(await rl.limit(id));
      assert.equal(summarize(results), N);
      assert.deepEqual(
        results.map((r) => r.success),
        [...Array(N).fill(true), ...Array(EXTRA).fill(false)],
      );
      assert.deepEqual(
        results.map((r) => r.remaining),
        [...Array.from({ length: N }, (_, i) => N - 1 - i), ...Array(EXTRA).fill(0)],
      );
      for (const r of results) {
        assert.equal(r.limit, N);
        assert.ok(r.reset > Date.now() - 1000 && r.reset <= Date.now() + WINDOW_MS + 1000, `reset ${r.reset}`);
      }
      // another identifier is unaffected
      const other = await rl.limit(uniq("other"));
      assert.equal(other.success, true);
      assert.equal(other.remaining, N - 1);
    });

    test(`concurrent: exactly ${N} of ${N + EXTRA} parallel calls succeed (one auto-pipeline)`, async () => {
      await avoidWindowEdge();
      const rl = limiter(algo, N);
      const id = uniq("burst");
      const results = await Promise.all(Array.from({ length: N + EXTRA }, () => rl.limit(id)));
      assert.equal(summarize(results), N);
      const remaining = results.filter((r) => r.success).map((r) => r.remaining).sort((a, b) => a - b);
      assert.deepEqual(remaining, Array.from({ length: N }, (_, i) => i));
    });

    test("concurrent, right after SCRIPT FLUSH (every call takes the NOSCRIPT -> EVAL path)", async () => {
      await avoidWindowEdge();
      assert.equal(await ctx.redis.scriptFlush(), "OK");
      const rl = limiter(algo, N);
      const id = uniq("flushed");
      const results = await Promise.all(Array.from({ length: N + EXTRA }, () => rl.limit(id)));
      assert.equal(summarize(results), N);
    });

    test("concurrent without auto-pipelining (one HTTP request per call)", async () => {
      await avoidWindowEdge();
      const rl = limiter(algo, N, { redis: client(ctx.stack, { enableAutoPipelining: false }) });
      const id = uniq("noap");
      const results = await Promise.all(Array.from({ length: N + EXTRA }, () => rl.limit(id)));
      assert.equal(summarize(results), N);
    });

    test("getRemaining and resetUsedTokens", async () => {
      await avoidWindowEdge();
      // Cluster exception: resetUsedTokens is an EVAL whose one key is a MATCH pattern
      // (prefix:id*): it runs on the node of the pattern's slot and SCANs and deletes the keys of
      // that node only. On a cluster the keys are reached when the prefix has a {hashtag}.
      const rl = limiter(algo, N, CLUSTER ? { prefix: slotUniq(`rl:${algo}:rem`) } : {});
      const id = uniq("rem");
      const fresh = await rl.getRemaining(id);
      assert.equal(fresh.remaining, N);
      assert.equal(fresh.limit, N);
      assert.equal((await rl.limit(id)).success, true);
      assert.equal((await rl.limit(id)).success, true);
      assert.equal((await rl.getRemaining(id)).remaining, N - 2);
      for (let i = 0; i < N; i++) await rl.limit(id);
      const empty = await rl.getRemaining(id);
      assert.equal(empty.remaining, 0);
      assert.equal((await rl.limit(id)).success, false);

      await rl.resetUsedTokens(id);
      assert.equal((await rl.getRemaining(id)).remaining, N);
      const again = await rl.limit(id);
      assert.equal(again.success, true);
      assert.equal(again.remaining, N - 1);
    });

    test("limit(id, {rate}) consumes several tokens at once", async () => {
      await avoidWindowEdge();
      const rl = limiter(algo, 10);
      const id = uniq("rate");
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await rl.limit(id, { rate: 3 }));
      assert.deepEqual(
        results.map((r) => r.success),
        [true, true, true, false, false],
      );
      assert.deepEqual(results.slice(0, 3).map((r) => r.remaining), [7, 4, 1]);
    });
  });
}

describe("ephemeral cache and wire details", () => {
  test("with the default ephemeral cache, still exactly N succeed; later calls are blocked locally", async () => {
    await avoidWindowEdge();
    const rl = new Ratelimit({
      redis: ctx.redis,
      limiter: Ratelimit.fixedWindow(N, WINDOW),
      prefix: uniq("rl:cache"),
      timeout: 0,
    });
    const id = uniq("cached");
    const results = [];
    for (let i = 0; i < N + EXTRA; i++) results.push(await rl.limit(id));
    assert.equal(summarize(results), N);
    assert.equal(results[N].reason, undefined, "the first refusal comes from Redis");
    for (const r of results.slice(N + 1)) assert.equal(r.reason, "cacheBlock");
  });

  test("the SDK sends EVALSHA of the shebang script, falls back to EVAL once, and the gateway maps the hash", async () => {
    await avoidWindowEdge();
    const rec = await startRecorder(ctx.stack.url);
    try {
      const redis = client({ url: rec.url, token: ctx.stack.token });
      assert.equal(await redis.scriptFlush(), "OK");
      rec.clear();
      const rl = new Ratelimit({
        redis,
        limiter: Ratelimit.fixedWindow(3, WINDOW),
        prefix: uniq("rl:wire"),
        ephemeralCache: false,
        timeout: 0,
      });
      const id = uniq("w");
      const out = [];
      for (let i = 0; i < 4; i++) out.push((await rl.limit(id)).success);
      assert.deepEqual(out, [true, true, true, false]);
      const cmds = rec.exchanges.flatMap((e) => JSON.parse(e.reqBody));
      assert.deepEqual(cmds.map((c) => c[0]), ["evalsha", "eval", "evalsha", "evalsha", "evalsha"]);
      const FIXED_WINDOW_HASH = "b2efc02798c8e9b471a10f9b1d5745db89923ff3";
      assert.equal(cmds[0][1], FIXED_WINDOW_HASH);
      assert.match(cmds[1][1], /^#!lua flags=allow-key-locking\n/);
      const first = JSON.parse(rec.exchanges[0].resBody)[0];
      assert.match(first.error, /^NOSCRIPT/);
      const second = JSON.parse(rec.exchanges[1].resBody)[0];
      assert.equal(second.error, undefined, `EVAL of the shebang script failed: ${second.error}`);
      // telemetry: the ratelimit SDK tags the redis client
      assert.match(rec.exchanges[0].reqHeaders["upstash-telemetry-sdk"], /@upstash\/redis@v1\.39\.0/);
      assert.match(rec.exchanges.at(-1).reqHeaders["upstash-telemetry-sdk"], /@upstash\/ratelimit@2\.2\.0/);
      assert.deepEqual(await redis.scriptExists(FIXED_WINDOW_HASH), [1]);
    } finally {
      await rec.stop();
    }
  });
});
