// Bitmaps, bitfield, HyperLogLog, geo.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { useStack, uniq, client, CLUSTER, slotUniq, crossKeys, assertCrossSlot } from "./harness.mjs";

const ctx = useStack({ before, after });

describe("bitmaps", () => {
  test("setbit / getbit / bitcount", async () => {
    const { redis } = ctx;
    const k = uniq("bits");
    assert.equal(await redis.setbit(k, 7, 1), 0);
    assert.equal(await redis.setbit(k, 7, 1), 1);
    assert.equal(await redis.getbit(k, 7), 1);
    assert.equal(await redis.getbit(k, 6), 0);
    assert.equal(await redis.getbit(k, 10_000), 0);
    assert.equal(await redis.bitcount(k), 1);
    const s = uniq("foobar");
    await redis.set(s, "foobar");
    assert.equal(await redis.bitcount(s), 26);
    assert.equal(await redis.bitcount(s, 0, 0), 4);
    assert.equal(await redis.bitcount(s, 1, 1), 6);
    assert.equal(await redis.bitcount(uniq("none")), 0);
  });

  test("bitpos", async () => {
    const { redis } = ctx;
    const s = uniq("bp");
    await redis.set(s, "foobar"); // 'f' = 0x66 = 01100110
    assert.equal(await redis.bitpos(s, 1), 1);
    assert.equal(await redis.bitpos(s, 0), 0);
    assert.equal(await redis.bitpos(s, 1, 2), 17); // 'o' = 0x6f = 01101111 at byte 2
    const z = uniq("bpz");
    await redis.setbit(z, 20, 1);
    assert.equal(await redis.bitpos(z, 1), 20);
    assert.equal(await redis.bitpos(uniq("none"), 1), -1);
  });

  test("bitop and / or / xor / not", async () => {
    const { redis } = ctx;
    // Cluster exception: BITOP over several slots.
    if (CLUSTER) await assertCrossSlot(ctx.stack, ["BITOP", "AND", ...crossKeys("bx", 3)]);
    const a = slotUniq("ba");
    const b = slotUniq("bb");
    const d = slotUniq("bd");
    await redis.setbit(a, 0, 1);
    await redis.setbit(a, 3, 1);
    await redis.setbit(b, 3, 1);
    await redis.setbit(b, 5, 1);
    assert.equal(await redis.bitop("and", d, a, b), 1);
    assert.equal(await redis.bitcount(d), 1);
    assert.equal(await redis.getbit(d, 3), 1);
    assert.equal(await redis.bitop("or", d, a, b), 1);
    assert.equal(await redis.bitcount(d), 3);
    assert.equal(await redis.bitop("xor", d, a, b), 1);
    assert.equal(await redis.bitcount(d), 2);
    assert.equal(await redis.bitop("not", d, a), 1);
    assert.equal(await redis.bitcount(d), 6);
  });

  test("bitfield (needs a client without auto-pipelining, see README)", async () => {
    const redis = client(ctx.stack, { enableAutoPipelining: false });
    const k = uniq("bf");
    assert.deepEqual(await redis.bitfield(k).set("u8", 0, 200).get("u8", 0).incrby("u8", 0, 100).exec(), [0, 200, 44]);
    assert.deepEqual(await redis.bitfield(k).overflow("sat").incrby("u8", 0, 250).exec(), [255]);
    assert.deepEqual(await redis.bitfield(k).overflow("fail").incrby("u8", 0, 1).exec(), [null]);
    assert.deepEqual(await redis.bitfield(k).get("i4", 0).get("u4", "#1").exec(), [-1, 15]);
    // bitfield inside an explicit pipeline works with auto-pipelining on
    const p = ctx.redis.pipeline();
    p.bitfield(k).set("u8", 8, 7).exec();
    p.get(k);
    const res = await p.exec();
    assert.deepEqual(res[0], [0]);
  });
});

describe("hyperloglog", () => {
  test("pfadd / pfcount / pfmerge", async () => {
    const { redis } = ctx;
    // Cluster exception: PFCOUNT and PFMERGE over several slots.
    if (CLUSTER) await assertCrossSlot(ctx.stack, ["PFCOUNT", ...crossKeys("hllx", 2)]);
    if (CLUSTER) await assertCrossSlot(ctx.stack, ["PFMERGE", ...crossKeys("hllx", 3)]);
    const a = slotUniq("hlla");
    const b = slotUniq("hllb");
    const d = slotUniq("hlld");
    assert.equal(await redis.pfadd(a, "x", "y", "z"), 1);
    assert.equal(await redis.pfadd(a, "x"), 0);
    assert.equal(await redis.pfcount(a), 3);
    assert.equal(await redis.pfadd(b, "z", "w"), 1);
    assert.equal(await redis.pfcount(a, b), 4);
    assert.equal(await redis.pfmerge(d, a, b), "OK");
    assert.equal(await redis.pfcount(d), 4);
    assert.equal(await redis.pfcount(uniq("none")), 0);
    // HLL is a string internally; its binary content must survive base64 intact
    const raw = client(ctx.stack, { automaticDeserialization: false });
    const blob = await raw.get(d);
    assert.ok(blob.startsWith("HYLL"), JSON.stringify(blob.slice(0, 8)));
  });
});

describe("geo", () => {
  const palermo = { longitude: 13.361389, latitude: 38.115556, member: "Palermo" };
  const catania = { longitude: 15.087269, latitude: 37.502669, member: "Catania" };

  test("geoadd / geopos / geodist / geohash", async () => {
    const { redis } = ctx;
    const k = uniq("geo");
    assert.equal(await redis.geoadd(k, palermo, catania), 2);
    assert.equal(await redis.geoadd(k, { nx: true }, palermo), 0);
    const dist = await redis.geodist(k, "Palermo", "Catania");
    assert.equal(dist, 166274.1516);
    assert.equal(await redis.geodist(k, "Palermo", "Catania", "KM"), 166.2742);
    assert.equal(await redis.geodist(k, "Palermo", "Nowhere"), null);
    const pos = await redis.geopos(k, "Palermo", "Nowhere", "Catania");
    assert.equal(pos.length, 2, "the SDK drops missing members");
    assert.ok(Math.abs(pos[0].lng - 13.361389) < 1e-5 && Math.abs(pos[0].lat - 38.115556) < 1e-5, JSON.stringify(pos));
    assert.ok(Math.abs(pos[1].lng - 15.087269) < 1e-5 && Math.abs(pos[1].lat - 37.502669) < 1e-5, JSON.stringify(pos));
    assert.deepEqual(await redis.geohash(k, "Palermo", "Catania", "Nowhere"), ["sqc8b49rny0", "sqdtr74hyu0", null]);
  });

  test("geosearch by radius / box, with dist / coord / hash, count", async () => {
    const { redis } = ctx;
    const k = uniq("geos");
    await redis.geoadd(k, palermo, catania);
    const center = { type: "FROMLONLAT", coordinate: { lon: 15, lat: 37 } };
    assert.deepEqual(await redis.geosearch(k, center, { type: "BYRADIUS", radius: 200, radiusType: "KM" }, "ASC"), [
      { member: "Catania" },
      { member: "Palermo" },
    ]);
    assert.deepEqual(await redis.geosearch(k, center, { type: "BYRADIUS", radius: 100, radiusType: "KM" }, "ASC"), [{ member: "Catania" }]);
    const withDist = await redis.geosearch(k, center, { type: "BYRADIUS", radius: 200, radiusType: "KM" }, "DESC", { withDist: true });
    assert.deepEqual(withDist, [
      { member: "Palermo", dist: 190.4424 },
      { member: "Catania", dist: 56.4413 },
    ]);
    const full = await redis.geosearch(k, { type: "FROMMEMBER", member: "Palermo" }, { type: "BYBOX", rect: { width: 400, height: 400 }, rectType: "KM" }, "ASC", {
      withCoord: true,
      withHash: true,
      withDist: true,
      count: { limit: 1 },
    });
    assert.equal(full.length, 1);
    assert.equal(full[0].member, "Palermo");
    assert.equal(full[0].dist, 0);
    assert.equal(full[0].hash, "3479099956230698");
    assert.ok(Math.abs(full[0].coord.long - 13.361389) < 1e-5);
    assert.ok(Math.abs(full[0].coord.lat - 38.115556) < 1e-5);
  });
});
