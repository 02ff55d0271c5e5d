// ioredis against redisgate's Redis-protocol listener: commands, a pipeline, MULTI, WATCH and
// pub/sub. Run by respserver's TestIORedis with REDISGATE_ADDR (host:port) and REDISGATE_TOKEN;
// it exits non-zero, saying why, at the first reply that is not what Redis would answer.
import assert from "node:assert/strict";
import Redis from "ioredis";

const [host, port] = process.env.REDISGATE_ADDR.split(":");
const token = process.env.REDISGATE_TOKEN;
const open = () => new Redis({ host, port: Number(port), password: token, maxRetriesPerRequest: 1, lazyConnect: true });

const c = open();
const sub = open();
let checks = 0;
let current = "connect";
const watchdog = setTimeout(() => { console.log(`ioredis: stuck in ${current} for 30 s`); process.exit(2); }, 30000);
watchdog.unref();
const check = (name, fn) => {
  current = name;
  return fn().then(() => checks++, (e) => { throw new Error(`${name}: ${e.stack || e}`); });
};

try {
  await c.connect();
  await sub.connect();

  await check("commands", async () => {
    assert.equal(await c.set("s", "hello"), "OK");
    assert.equal(await c.get("s"), "hello");
    assert.equal(await c.incr("n"), 1);
    assert.equal(await c.incrby("n", 41), 42);
    assert.equal(await c.hset("h", { a: "1", b: "2" }), 2);
    assert.deepEqual(await c.hgetall("h"), { a: "1", b: "2" });
    assert.equal(await c.rpush("l", "x", "y", "z"), 3);
    assert.deepEqual(await c.lrange("l", 0, -1), ["x", "y", "z"]);
    assert.equal(await c.zadd("z", 1, "one", 2, "two"), 2);
    assert.deepEqual(await c.zrange("z", 0, -1, "WITHSCORES"), ["one", "1", "two", "2"]);
    assert.deepEqual(await c.mget("s", "n", "nothing"), ["hello", "42", null]);
    assert.equal(await c.expire("s", 100), 1);
    assert.ok((await c.ttl("s")) > 0);
    const bin = Buffer.from([0, 1, 2, 255, 13, 10]);
    await c.set("bin", bin);
    assert.deepEqual(await c.getBuffer("bin"), bin);
    assert.equal(await c.eval("return ARGV[1]..KEYS[1]", 1, "k", "v"), "vk");
    await assert.rejects(c.lpush("s", "wrongtype"), /WRONGTYPE/);
    assert.equal(await c.del("s", "n", "h", "l", "z", "bin"), 6);
  });

  await check("pipeline", async () => {
    const p = c.pipeline();
    for (let i = 0; i < 1000; i++) p.set(`p${i}`, String(i)).get(`p${i}`);
    const res = await p.exec();
    assert.equal(res.length, 2000);
    for (let i = 0; i < 1000; i++) {
      assert.deepEqual(res[2 * i], [null, "OK"]);
      assert.deepEqual(res[2 * i + 1], [null, String(i)]);
    }
  });

  await check("multi", async () => {
    const res = await c.multi().set("m", "1").incr("m").get("m").exec();
    assert.deepEqual(res, [[null, "OK"], [null, 2], [null, "2"]]);
  });

  await check("watch", async () => {
    await c.watch("w");
    await c.get("w");
    const other = open();
    await other.connect();
    await other.set("w", "changed");
    other.disconnect();
    assert.equal(await c.multi().set("w", "mine").exec(), null); // aborted: w changed
    await c.watch("w");
    assert.deepEqual(await c.multi().set("w", "mine").exec(), [[null, "OK"]]);
    assert.equal(await c.get("w"), "mine");
  });

  await check("subscribe", async () => {
    const got = [];
    current = "subscribe (received: " + JSON.stringify(got) + ")";
    const all = new Promise((resolve) => {
      sub.on("message", (ch, msg) => { got.push(`${ch}:${msg}`); if (got.length === 4) resolve(); });
      sub.on("pmessage", (pat, ch, msg) => { got.push(`${pat}:${ch}:${msg}`); if (got.length === 4) resolve(); });
    });
    assert.equal(await sub.subscribe("a", "b"), 2);
    assert.equal(await sub.psubscribe("n*"), 3);
    await assert.rejects(sub.get("x"), /subscriber mode|only \(P\|S\)SUBSCRIBE/);
    assert.equal(await c.publish("a", "1"), 1);
    await c.publish("b", "2");
    await c.publish("news", "3");
    await c.publish("a", "4");
    current = { toString: () => "subscribe, waiting for 4 messages, received: " + JSON.stringify(got) };
    await all;
    assert.deepEqual(got, ["a:1", "b:2", "n*:news:3", "a:4"]);
    // By name: ioredis's unsubscribe() without names waits for a count of 0, which never
    // comes while patterns remain, from Redis itself too.
    current = "unsubscribe";
    assert.equal(await sub.unsubscribe("a", "b"), 1);
    current = "punsubscribe";
    assert.equal(await sub.punsubscribe("n*"), 0);
    current = "ping";
    assert.equal(await sub.ping(), "PONG");
  });
  console.log(`ioredis: ${checks} passed, 0 failed`);
} finally {
  c.disconnect();
  sub.disconnect();
}
