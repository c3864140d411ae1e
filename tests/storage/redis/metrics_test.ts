import assert from "node:assert/strict";
import { startRedis } from "./redis_server.ts";
import { exportAll, postRows, startReplica } from "./support.ts";
import { waitFor } from "../../support/wait.ts";
import { CHUNK_BYTES } from "../../../src/storage/redis/snapshots.ts";

function metric(text: string, name: string): number {
  const m = text.match(new RegExp(`^${name} (\\S+)$`, "m"));
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

Deno.test("/metrics reports the stream length, lag in entries and seconds, apply count and snapshot age", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url);
  const b = await startReplica(redis.url);
  try {
    for (let i = 0; i < 5; i++) assert.ok((await postRows(a.url, "m", [{ i }])).position);
    const release = b.shared!.tailer.hold();
    await new Promise((r) => setTimeout(r, 1200));
    for (let i = 5; i < 8; i++) assert.ok((await postRows(a.url, "m", [{ i }])).position);
    const behind = await waitFor("b's lag in the figures", async () => {
      const text = await (await fetch(new URL("metrics", b.url))).text();
      return metric(text, "perspective_replica_lag_entries") === 3 ? text : undefined;
    });
    assert.ok(metric(behind, "perspective_replica_lag_seconds") > 0);
    assert.equal(metric(behind, "perspective_redis_stream_entries"), 8);
    assert.equal(metric(behind, "perspective_snapshot_age_seconds"), 0);
    release();
    await a.shared!.snapshotter.snapshot();
    const caught = await waitFor("b caught up", async () => {
      const text = await (await fetch(new URL("metrics", b.url))).text();
      return metric(text, "perspective_replica_lag_entries") === 0 &&
          metric(text, "perspective_snapshot_age_seconds") > 0
        ? text
        : undefined;
    });
    assert.equal(metric(caught, "perspective_replica_lag_seconds"), 0);
    assert.equal(metric(caught, "perspective_replica_applied_total"), 8);
    assert.equal(metric(caught, "perspective_redis_connected"), 1);
  } finally {
    await a.close();
    await b.close();
    await redis.dispose();
  }
});

Deno.test("a table larger than one chunk key goes through a snapshot intact", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url);
  try {
    // Incompressible strings, so the Arrow rows outgrow one chunk.
    const rows = Array.from({ length: 120 }, (_, i) => ({
      i,
      s: Array.from({ length: 4000 }, () => Math.random().toString(36).slice(2, 12)).join(""),
    }));
    for (let at = 0; at < rows.length; at += 20) {
      const w = await postRows(a.url, "big", rows.slice(at, at + 20));
      assert.ok(w.status === 200 || w.status === 201, JSON.stringify(w.body));
    }
    const name = await a.shared!.snapshotter.snapshot();
    assert.ok(name);
    const manifest = JSON.parse(await redis.cli("GET", `perspective:snap:${name}`));
    assert.ok(manifest.tables[0].bytes > CHUNK_BYTES, `${manifest.tables[0].bytes} bytes`);
    assert.ok(manifest.tables[0].chunks >= 2);
    const late = await startReplica(redis.url);
    try {
      assert.equal(late.shared!.tailer.lastRebuild?.snapshot, name);
      assert.equal(await exportAll(late.url), await exportAll(a.url));
    } finally {
      await late.close();
    }
  } finally {
    await a.close();
    await redis.dispose();
  }
});
