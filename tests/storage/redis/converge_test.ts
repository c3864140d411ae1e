import assert from "node:assert/strict";
import { startRedis } from "./redis_server.ts";
import { exportAll, postRows, startReplica } from "./support.ts";
import { compareIds } from "../../../src/storage/redis/ids.ts";

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

Deno.test("replicas converge to identical tables under random writes to random replicas", async () => {
  const redis = await startRedis();
  const replicas = await Promise.all([0, 1, 2].map(() => startReplica(redis.url)));
  const seed = Date.now() % 100000;
  const rand = random(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  try {
    const acked: number[] = [];
    let last = "0-0";
    let uid = 0;
    for (let round = 0; round < 12; round++) {
      const writes = Array.from({ length: 6 }, () => {
        const r = pick(replicas);
        const table = pick(["plain", "keyed", "rolling"]);
        const query = table === "keyed" ? "?index=id" : table === "rolling" ? "?limit=25" : "";
        const rows = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => ({
          id: Math.floor(rand() * 10),
          uid: ++uid,
          // Never whole, so the first batch of a table infers a float column
          // whichever replica creates it.
          v: (Math.floor(rand() * 1000) + 0.5) / 10,
        }));
        return postRows(r.url, table, rows, query).then((w) => ({ w, rows, table }));
      });
      for (const { w, rows, table } of await Promise.all(writes)) {
        assert.ok(w.status === 200 || w.status === 201, `seed ${seed}: ${JSON.stringify(w.body)}`);
        if (table === "plain") acked.push(...rows.map((r) => r.uid));
        if (compareIds(w.position!, last) > 0) last = w.position!;
      }
    }
    // Every replica, once at the newest acknowledged position, holds the same tables.
    const exports = await Promise.all(replicas.map(async (r) => {
      const res = await fetch(new URL(`api/tables/plain?position=${last}`, r.url));
      assert.equal(res.status, 200);
      await res.body?.cancel();
      return await exportAll(r.url);
    }));
    assert.equal(exports[1], exports[0], `seed ${seed}`);
    assert.equal(exports[2], exports[0], `seed ${seed}`);
    const tables = JSON.parse(exports[0]);
    assert.deepEqual(Object.keys(tables).sort(), ["keyed", "plain", "rolling"]);
    const uids = new Set((tables.plain as { uid: number }[]).map((r) => r.uid));
    assert.deepEqual(acked.filter((u) => !uids.has(u)), [], "every acknowledged batch is applied");
    assert.ok(tables.rolling.length <= 25);
    assert.ok(tables.keyed.length <= 10);
  } finally {
    await Promise.all(replicas.map((r) => r.close()));
    await redis.dispose();
  }
});
