// Upstash-Encoding: base64 (the SDK default) vs responseEncoding:false, with
// values that stress it: unicode, control bytes, "OK", base64-looking text.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { useStack, uniq, client, startRecorder } from "./harness.mjs";

const ctx = useStack({ before, after });

const VALUES = {
  emoji: "😀🎉👩‍👩‍👧‍👦",
  cjk: "漢字テスト한국어",
  crlfnul: "line1\r\nline2\0end",
  ok: "OK",
  okLower: "ok",
  pong: "PONG",
  base64ish: "SGVsbG8gV29ybGQ=",
  base64short: "abcd",
  empty: "",
  spaces: "  padded  ",
  tabs: "a\tb\\c\"d'e",
  latin: "café naïve ß",
  json: '{"not":"parsed"}',
  number: "12345",
  long: "x".repeat(10_000) + "é",
  controls: "\u0001\u0002\u001f\u007f",
};

/** deepEqual with a short failure message (the values include a 10 kB string). */
function same(actual, expected, what = "") {
  const clip = (v) => {
    const j = JSON.stringify(v);
    return j && j.length > 120 ? j.slice(0, 120) + `…(${j.length})` : j;
  };
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${what}: expected an array, got ${clip(actual)}`);
    assert.equal(actual.length, expected.length, `${what}: length`);
    for (let i = 0; i < expected.length; i++) same(actual[i], expected[i], `${what}[${i}]`);
    return;
  }
  if (expected && typeof expected === "object") {
    assert.deepEqual(Object.keys(actual ?? {}).sort(), Object.keys(expected).sort(), `${what}: keys`);
    for (const k of Object.keys(expected)) same(actual[k], expected[k], `${what}.${clip(k)}`);
    return;
  }
  assert.ok(actual === expected, `${what}: got ${clip(actual)}, want ${clip(expected)}`);
}

function modes() {
  return [
    ["base64 (default)", {}],
    ["responseEncoding:false", { responseEncoding: false }],
  ];
}

for (const [label, opts] of modes()) {
  describe(`values survive a round trip — ${label}`, () => {
    test("string values via SET/GET (auto-pipelined) and MGET", async () => {
      const redis = client(ctx.stack, { automaticDeserialization: false, ...opts });
      const keys = {};
      for (const name of Object.keys(VALUES)) keys[name] = uniq(`enc:${name}`);
      await Promise.all(Object.entries(VALUES).map(([name, v]) => redis.set(keys[name], v)));
      const got = await Promise.all(Object.keys(VALUES).map((name) => redis.get(keys[name])));
      same(got, Object.values(VALUES), "get");
      // depth 1 inside an array: MGET
      same(await redis.mget(...Object.values(keys)), Object.values(VALUES), "mget");
    });

    test("values as keys, hash fields, list and set members, stream fields", async () => {
      const redis = client(ctx.stack, { automaticDeserialization: false, enableAutoPipelining: false, ...opts });
      const values = Object.values(VALUES);
      const l = uniq("encl");
      await redis.rpush(l, ...values);
      same(await redis.lrange(l, 0, -1), values, "lrange");
      assert.equal(await redis.lindex(l, 3), "OK");
      const h = uniq("ench");
      const obj = Object.fromEntries(Object.entries(VALUES).map(([k, v]) => [`f:${v}`, v]));
      await redis.hset(h, obj);
      // with automaticDeserialization:false the SDK skips its own hgetall
      // transform too: the flat [field, value, ...] array comes back
      const flat = await redis.hgetall(h);
      const asObj = {};
      for (let i = 0; i < flat.length; i += 2) asObj[flat[i]] = flat[i + 1];
      same(asObj, obj, "hgetall");
      same(await redis.hget(h, "f:OK"), "OK", "hget");
      const s = uniq("encs");
      await redis.sadd(s, ...values);
      same((await redis.smembers(s)).sort(), [...values].sort(), "smembers");
      // keys themselves
      const weird = `key:${VALUES.emoji}:${VALUES.cjk}:OK`;
      await redis.set(weird, "v");
      same(await redis.keys(`key:${VALUES.emoji}*`), [weird], "keys");
      // depth 2: XRANGE entries (raw, because automaticDeserialization is off)
      const x = uniq("encx");
      await redis.xadd(x, "1-1", { f1: "OK", f2: VALUES.emoji, f3: VALUES.base64ish, f4: VALUES.crlfnul });
      same(await redis.xrange(x, "-", "+"), [["1-1", ["f1", "OK", "f2", VALUES.emoji, "f3", VALUES.base64ish, "f4", VALUES.crlfnul]]], "xrange");
      // and with the SDK's deserialisation on
      const des = client(ctx.stack, { enableAutoPipelining: false, ...opts });
      same(await des.xrange(x, "-", "+"), { "1-1": { f1: "OK", f2: VALUES.emoji, f3: VALUES.base64ish, f4: VALUES.crlfnul } }, "xrange obj");
      same(await des.hget(h, `f:${VALUES.cjk}`), VALUES.cjk, "hget cjk");
    });

    test("binary bytes from Lua decode the same way in both modes", async () => {
      const redis = client(ctx.stack, { automaticDeserialization: false, ...opts });
      // 0xff is not valid UTF-8: both paths must yield U+FFFD, never break the JSON
      const r = await redis.eval("return string.char(255, 0, 65, 66)", [], []);
      assert.equal(r, "\uFFFD\u0000AB");
      const arr = await redis.eval("return {string.char(0xe2, 0x82, 0xac), 'OK', 7}", [], []);
      assert.deepEqual(arr, ["€", "OK", 7]);
    });

    test("a 2 MiB value with multi-byte characters round-trips", async () => {
      const redis = client(ctx.stack, { automaticDeserialization: false, ...opts });
      const k = uniq("big");
      const chunk = "abc€😀\r\n\0";
      const big = chunk.repeat(Math.ceil((2 * 1024 * 1024) / Buffer.byteLength(chunk)));
      assert.equal(await redis.set(k, big), "OK");
      assert.equal(await redis.strlen(k), Buffer.byteLength(big));
      const got = await redis.get(k);
      assert.equal(got.length, big.length);
      assert.ok(got === big, "2 MiB value differs after the round trip");
    });

    test("status replies and numbers are not mangled", async () => {
      const redis = client(ctx.stack, { ...opts });
      const k = uniq("encst");
      assert.equal(await redis.set(k, "v"), "OK");
      assert.equal(await redis.ping(), "PONG");
      assert.equal(await redis.type(k), "string");
      assert.equal(await redis.incr(uniq("encn")), 1);
      assert.equal(await redis.get(uniq("none")), null);
    });
  });
}

describe("what is on the wire", () => {
  test("default: SDK sends Upstash-Encoding: base64 and every string result is base64", async () => {
    const rec = await startRecorder(ctx.stack.url);
    try {
      const redis = client({ url: rec.url, token: ctx.stack.token }, { enableAutoPipelining: false });
      const l = uniq("wire");
      await redis.rpush(l, "OK", "hello", "OK");
      rec.clear();
      assert.deepEqual(await redis.lrange(l, 0, -1), ["OK", "hello", "OK"]);
      const ex = rec.exchanges[0];
      assert.equal(ex.reqHeaders["upstash-encoding"], "base64");
      assert.deepEqual(JSON.parse(ex.resBody), { result: ["T0s=", "aGVsbG8=", "T0s="] }, "a nested OK must be encoded");

      rec.clear();
      await redis.set(l + ":s", "OK");
      assert.equal(await redis.get(l + ":s"), "OK");
      const getRes = JSON.parse(rec.exchanges[1].resBody).result;
      assert.ok(getRes === "T0s=" || getRes === "OK", `GET of "OK" answered ${getRes}`);
      assert.equal(JSON.parse(rec.exchanges[0].resBody).result, "OK");
    } finally {
      await rec.stop();
    }
  });

  test("responseEncoding:false: no Upstash-Encoding header, plain JSON strings", async () => {
    const rec = await startRecorder(ctx.stack.url);
    try {
      const redis = client({ url: rec.url, token: ctx.stack.token }, { responseEncoding: false, enableAutoPipelining: false });
      const k = uniq("plain");
      await redis.set(k, VALUES.emoji);
      rec.clear();
      assert.equal(await redis.get(k), VALUES.emoji);
      assert.equal(rec.exchanges[0].reqHeaders["upstash-encoding"], undefined);
      assert.deepEqual(JSON.parse(rec.exchanges[0].resBody), { result: VALUES.emoji });
    } finally {
      await rec.stop();
    }
  });
});
