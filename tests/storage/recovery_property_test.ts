/**
 * Property tests of recovery: random sequences of changes across index,
 * limit and plain tables, with checkpoints at random points, recovered
 * from the data directory, must equal an engine that applied the same
 * sequence in memory; and recovery from a snapshot plus the records after
 * it must equal recovery from further back. More seeds:
 * `STORAGE_PROPERTY_SEEDS=1,2,3,4 deno test --allow-all tests/storage/recovery_property_test.ts`.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { listSegments } from "../../src/storage/segments.ts";
import { realFs } from "../../src/storage/fs.ts";
import { openDir } from "../support/storage.ts";
import { random, Reference } from "../support/reference_engine.ts";
import { Driver, rollLimits } from "../support/change_driver.ts";

const SEEDS = (Deno.env.get("STORAGE_PROPERTY_SEEDS") ?? "1,2")
  .split(",").map(Number);

Deno.test("recovered tables equal an engine that applied the same random changes", async () => {
  for (const seed of SEEDS) {
    const r = random(seed);
    const dataDir = await Deno.makeTempDir();
    const ref = new Reference();
    const d = new Driver(r, ref, await openDir(dataDir, { segmentBytes: 4096 }));
    try {
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 60; i++) await d.step({ checkpoints: true });
        await d.expectEqual(`seed ${seed}, round ${round}, before the restart`);
        await d.open.close();
        d.log.push("restart");
        d.open = await openDir(dataDir, { segmentBytes: 4096 });
        await d.expectEqual(`seed ${seed}, round ${round}, after the restart`);
        // A limit table goes on evicting the same rows as the one that never restarted.
        await rollLimits(d);
        await d.expectEqual(`seed ${seed}, round ${round}, limit tables rolled on`);
      }
    } finally {
      await d.settle().catch(() => {});
      await d.open.close();
      await ref.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  }
});

Deno.test("concurrent writers to separate tables, checkpoints among them, recover to the same tables", async () => {
  for (const seed of SEEDS) {
    const dataDir = await Deno.makeTempDir();
    const ref = new Reference();
    ref.deferred = true;
    // Unsynced this time: a clean close loses nothing in that mode either.
    let open = await openDir(dataDir, { segmentBytes: 8192, sync: "none" });
    // Each writer owns its tables and settings, so its changes keep their
    // order while the log interleaves the writers' records in groups.
    const drivers = [0, 1, 2, 3].map((w) =>
      new Driver(random(seed * 31 + w), ref, open, [`w${w}a`, `w${w}b`], `w${w}:`)
    );
    try {
      for (let round = 0; round < 2; round++) {
        await Promise.all(drivers.map(async (d) => {
          for (let i = 0; i < 30; i++) await d.step({ checkpoints: true });
        }));
        for (const d of drivers) await d.settle();
        await drivers[0].expectEqual(`seed ${seed}, round ${round}, before the restart`);
        await open.close();
        open = await openDir(dataDir, { segmentBytes: 8192, sync: "none" });
        for (const d of drivers) {
          d.open = open;
          d.log.push("restart");
        }
        await drivers[0].expectEqual(`seed ${seed}, round ${round}, after the restart`);
      }
    } finally {
      for (const d of drivers) await d.settle().catch(() => {});
      await open.close();
      await ref.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  }
});

Deno.test("a checkpoint plus the records after it recovers the same tables as a replay from further back", async () => {
  for (const seed of SEEDS) {
    const r = random(seed * 7919);
    const dataDir = await Deno.makeTempDir();
    const ref = new Reference();
    const d = new Driver(r, ref, await openDir(dataDir, { segmentBytes: 4096 }));
    try {
      // Two checkpoints at random points: cleanup keeps every segment after
      // the older one, so recovery can start from either.
      const total = 120;
      const [n1, n2] = [r.int(10, 60), r.int(61, 110)];
      for (let i = 0; i < total; i++) {
        if (i === n1 || i === n2) await d.open.storage.checkpointer.checkpoint();
        await d.step({ checkpoints: false });
      }
      await d.open.close();
      const checkpoints = (await realFs.list(dataDir)).filter((n) => n.startsWith("checkpoint-"))
        .sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
      assert.equal(checkpoints.length, 2, String(checkpoints));

      // From the newest checkpoint.
      d.open = await openDir(dataDir);
      assert.equal(
        d.open.storage.recovery.checkpoint?.seq,
        Number(checkpoints[1].match(/\d+/)![0]),
      );
      await d.expectEqual(`seed ${seed}, from the newest checkpoint`);
      await d.open.close();

      // From the older one: the newest is set aside.
      await Deno.rename(join(dataDir, checkpoints[1]), join(dataDir, `${checkpoints[1]}.aside`));
      d.open = await openDir(dataDir);
      assert.equal(
        d.open.storage.recovery.checkpoint?.seq,
        Number(checkpoints[0].match(/\d+/)![0]),
      );
      assert.ok(d.open.storage.recovery.records > 0);
      await d.expectEqual(`seed ${seed}, from the older checkpoint`);
    } finally {
      await d.settle().catch(() => {});
      await d.open.close();
      await ref.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  }
});

Deno.test("a snapshot at N plus replay from N+1 equals a full replay of the log", async () => {
  for (const seed of SEEDS) {
    const r = random(seed * 104729);
    const dataDir = await Deno.makeTempDir();
    const ref = new Reference();
    const d = new Driver(r, ref, await openDir(dataDir, { segmentBytes: 4096 }));
    try {
      // One checkpoint deletes no segment: the whole log stays.
      const n = r.int(20, 100);
      for (let i = 0; i < 120; i++) {
        if (i === n) await d.open.storage.checkpointer.checkpoint();
        await d.step({ checkpoints: false });
      }
      await d.open.close();
      const segments = await listSegments(realFs, join(dataDir, "wal"));
      assert.equal(segments[0].firstSeq, 1, "the log is whole");

      d.open = await openDir(dataDir);
      assert.ok(d.open.storage.recovery.checkpoint, "recovered from the snapshot");
      await d.expectEqual(
        `seed ${seed}, snapshot at ${d.open.storage.recovery.checkpoint.seq} and replay`,
      );
      await d.open.close();

      for (const name of await realFs.list(dataDir)) {
        if (name.startsWith("checkpoint-")) await Deno.remove(join(dataDir, name));
      }
      d.open = await openDir(dataDir);
      assert.equal(d.open.storage.recovery.checkpoint, undefined, "recovered by replay alone");
      await d.expectEqual(`seed ${seed}, full replay`);
    } finally {
      await d.settle().catch(() => {});
      await d.open.close();
      await ref.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  }
});
