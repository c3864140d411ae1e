import assert from "node:assert/strict";
import { join } from "node:path";
import { type CheckpointFile, listCheckpoints } from "../../src/storage/checkpoint.ts";
import { realFs } from "../../src/storage/fs.ts";
import { listSegments } from "../../src/storage/segments.ts";
import { capturingLogger, jsonBytes, type OpenDir, openDir } from "../support/storage.ts";

const DEF = { schema: { id: "integer", v: "string" }, index: "id", limit: null } as const;

async function put(open: OpenDir, table: string, ids: number[]): Promise<void> {
  await open.sink.submit({
    table,
    op: "update",
    format: "json",
    bytes: jsonBytes(ids.map((id) => ({ id, v: `${table}-${id}` }))),
  });
}

async function readCheckpointFile(dataDir: string, name: string): Promise<CheckpointFile> {
  return JSON.parse(await Deno.readTextFile(join(dataDir, name)));
}

async function checkpoint(open: OpenDir): Promise<number> {
  const stats = await open.storage.checkpointer.checkpoint();
  assert.ok(stats, "a checkpoint was taken");
  return stats.seq;
}

Deno.test("a checkpoint deletes the segments, snapshots and checkpoints neither kept checkpoint needs", async () => {
  const dataDir = await Deno.makeTempDir();
  const open = await openDir(dataDir, { segmentBytes: 512 });
  try {
    await open.sink.createTable("kept", DEF);
    await open.sink.createTable("busy", DEF);
    await open.sink.createTable("gone", DEF);
    await put(open, "kept", [1, 2]);
    for (let i = 0; i < 10; i++) await put(open, "busy", [i]);
    await put(open, "gone", [1]);
    const first = await checkpoint(open);
    const firstFile = await readCheckpointFile(dataDir, `checkpoint-${first}.json`);

    for (let i = 10; i < 20; i++) await put(open, "busy", [i]);
    await open.sink.dropTable("gone");
    const second = await checkpoint(open);
    for (let i = 20; i < 30; i++) await put(open, "busy", [i]);
    const third = await checkpoint(open);
    // Nothing changed: no new checkpoint.
    assert.equal(await open.storage.checkpointer.checkpoint(), undefined);
    for (let i = 30; i < 35; i++) await put(open, "busy", [i]);

    assert.deepEqual(await listCheckpoints(realFs, dataDir), [
      `checkpoint-${third}.json`,
      `checkpoint-${second}.json`,
    ]);
    const kept = await Promise.all(
      [second, third].map((s) => readCheckpointFile(dataDir, `checkpoint-${s}.json`)),
    );
    // Only the files the two kept checkpoints name are left.
    const expected = new Set<string>();
    for (const c of kept) {
      for (const t of c.tables) expected.add(t.manifest).add(t.manifest.replace(/json$/, "arrow"));
    }
    const snapshots = await realFs.list(join(dataDir, "snapshots"));
    assert.deepEqual(new Set(snapshots), expected);
    assert.ok(!kept.some((c) => c.tables.some((t) => t.table === "gone")));
    assert.ok(!snapshots.some((n) => n.startsWith("gone-")), String(snapshots));
    // A table unchanged since the first checkpoint still uses its first snapshot.
    const keptManifest = firstFile.tables.find((t) => t.table === "kept")!.manifest;
    assert.equal(kept[1].tables.find((t) => t.table === "kept")!.manifest, keptManifest);
    assert.ok(snapshots.includes(keptManifest));
    // Segments wholly before the older kept checkpoint are gone; the rest are whole.
    const segments = await listSegments(realFs, join(dataDir, "wal"));
    assert.ok(segments.length >= 2, "small segments rolled over");
    assert.ok(segments[0].firstSeq > 1, "the first segments were deleted");
    assert.ok(
      segments[0].firstSeq <= second + 1,
      "every record after the older checkpoint is kept",
    );
    for (let i = 0; i + 1 < segments.length; i++) {
      assert.ok(segments[i + 1].firstSeq - 1 > second, "no segment left that nothing needs");
    }
  } finally {
    await open.close();
  }
  // Recovery from what is left gives every row.
  const again = await openDir(dataDir);
  try {
    assert.equal((await again.rows("busy"))!.id.length, 35);
    assert.deepEqual(await again.rows("kept"), { id: [1, 2], v: ["kept-1", "kept-2"] });
    assert.equal(await again.host.table("gone"), undefined);
  } finally {
    await again.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("recovery falls back to the previous checkpoint when the newest snapshot's data file is damaged", async () => {
  const dataDir = await Deno.makeTempDir();
  let open = await openDir(dataDir, { segmentBytes: 1024 });
  let newest: number;
  try {
    await open.sink.createTable("t", DEF);
    await open.sink.createTable("u", { schema: { x: "float" }, index: null, limit: 4 });
    for (let i = 0; i < 5; i++) await put(open, "t", [i]);
    await checkpoint(open);
    for (let i = 5; i < 10; i++) await put(open, "t", [i]);
    await open.sink.submit({
      table: "u",
      op: "update",
      format: "json",
      bytes: jsonBytes([1, 2, 3, 4, 5, 6].map((x) => ({ x }))),
    });
    newest = await checkpoint(open);
    for (let i = 10; i < 12; i++) await put(open, "t", [i]);
  } finally {
    await open.close();
  }
  const file = await readCheckpointFile(dataDir, `checkpoint-${newest}.json`);
  const manifest = JSON.parse(
    await Deno.readTextFile(join(dataDir, "snapshots", file.tables[0].manifest)),
  );
  const arrowPath = join(dataDir, "snapshots", manifest.file);
  const bytes = await Deno.readFile(arrowPath);
  bytes[bytes.byteLength >> 1] ^= 0x10;
  await Deno.writeFile(arrowPath, bytes);

  const { logger, entries } = capturingLogger();
  open = await openDir(dataDir, { logger });
  try {
    const warning = entries.find((e) => /checkpoint unreadable/.test(String(e.msg)));
    assert.ok(warning, JSON.stringify(entries));
    assert.equal(warning.file, `checkpoint-${newest}.json`);
    assert.ok(open.storage.recovery.checkpoint!.seq < newest, "the older checkpoint was used");
    assert.deepEqual((await open.rows("t"))!.id, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.deepEqual((await open.rows("u"))!.x, [3, 4, 5, 6]);
    // The next checkpoint replaces the damaged one for good.
    await put(open, "t", [12]);
    await checkpoint(open);
    assert.ok(!(await listCheckpoints(realFs, dataDir)).includes(`checkpoint-${newest}.json`));
  } finally {
    await open.close();
  }
  const quiet = capturingLogger();
  open = await openDir(dataDir, { logger: quiet.logger });
  try {
    assert.ok(!quiet.entries.some((e) => e.level === "warn"), JSON.stringify(quiet.entries));
    assert.equal((await open.rows("t"))!.id.length, 13);
    assert.deepEqual((await open.rows("u"))!.x, [3, 4, 5, 6]);
  } finally {
    await open.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("start-up stops, naming the file, when no checkpoint reads back and the log no longer reaches its start", async () => {
  const dataDir = await Deno.makeTempDir();
  const open = await openDir(dataDir, { segmentBytes: 256 });
  try {
    // "still" is unchanged after the first checkpoint, so all three share its snapshot.
    await open.sink.createTable("still", DEF);
    await put(open, "still", [1, 2, 3]);
    await open.sink.createTable("t", DEF);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5; i++) await put(open, "t", [round * 10 + i]);
      await checkpoint(open);
    }
    await put(open, "t", [99]);
  } finally {
    await open.close();
  }
  const segments = await listSegments(realFs, join(dataDir, "wal"));
  assert.ok(segments[0].firstSeq > 1, "the start of the log was deleted");
  const [newest] = await listCheckpoints(realFs, dataDir);
  const file = await readCheckpointFile(dataDir, newest);
  const still = file.tables.find((t) => t.table === "still")!.manifest;
  const arrowPath = join(dataDir, "snapshots", still.replace(/json$/, "arrow"));
  const bytes = await Deno.readFile(arrowPath);
  bytes[bytes.byteLength >> 1] ^= 0x10;
  await Deno.writeFile(arrowPath, bytes);

  const error = await openDir(dataDir).then(async (o) => {
    const rows = await o.rows("still");
    await o.close();
    return new Error(`started without the rows of "still": ${JSON.stringify(rows)}`);
  }, (e: Error) => e);
  try {
    assert.equal(error.name, "DataDirError", error.message);
    assert.ok(error.message.includes(arrowPath), error.message);
    assert.ok(error.message.includes(newest), error.message);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
