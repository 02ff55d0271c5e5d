// Pub/sub through the SDK's SSE subscriber (POST /subscribe/<channel>).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { useStack, uniq, sleep, CLUSTER } from "./harness.mjs";

const ctx = useStack({ before, after });

/** Resolve on the SDK subscriber's `event`; reject on its "error" event or a timeout. */
function waitFor(sub, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no "${event}" event within ${ms} ms`)), ms);
    sub.on(event, (data) => {
      clearTimeout(t);
      resolve(data);
    });
    sub.on("error", (err) => {
      clearTimeout(t);
      reject(new Error(`subscriber error before "${event}": ${err?.message ?? err}`));
    });
  });
}

// Cluster exception: PUBLISH answers the subscribers of the node it ran on (Redis Cluster's own
// count: the message reaches the subscribers of every node), and the gateway sends keyless
// commands to its primaries in turn; its one subscription per channel, on one primary, counts
// there only. So one PUBLISH answers 0 or 1 (the messages the tests receive show the delivery),
// and the receivers of a channel are the sum of one PUBLISH per primary (3 in a row).
function published(n, want) {
  if (CLUSTER) assert.ok(n === 0 || n === want, `publish answered ${n}, want 0 or ${want}`);
  else assert.equal(n, want);
}

async function publishUntil(redis, channel, message, wantReceivers, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    let n = 0;
    for (let i = 0; i < (CLUSTER ? 3 : 1); i++) n += await redis.publish(channel, message);
    if (n === wantReceivers || Date.now() > deadline) return n;
    await sleep(50);
  }
}

test("subscribe receives published messages (JSON and plain) and unsubscribe frees the channel", async () => {
  const { redis } = ctx;
  const channel = uniq("chan");
  const sub = redis.subscribe(channel);
  const errors = [];
  sub.on("error", (e) => errors.push(e));
  try {
    assert.equal(await waitFor(sub, "subscribe"), 1);
    assert.deepEqual(sub.getSubscribedChannels(), [channel]);

    const messages = [];
    sub.on("message", (m) => messages.push(m));
    published(await redis.publish(channel, { hello: "world", n: 1 }), 1);
    published(await redis.publish(channel, "plain text, with commas"), 1);
    const deadline = Date.now() + 5000;
    while (messages.length < 2 && Date.now() < deadline) await sleep(20);
    assert.deepEqual(messages, [
      { channel, message: { hello: "world", n: 1 } },
      { channel, message: "plain text, with commas" },
    ]);
  } finally {
    await sub.unsubscribe();
  }
  // the aborted request must end the Redis subscription
  assert.equal(await publishUntil(redis, channel, "gone", 0), 0, "subscription still alive after unsubscribe");
  assert.deepEqual(errors, []);
});

test("psubscribe receives pmessage events", async () => {
  const { redis } = ctx;
  const base = uniq("pchan");
  const sub = redis.psubscribe(`${base}:*`);
  try {
    assert.equal(await waitFor(sub, "psubscribe"), 1);
    const got = waitFor(sub, "pmessage");
    published(await redis.publish(`${base}:one`, 42), 1);
    assert.deepEqual(await got, { pattern: `${base}:*`, channel: `${base}:one`, message: 42 });
  } finally {
    await sub.unsubscribe();
  }
  assert.equal(await publishUntil(redis, `${base}:two`, "x", 0), 0);
});

test("several channels: one stream each, per-channel events, unsubscribing one keeps the other", async () => {
  const { redis } = ctx;
  const a = uniq("multi-a");
  const b = uniq("multi-b");
  const sub = redis.subscribe([a, b]);
  const counts = [];
  const subscribed = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`subscribe events: ${counts}`)), 5000);
    sub.on("subscribe", (n) => {
      counts.push(n);
      if (counts.length === 2) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  const all = [];
  const onB = [];
  sub.on("message", (m) => all.push(m));
  sub.on(`message:${b}`, (m) => onB.push(m.message));
  try {
    await subscribed;
    // Each channel has its own stream, whose count starts at 1.
    assert.deepEqual(counts, [1, 1]);
    assert.deepEqual(sub.getSubscribedChannels(), [a, b]);
    published(await redis.publish(a, "to a"), 1);
    published(await redis.publish(b, "line one\nline two"), 1);
    published(await redis.publish(b, [1, "two"]), 1);
    const deadline = Date.now() + 5000;
    while (all.length < 3 && Date.now() < deadline) await sleep(20);
    // Streams are independent: order holds within a channel, not across them.
    assert.deepEqual(all.filter((m) => m.channel === a), [{ channel: a, message: "to a" }]);
    assert.deepEqual(all.filter((m) => m.channel === b), [
      { channel: b, message: "line one\nline two" },
      { channel: b, message: [1, "two"] },
    ]);
    assert.deepEqual(onB, ["line one\nline two", [1, "two"]]);

    await sub.unsubscribe([a]);
    assert.deepEqual(sub.getSubscribedChannels(), [b]);
    assert.equal(await publishUntil(redis, a, "gone", 0), 0, "channel a still subscribed");
    published(await redis.publish(b, "still here"), 1);
    const until = Date.now() + 5000;
    while (onB.length < 3 && Date.now() < until) await sleep(20);
    assert.deepEqual(onB.at(-1), "still here");
  } finally {
    await sub.unsubscribe();
  }
  assert.equal(await publishUntil(redis, b, "gone", 0), 0, "channel b still subscribed");
});
