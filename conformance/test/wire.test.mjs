// Raw HTTP checks of the contract points the SDK relies on (API.md). These
// bypass the SDK so that a failure names the exact wire difference.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { useStack, uniq, rawRequest } from "./harness.mjs";

const ctx = useStack({ before, after });
const b64 = (s) => Buffer.from(s, "utf8").toString("base64");

describe("single command POST /", () => {
  test("200 {result} for values and for null", async () => {
    const k = uniq("w");
    let r = await rawRequest(ctx.stack, "/", ["SET", k, "v", "EX", 100]);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { result: "OK" });
    assert.match(r.headers.get("content-type") ?? "", /application\/json/);
    r = await rawRequest(ctx.stack, "/", ["GET", k]);
    assert.deepEqual(r.json, { result: "v" });
    r = await rawRequest(ctx.stack, "/", ["GET", uniq("none")]);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { result: null });
    assert.ok(r.text.includes('"result"'), "the result key is present for null");
    r = await rawRequest(ctx.stack, "/", ["TTL", k]);
    assert.ok(r.json.result === 100 || r.json.result === 99);
  });

  test("numbers and booleans in the JSON array become their literal text", async () => {
    const k = uniq("lit");
    let r = await rawRequest(ctx.stack, "/", ["SET", k, 12.5]);
    assert.deepEqual(r.json, { result: "OK" });
    r = await rawRequest(ctx.stack, "/", ["GET", k]);
    assert.deepEqual(r.json, { result: "12.5" });
    await rawRequest(ctx.stack, "/", ["SET", k, true]);
    r = await rawRequest(ctx.stack, "/", ["GET", k]);
    assert.deepEqual(r.json, { result: "true" });
  });

  test("a Redis error is 400 {error}", async () => {
    const k = uniq("err");
    await rawRequest(ctx.stack, "/", ["SET", k, "x"]);
    const r = await rawRequest(ctx.stack, "/", ["LPUSH", k, "y"]);
    assert.equal(r.status, 400);
    assert.deepEqual(Object.keys(r.json), ["error"]);
    assert.match(r.json.error, /^WRONGTYPE/);
  });

  test("null or object arguments are a 400 with a JSON error", async () => {
    for (const body of [["SET", "k", null], ["SET", "k", { a: 1 }]]) {
      const r = await rawRequest(ctx.stack, "/", body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(typeof r.json?.error, "string");
    }
  });
});

describe("pipeline and multi-exec", () => {
  test("/pipeline: one entry per command, exactly one key each", async () => {
    const k = uniq("wp");
    const r = await rawRequest(ctx.stack, "/pipeline", [
      ["SET", k, "s"],
      ["LPUSH", k, "x"],
      ["GET", k],
      ["GET", uniq("none")],
      ["SELECT", "1"],
      ["INCR", uniq("c")],
    ]);
    assert.equal(r.status, 200);
    assert.equal(r.json.length, 6);
    assert.deepEqual(r.json[0], { result: "OK" });
    assert.deepEqual(Object.keys(r.json[1]), ["error"]);
    assert.match(r.json[1].error, /^WRONGTYPE/);
    assert.deepEqual(r.json[2], { result: "s" });
    assert.deepEqual(r.json[3], { result: null });
    assert.deepEqual(Object.keys(r.json[4]), ["error"], "a refused command is an error entry, not a failed request");
    assert.deepEqual(r.json[5], { result: 1 });
  });

  test("/multi-exec: results, and an EXEC-time error as that entry's {error}", async () => {
    const k = uniq("wm");
    const r = await rawRequest(ctx.stack, "/multi-exec", [
      ["SET", k, "s"],
      ["LPUSH", k, "x"],
      ["GET", k],
    ]);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json[0], { result: "OK" });
    assert.deepEqual(Object.keys(r.json[1]), ["error"]);
    assert.match(r.json[1].error, /^WRONGTYPE/);
    assert.deepEqual(r.json[2], { result: "s" });
  });

  test("/multi-exec discarded as a whole is one 400 {error}", async () => {
    const k = uniq("wmq");
    const r = await rawRequest(ctx.stack, "/multi-exec", [["SET", k, "v"], ["GET"]]);
    assert.equal(r.status, 400);
    assert.equal(Array.isArray(r.json), false);
    assert.equal(typeof r.json.error, "string");
    const g = await rawRequest(ctx.stack, "/", ["EXISTS", k]);
    assert.deepEqual(g.json, { result: 0 });
  });
});

describe("Upstash-Encoding: base64", () => {
  test("strings at every depth are base64; integers and null are not; top-level OK may stay", async () => {
    const H = { "Upstash-Encoding": "base64" };
    const l = uniq("wb");
    let r = await rawRequest(ctx.stack, "/", ["RPUSH", l, "OK", "é", ""], H);
    assert.deepEqual(r.json, { result: 3 });
    r = await rawRequest(ctx.stack, "/", ["LRANGE", l, 0, -1], H);
    assert.deepEqual(r.json, { result: [b64("OK"), b64("é"), ""] });
    r = await rawRequest(ctx.stack, "/", ["SET", l + ":s", "v"], H);
    assert.ok(r.json.result === "OK" || r.json.result === b64("OK"));
    r = await rawRequest(ctx.stack, "/", ["EVAL", "return {1, 'a', {redis.status_reply('OK'), false}}", 0], H);
    assert.deepEqual(r.json, { result: [1, b64("a"), [b64("OK"), null]] });
    r = await rawRequest(ctx.stack, "/pipeline", [["GET", l + ":s"], ["LLEN", l], ["GET", uniq("none")]], H);
    assert.deepEqual(r.json, [{ result: b64("v") }, { result: 3 }, { result: null }]);
    r = await rawRequest(ctx.stack, "/", ["LPUSH", l + ":s", "x"], H);
    assert.equal(r.status, 400);
    assert.match(r.json.error, /^WRONGTYPE/, "errors are not encoded");
  });
});

describe("headers", () => {
  test("upstash-sync-token on every response, fresh each time", async () => {
    const seen = new Set();
    const reqs = [
      ["/", ["PING"]],
      ["/pipeline", [["PING"], ["PING"]]],
      ["/multi-exec", [["PING"]]],
      ["/", ["LPUSH", "__nope__"]], // 400
    ];
    for (const [p, body] of reqs) {
      const r = await rawRequest(ctx.stack, p, body, { "upstash-sync-token": "" });
      const tok = r.headers.get("upstash-sync-token");
      assert.ok(tok, `no upstash-sync-token on ${p} (status ${r.status})`);
      assert.ok(!seen.has(tok), `repeated token on ${p}`);
      seen.add(tok);
    }
  });

  test("auth: 401 JSON for missing / wrong token; _token works; a wrong header does not fall back", async () => {
    const url = ctx.stack.url;
    let res = await fetch(url + "/", { method: "POST", body: '["PING"]', signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { error: "WRONGPASS invalid or missing auth token" });
    res = await fetch(url + "/", { method: "POST", headers: { Authorization: "Bearer nope" }, body: '["PING"]', signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { error: "WRONGPASS invalid or missing auth token" });
    res = await fetch(`${url}/?_token=${encodeURIComponent(ctx.stack.token)}`, { method: "POST", body: '["PING"]', signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { result: "PONG" });
    res = await fetch(`${url}/?_token=${encodeURIComponent(ctx.stack.token)}`, {
      method: "POST",
      headers: { Authorization: "Bearer nope" },
      body: '["PING"]',
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(res.status, 401);
  });

  test("telemetry headers are accepted", async () => {
    const r = await rawRequest(ctx.stack, "/", ["PING"], {
      "Upstash-Telemetry-Runtime": "node@v20",
      "Upstash-Telemetry-Platform": "unknown",
      "Upstash-Telemetry-Sdk": "@upstash/redis@v1.39.0,@upstash/ratelimit@2.2.0",
      "Upstash-Telemetry-Retry": "1",
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { result: "PONG" });
  });

  test("CORS: preflight allows the SDK's headers; responses expose upstash-sync-token", async () => {
    const sdkHeaders = ["authorization", "content-type", "upstash-encoding", "upstash-sync-token", "upstash-telemetry-runtime", "upstash-telemetry-platform", "upstash-telemetry-sdk"];
    const res = await fetch(ctx.stack.url + "/pipeline", {
      method: "OPTIONS",
      headers: {
        Origin: "https://example.test",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": sdkHeaders.join(","),
      },
      signal: AbortSignal.timeout(5000),
    });
    await res.arrayBuffer();
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/\s*,\s*/);
    if (!allowed.includes("*")) for (const h of sdkHeaders) assert.ok(allowed.includes(h), `preflight does not allow ${h}: ${allowed}`);
    const r = await rawRequest(ctx.stack, "/", ["PING"], { Origin: "https://example.test" });
    assert.equal(r.headers.get("access-control-allow-origin"), "*");
    assert.match((r.headers.get("access-control-expose-headers") ?? "").toLowerCase(), /upstash-sync-token|\*/);
  });
});

describe("path commands", () => {
  test("GET /set/<k>/<v>, POST body as last argument, query args after the body", async () => {
    const k = uniq("path");
    let r = await rawRequest(ctx.stack, `/set/${encodeURIComponent(k)}/hello%20world`, undefined, {}, "GET");
    assert.deepEqual(r.json, { result: "OK" });
    r = await rawRequest(ctx.stack, `/get/${encodeURIComponent(k)}`, undefined, {}, "GET");
    assert.deepEqual(r.json, { result: "hello world" });
    r = await rawRequest(ctx.stack, `/SET/${encodeURIComponent(k)}?EX=100`, "body value", { "Content-Type": "text/plain" });
    assert.deepEqual(r.json, { result: "OK" });
    r = await rawRequest(ctx.stack, `/get/${encodeURIComponent(k)}`, undefined, {}, "GET");
    assert.deepEqual(r.json, { result: "body value" });
    r = await rawRequest(ctx.stack, `/ttl/${encodeURIComponent(k)}`, undefined, {}, "GET");
    assert.ok(r.json.result === 100 || r.json.result === 99, JSON.stringify(r.json));
  });
});
