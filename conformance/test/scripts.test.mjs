// EVAL / EVALSHA / EVAL_RO / SCRIPT *, createScript, and the
// "#!lua flags=allow-key-locking" shebang that @upstash/ratelimit 2.1+ sends.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { useStack, uniq, rejection, client, startRecorder } from "./harness.mjs";

const ctx = useStack({ before, after });
const sha1 = (s) => createHash("sha1").update(s).digest("hex");
const MISSING_SHA = "ffffffffffffffffffffffffffffffffffffffff";

describe("eval / evalsha", () => {
  test("eval returns strings, integers, tables, nil, booleans", async () => {
    const { redis } = ctx;
    const k = uniq("ev");
    assert.equal(await redis.eval("return ARGV[1]", [], ["hello"]), "hello");
    assert.deepEqual(await redis.eval("return {KEYS[1], ARGV[1], 42}", [k], ["v"]), [k, "v", 42]);
    assert.equal(await redis.eval("return 3.99", [], []), 3, "Lua numbers become integers");
    assert.equal(await redis.eval("return true", [], []), 1);
    assert.equal(await redis.eval("return false", [], []), null);
    assert.equal(await redis.eval("return nil", [], []), null);
    assert.deepEqual(await redis.eval("return {1, {2, {3, 'x'}}}", [], []), [1, [2, [3, "x"]]]);
  });

  test("eval writing keys; status replies at top level and nested", async () => {
    const { redis } = ctx;
    const k = uniq("evset");
    assert.equal(await redis.eval("return redis.call('SET', KEYS[1], ARGV[1])", [k], ["val"]), "OK");
    assert.equal(await redis.get(k), "val");
    // a status reply inside an array must be base64 encoded too ("T0s=")
    assert.deepEqual(await redis.eval("return {redis.call('SET', KEYS[1], 'x'), redis.call('GET', KEYS[1]), redis.status_reply('PONG')}", [k], []), ["OK", "x", "PONG"]);
    assert.equal(await redis.eval("return redis.status_reply('DONE')", [], []), "DONE");
  });

  test("script errors reject with the Redis message", async () => {
    const { redis } = ctx;
    const err = await rejection(redis.eval("return redis.error_reply('MYERR custom failure')", [], []));
    assert.match(err.message, /MYERR custom failure/);
    const err2 = await rejection(redis.eval("this is not lua", [], []));
    assert.match(err2.message, /ERR Error compiling script/);
    const l = uniq("evwt");
    await redis.rpush(l, "x");
    const err3 = await rejection(redis.eval("return redis.call('GET', KEYS[1])", [l], []));
    assert.match(err3.message, /WRONGTYPE/);
  });

  test("scriptLoad / evalsha / scriptExists / NOSCRIPT", async () => {
    const { redis } = ctx;
    const script = "return {KEYS[1], ARGV[1], ARGV[2]}";
    const sha = await redis.scriptLoad(script);
    assert.equal(sha, sha1(script));
    assert.deepEqual(await redis.evalsha(sha, ["k1"], ["a", "b"]), ["k1", "a", "b"]);
    assert.deepEqual(await redis.evalsha(sha.toUpperCase(), ["k1"], ["a", "b"]), ["k1", "a", "b"]);
    assert.deepEqual(await redis.scriptExists(sha, MISSING_SHA), [1, 0]);
    const err = await rejection(redis.evalsha(MISSING_SHA, [], []));
    assert.match(err.message, /NOSCRIPT/);
  });

  test("evalRo / evalshaRo; a write inside a read-only script is refused", async () => {
    const { redis } = ctx;
    const k = uniq("ro");
    await redis.set(k, "readme");
    assert.equal(await redis.evalRo("return redis.call('GET', KEYS[1])", [k], []), "readme");
    const sha = await redis.scriptLoad("return redis.call('GET', KEYS[1])");
    assert.equal(await redis.evalshaRo(sha, [k], []), "readme");
    const err = await rejection(redis.evalRo("return redis.call('SET', KEYS[1], 'x')", [k], []));
    assert.match(err.message, /Write commands are not allowed from read-only scripts/);
    assert.equal(await redis.get(k), "readme");
  });
});

describe("createScript", () => {
  test("exec: EVALSHA first, falls back to EVAL on NOSCRIPT, then EVALSHA hits", async () => {
    const rec = await startRecorder(ctx.stack.url);
    try {
      const redis = client({ url: rec.url, token: ctx.stack.token });
      const body = `return {ARGV[1], '${uniq("nonce")}'}`;
      const script = redis.createScript(body);
      const first = await script.exec([], ["one"]);
      assert.equal(first[0], "one");
      const second = await script.exec([], ["two"]);
      assert.equal(second[0], "two");
      assert.equal(script.sha1, sha1(body));
      const cmds = rec.exchanges.flatMap((e) => JSON.parse(e.reqBody)).map((c) => c[0]);
      assert.deepEqual(cmds, ["evalsha", "eval", "evalsha"]);
      const firstRes = JSON.parse(rec.exchanges[0].resBody);
      assert.match(firstRes[0].error, /^NOSCRIPT/);
      assert.equal("result" in firstRes[0], false);
      assert.deepEqual(await redis.scriptExists(script.sha1), [1]);
    } finally {
      await rec.stop();
    }
  });

  test("script.eval / script.evalsha / readonly script", async () => {
    const { redis } = ctx;
    const k = uniq("cs");
    await redis.set(k, 41);
    const incr = redis.createScript("return redis.call('INCR', KEYS[1])");
    assert.equal(await incr.eval([k], []), 42);
    assert.equal(await incr.evalsha([k], []), 43);
    const ro = redis.createScript("return redis.call('GET', KEYS[1])", { readonly: true });
    assert.equal(await ro.exec([k], []), 43);
    assert.equal(await ro.evalRo([k], []), 43);
    assert.equal(await ro.evalshaRo([k], []), 43);
  });

  test("scriptFlush empties the cache; exec still works via fallback", async () => {
    const { redis } = ctx;
    const script = redis.createScript(`return '${uniq("flush")}'`);
    await script.exec([], []);
    await script.init?.(script.script);
    assert.deepEqual(await redis.scriptExists(script.sha1), [1]);
    assert.equal(await redis.scriptFlush(), "OK");
    assert.deepEqual(await redis.scriptExists(script.sha1), [0]);
    const err = await rejection(script.evalsha([], []));
    assert.match(err.message, /NOSCRIPT/);
    assert.match(await script.exec([], []), /^flush:/);
    assert.deepEqual(await redis.scriptExists(script.sha1), [1]);
  });
});

describe("#!lua flags=allow-key-locking (ratelimit 2.1+ shebang)", () => {
  const SHEBANG = "#!lua flags=allow-key-locking";

  test("EVAL of a script with the flag works and runs the body", async () => {
    const { redis } = ctx;
    const k = uniq("akl");
    const body = `${SHEBANG}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`;
    assert.equal(await redis.eval(body, [k], [5]), 5);
    assert.equal(await redis.eval(body, [k], [5]), 10);
  });

  test("EVALSHA with the hash of the original text works after EVAL / SCRIPT LOAD", async () => {
    const { redis } = ctx;
    const k = uniq("akl2");
    const body = `${SHEBANG}\n-- ${uniq("nonce")}\nreturn redis.call('INCR', KEYS[1])`;
    const orig = sha1(body);
    assert.deepEqual(await redis.scriptExists(orig), [0]);
    const err = await rejection(redis.evalsha(orig, [k], []));
    assert.match(err.message, /NOSCRIPT/, "NOSCRIPT passes through before the script is known");
    assert.equal(await redis.eval(body, [k], []), 1);
    assert.deepEqual(await redis.scriptExists(orig), [1]);
    assert.equal(await redis.evalsha(orig, [k], []), 2);

    const body2 = `${SHEBANG}\n-- ${uniq("nonce")}\nreturn ARGV[1]`;
    assert.equal(await redis.scriptLoad(body2), sha1(body2), "SCRIPT LOAD answers the hash of the original text");
    assert.deepEqual(await redis.scriptExists(sha1(body2), orig, MISSING_SHA), [1, 1, 0]);
    assert.equal(await redis.evalsha(sha1(body2), [], ["arg"]), "arg");
  });

  test("the shebang line is kept: *_RO needs no-writes, exactly as in Redis 7", async () => {
    const { redis } = ctx;
    const k = uniq("akl5");
    await redis.set(k, "v");
    // With a shebang but without no-writes, Redis refuses EVAL_RO / EVALSHA_RO.
    const plain = `${SHEBANG}\n-- ${uniq("nonce")}\nreturn redis.call('GET', KEYS[1])`;
    const err = await rejection(redis.evalRo(plain, [k], []));
    assert.match(err.message, /Can not execute a script with write flag using \*_ro command/);
    await redis.scriptLoad(plain);
    const err2 = await rejection(redis.evalshaRo(sha1(plain), [k], []));
    assert.match(err2.message, /Can not execute a script with write flag using \*_ro command/);
    // With no-writes kept, both work, by text and by the original hash.
    const ro = `#!lua flags=allow-key-locking,no-writes\n-- ${uniq("nonce")}\nreturn redis.call('GET', KEYS[1])`;
    assert.equal(await redis.evalRo(ro, [k], []), "v");
    assert.equal(await redis.evalshaRo(sha1(ro), [k], []), "v");
    assert.deepEqual(await redis.scriptExists(sha1(ro)), [1]);
  });

  test("createScript with the flag: exec falls back to EVAL then hits EVALSHA", async () => {
    const rec = await startRecorder(ctx.stack.url);
    try {
      const redis = client({ url: rec.url, token: ctx.stack.token });
      const k = uniq("akl3");
      const script = redis.createScript(`${SHEBANG}\n-- ${uniq("nonce")}\nreturn redis.call('INCR', KEYS[1])`);
      assert.equal(await script.exec([k], []), 1);
      assert.equal(await script.exec([k], []), 2);
      assert.equal(await script.exec([k], []), 3);
      const cmds = rec.exchanges.flatMap((e) => JSON.parse(e.reqBody)).map((c) => c[0]);
      assert.deepEqual(cmds, ["evalsha", "eval", "evalsha", "evalsha"]);
    } finally {
      await rec.stop();
    }
  });

  test("other flags are kept: allow-key-locking,no-writes still forbids writes", async () => {
    const { redis } = ctx;
    const k = uniq("akl4");
    const ro = `#!lua flags=allow-key-locking,no-writes\nreturn redis.call('GET', KEYS[1])`;
    await redis.set(k, "v");
    assert.equal(await redis.eval(ro, [k], []), "v");
    const rw = `#!lua flags=no-writes,allow-key-locking\nreturn redis.call('SET', KEYS[1], 'x')`;
    const err = await rejection(redis.eval(rw, [k], []));
    assert.match(err.message, /Write commands are not allowed from read-only scripts/);
    assert.equal(await redis.get(k), "v");
  });

  test("line numbers in errors are preserved (the shebang line stays)", async () => {
    const { redis } = ctx;
    const body = `${SHEBANG}\nlocal x = nil\nreturn x.field`;
    const err = await rejection(redis.eval(body, [], []));
    assert.match(err.message, /user_script:3:/);
  });

  test("a flag unknown to everyone is either refused by Redis or stripped, never half-applied", async () => {
    // API.md only names allow-key-locking; redisgate may pass other unknown
    // flags to Redis (which refuses them) or strip them too. Both are fine;
    // anything else (another error, a wrong result) is not.
    const { redis } = ctx;
    const out = await redis
      .eval("#!lua flags=no-such-flag\nreturn 1", [], [])
      .then((v) => ({ v }))
      .catch((e) => ({ e }));
    if (out.e) assert.match(out.e.message, /Unexpected flag in script shebang: no-such-flag/);
    else assert.equal(out.v, 1);
  });
});
