import assert from "node:assert/strict";
import { join } from "node:path";
import { realFs } from "../../src/storage/fs.ts";
import { encodeRecord, FRAME_HEAD, type LogRecord } from "../../src/storage/record.ts";
import {
  CorruptSegmentError,
  listSegments,
  scanSegments,
  SEGMENT_MAGIC,
  segmentName,
  SegmentWriter,
} from "../../src/storage/segments.ts";
import { capturingLogger, jsonBytes, openDir } from "../support/storage.ts";

const EMPTY_END = { validLength: 0, tornBytes: 0, lastSeq: 0 };

function meta(seq: number): { seq: number; body: Uint8Array } {
  return { seq, body: encodeRecord({ seq, change: { type: "meta", key: `k${seq}`, value: seq } }) };
}

async function scanAll(dir: string, after = 0) {
  const seen: LogRecord[] = [];
  const end = await scanSegments(realFs, await listSegments(realFs, dir), after, (r) => {
    seen.push(r);
  });
  return { seqs: seen.map((r) => r.seq), end };
}

/** Writes records 1..n in groups of `group`, one segment, and closes the writer. */
async function writeLog(dir: string, n: number, group = 1): Promise<void> {
  const writer = await SegmentWriter.open(realFs, dir, EMPTY_END, {
    sync: "group",
    segmentBytes: 1 << 20,
  });
  for (let s = 1; s <= n; s += group) {
    await writer.write(Array.from({ length: Math.min(group, n - s + 1) }, (_, i) => meta(s + i)));
  }
  writer.close();
}

/** Offsets of the frames in a segment file, in order. */
function frameOffsets(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let at = SEGMENT_MAGIC.byteLength; at < bytes.byteLength;) {
    out.push(at);
    at += FRAME_HEAD + view.getUint32(at);
  }
  return out;
}

Deno.test("records written in groups read back in order, across segments", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const writer = await SegmentWriter.open(realFs, dir, EMPTY_END, {
      sync: "group",
      segmentBytes: 400,
    });
    for (let s = 1; s <= 40; s += 4) await writer.write([s, s + 1, s + 2, s + 3].map(meta));
    writer.close();
    const segments = await listSegments(realFs, dir);
    assert.ok(segments.length > 1, "the small segment size rolled over");
    assert.equal(segments[0].firstSeq, 1);
    assert.deepEqual(
      segments.map((s) => s.path),
      segments.map((s) => join(dir, segmentName(s.firstSeq))),
    );
    const { seqs, end } = await scanAll(dir);
    assert.deepEqual(seqs, Array.from({ length: 40 }, (_, i) => i + 1));
    assert.equal(end.lastSeq, 40);
    assert.equal(end.tornBytes, 0);
    // A scan after a checkpoint reads only the records past it.
    assert.deepEqual((await scanAll(dir, 30)).seqs, Array.from({ length: 10 }, (_, i) => i + 31));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a torn last record is reported as torn, and the writer appends after the good ones", async () => {
  for (const cut of [1, FRAME_HEAD - 1, FRAME_HEAD + 3, "crc"] as const) {
    const dir = await Deno.makeTempDir();
    try {
      await writeLog(dir, 5);
      const [segment] = await listSegments(realFs, dir);
      const bytes = await Deno.readFile(segment.path);
      const last = frameOffsets(bytes).at(-1)!;
      // A crash mid-write leaves part of the last frame, or all of it with a stale checksum.
      const torn = cut === "crc"
        ? Uint8Array.from(bytes, (b, i) => i === bytes.byteLength - 1 ? b ^ 0xff : b)
        : bytes.slice(0, last + cut);
      await Deno.writeFile(segment.path, torn);
      const scan = await scanAll(dir);
      assert.deepEqual(scan.seqs, [1, 2, 3, 4], `cut ${cut}`);
      assert.equal(scan.end.validLength, last);
      assert.equal(scan.end.tornBytes, torn.byteLength - last);
      assert.equal(scan.end.lastSeq, 4);
      const writer = await SegmentWriter.open(realFs, dir, scan.end, {
        sync: "group",
        segmentBytes: 1 << 20,
      });
      await writer.write([meta(5), meta(6)]);
      writer.close();
      const again = await scanAll(dir);
      assert.deepEqual(again.seqs, [1, 2, 3, 4, 5, 6], `cut ${cut}`);
      assert.equal(again.end.tornBytes, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("a segment cut off inside its header is torn, and removed before the next write", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeLog(dir, 3);
    const second = join(dir, segmentName(4));
    await Deno.writeFile(second, SEGMENT_MAGIC.slice(0, 3));
    const scan = await scanAll(dir);
    assert.deepEqual(scan.seqs, [1, 2, 3]);
    assert.equal(scan.end.tornBytes, 3);
    const writer = await SegmentWriter.open(realFs, dir, scan.end, {
      sync: "group",
      segmentBytes: 1 << 20,
    });
    await writer.write([meta(4)]);
    writer.close();
    assert.deepEqual((await scanAll(dir)).seqs, [1, 2, 3, 4]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a damaged record followed by valid ones stops the scan, naming the file, the offset and the mv command", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeLog(dir, 6, 3);
    const [segment] = await listSegments(realFs, dir);
    const bytes = await Deno.readFile(segment.path);
    const third = frameOffsets(bytes)[2];
    bytes[third + FRAME_HEAD + 20] ^= 0x01;
    await Deno.writeFile(segment.path, bytes);
    const error = await scanAll(dir).then(() => undefined, (e) => e);
    assert.ok(error instanceof CorruptSegmentError, String(error));
    assert.equal(error.path, segment.path);
    assert.equal(error.offset, third);
    assert.match(error.message, new RegExp(`byte ${third}\\b`));
    assert.ok(
      error.message.includes(`mv '${segment.path}' '${segment.path}.damaged'`),
      error.message,
    );
    // A segment that is not the last, damaged at its end, is damage too: records follow it.
    const tail = join(dir, segmentName(7));
    await Deno.writeFile(tail, SEGMENT_MAGIC);
    await Deno.writeFile(segment.path, bytes.slice(0, third + 4));
    const cutEarlier = await scanAll(dir).then(() => undefined, (e) => e);
    assert.ok(cutEarlier instanceof CorruptSegmentError, String(cutEarlier));
    assert.equal(cutEarlier.offset, third);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start-up drops a torn last batch with a warning, and later batches append after it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let open = await openDir(dir);
    await open.sink.createTable("t", {
      schema: { id: "integer", v: "string" },
      index: "id",
      limit: null,
    });
    for (let i = 1; i <= 3; i++) {
      await open.sink.submit({
        table: "t",
        op: "update",
        format: "json",
        bytes: jsonBytes([{ id: i, v: `v${i}` }]),
      });
    }
    await open.close();
    const [segment] = await listSegments(realFs, join(dir, "wal"));
    const bytes = await Deno.readFile(segment.path);
    const last = frameOffsets(bytes).at(-1)!;
    await Deno.writeFile(segment.path, bytes.slice(0, bytes.byteLength - 5));

    const { logger, entries } = capturingLogger();
    open = await openDir(dir, { logger });
    const warning = entries.find((e) => e.level === "warn" && /torn record/.test(String(e.msg)));
    assert.ok(warning, JSON.stringify(entries));
    assert.equal(warning.segment, segment.path);
    assert.equal(warning.offset, last);
    assert.deepEqual(await open.rows("t"), { id: [1, 2], v: ["v1", "v2"] });
    await open.sink.submit({
      table: "t",
      op: "update",
      format: "json",
      bytes: jsonBytes([{ id: 4, v: "v4" }]),
    });
    await open.close();

    const again = capturingLogger();
    open = await openDir(dir, { logger: again.logger });
    try {
      assert.ok(!again.entries.some((e) => e.level === "warn"), JSON.stringify(again.entries));
      assert.deepEqual(await open.rows("t"), { id: [1, 2, 4], v: ["v1", "v2", "v4"] });
    } finally {
      await open.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start-up stops on a damaged record that valid ones follow, and starts once the segment is set aside", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let open = await openDir(dir);
    await open.sink.createTable("t", { schema: { id: "integer" }, index: "id", limit: null });
    for (let i = 1; i <= 4; i++) {
      await open.sink.submit({
        table: "t",
        op: "update",
        format: "json",
        bytes: jsonBytes([{ id: i }]),
      });
    }
    await open.close();
    const [segment] = await listSegments(realFs, join(dir, "wal"));
    const bytes = await Deno.readFile(segment.path);
    const third = frameOffsets(bytes)[2];
    bytes[third + FRAME_HEAD + 2] ^= 0x40;
    await Deno.writeFile(segment.path, bytes);

    const error = await openDir(dir).then(async (o) => {
      await o.close();
      return undefined;
    }, (e) => e);
    assert.ok(error instanceof CorruptSegmentError, String(error));
    assert.equal(error.offset, third);
    assert.ok(error.message.includes(segment.path), error.message);
    const command = error.message.match(/mv '([^']+)' '([^']+)'/);
    assert.ok(command, error.message);
    assert.equal(command[1], segment.path);
    // Nothing was written past the damage: the segment is as it was.
    assert.deepEqual(await Deno.readFile(segment.path), bytes);
    // The lock was let go, so the operator's command and a restart can follow.
    await Deno.rename(command[1], command[2]);
    open = await openDir(dir);
    try {
      assert.equal(await open.host.table("t"), undefined, "its records were set aside with it");
      await open.sink.createTable("t", { schema: { id: "integer" }, index: "id", limit: null });
    } finally {
      await open.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
