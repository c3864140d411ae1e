import assert from "node:assert/strict";
import { startRedis } from "./redis_server.ts";
import { exportAll, postRows, startReplica } from "./support.ts";
import { waitFor } from "../../support/wait.ts";

async function writeSome(base: string, from: number, n: number): Promise<string> {
  let position = "";
  for (let i = from; i < from + n; i++) {
    const w = await postRows(base, "roll", [{ id: i, v: i * 2 }], "?limit=7");
    assert.ok(w.status === 200 || w.status === 201, JSON.stringify(w.body));
    position = w.position!;
    const k = await postRows(base, "keyed", [{ k: `k${i % 4}`, n: i }], "?index=k");
    assert.ok(k.status === 200 || k.status === 201, JSON.stringify(k.body));
    position = k.position!;
  }
  return position;
}

Deno.test("a late replica starts from the snapshot and the stream after it, and matches the others", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url);
  try {
    await writeSome(a.url, 0, 10);
    assert.ok(await a.shared!.snapshotter.snapshot());
    await writeSome(a.url, 10, 5);
    assert.ok(await a.shared!.snapshotter.snapshot());
    const last = await writeSome(a.url, 15, 5);
    // Both snapshots kept; the stream holds only what follows the older one.
    assert.equal(await redis.cli("LLEN", "perspective:snapshots"), "2");
    assert.equal(Number(await redis.cli("XLEN", "perspective:log")), 1 + 5 * 2 + 5 * 2);
    const late = await startReplica(redis.url);
    try {
      assert.equal(late.shared!.tailer.lastRebuild?.snapshot !== undefined, true);
      const res = await fetch(new URL(`api/tables/roll?position=${last}`, late.url));
      assert.equal(res.status, 200);
      await res.body?.cancel();
      const want = await exportAll(a.url);
      assert.equal(await exportAll(late.url), want);
      // A limit table keeps its rollover order through the snapshot.
      const next = await postRows(a.url, "roll", [{ id: 99, v: 0 }]);
      await (await fetch(new URL(`api/tables/roll?position=${next.position}`, late.url))).body
        ?.cancel();
      assert.equal(await exportAll(late.url), await exportAll(a.url));
    } finally {
      await late.close();
    }
  } finally {
    await a.close();
    await redis.dispose();
  }
});

Deno.test("a replica behind a trim rebuilds from the snapshot instead of applying a gap", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url);
  const b = await startReplica(redis.url);
  try {
    const first = await writeSome(a.url, 0, 3);
    await (await fetch(new URL(`api/tables/roll?position=${first}`, b.url))).body?.cancel();
    const release = b.shared!.tailer.hold();
    // Let b's blocked read return (it sees nothing new) and stop at the hold.
    await new Promise((r) => setTimeout(r, 1200));
    await writeSome(a.url, 3, 4);
    assert.ok(await a.shared!.snapshotter.snapshot());
    await writeSome(a.url, 7, 4);
    assert.ok(await a.shared!.snapshotter.snapshot());
    const last = await writeSome(a.url, 11, 2);
    release();
    const res = await fetch(new URL(`api/tables/keyed?position=${last}`, b.url));
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.equal(b.shared!.log.stats.rebuilds, 1);
    assert.match(b.shared!.tailer.lastRebuild!.reason, /no longer in the stream/);
    assert.equal(await exportAll(b.url), await exportAll(a.url));
    const metrics = await (await fetch(new URL("metrics", b.url))).text();
    assert.match(metrics, /perspective_replica_rebuilds_total 1/);
  } finally {
    await a.close();
    await b.close();
    await redis.dispose();
  }
});

Deno.test("a reset log (new epoch) makes every replica rebuild rather than apply a gap", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url);
  const b = await startReplica(redis.url);
  try {
    await writeSome(a.url, 0, 3);
    assert.equal(await redis.cli("FLUSHDB"), "OK");
    await waitFor(
      "both replicas rebuilt",
      () => a.shared!.log.stats.rebuilds === 1 && b.shared!.log.stats.rebuilds === 1,
    );
    for (const r of [a, b]) assert.equal(await exportAll(r.url), "{}");
    const w = await waitFor("a write in the new epoch", async () => {
      const w = await postRows(b.url, "fresh", [{ x: 1 }]);
      return w.status === 201 ? w : undefined;
    });
    const res = await fetch(
      new URL(`api/tables/fresh/rows?format=json&position=${w.position}`, a.url),
    );
    assert.deepEqual(await res.json(), [{ x: 1 }]);
  } finally {
    await a.close();
    await b.close();
    await redis.dispose();
  }
});
