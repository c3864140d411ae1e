/**
 * Segment files of the write-ahead log: `wal/<first sequence>.wal`, each a
 * magic header and then frames of `[body length u32][CRC-32C of body
 * u32][body]`. {@linkcode SegmentWriter} appends groups of records with one
 * sync per group; {@linkcode scanSegments} reads them back and tells a torn
 * tail (a crash mid-write: never acknowledged, dropped) from corruption (a
 * bad frame followed by good ones: start-up must stop).
 *
 * @module
 */

import { join } from "node:path";
import { crc32c } from "./crc32c.ts";
import { decodeRecord, FRAME_HEAD, type LogRecord } from "./record.ts";
import type { LogFile, StorageFs } from "./fs.ts";

/** The first bytes of every segment file. */
export const SEGMENT_MAGIC = new TextEncoder().encode("PSPWAL\x00\x01");
const SUFFIX = ".wal";

/** How a group of records is made durable. */
export type SyncMode = "group" | "none";

/** The file name of the segment whose first record has `seq`. */
export function segmentName(seq: number): string {
  return `${String(seq).padStart(20, "0")}${SUFFIX}`;
}

/** A segment file on disk. */
export interface SegmentInfo {
  /** Its path. */
  path: string;
  /** Sequence number of its first record (from its name). */
  firstSeq: number;
}

/** Lists segment files in order. */
export async function listSegments(fs: StorageFs, dir: string): Promise<SegmentInfo[]> {
  const names = (await fs.list(dir)).filter((n) => /^\d{20}\.wal$/.test(n)).sort();
  return names.map((n) => ({ path: join(dir, n), firstSeq: Number(n.slice(0, 20)) }));
}

/** Thrown when a segment is damaged in its middle: recovery must not guess. */
export class CorruptSegmentError extends Error {
  /**
   * @param path The damaged segment.
   * @param offset Byte offset of the first bad frame.
   */
  constructor(readonly path: string, readonly offset: number, why: string) {
    super(
      `write-ahead log segment ${path} is damaged at byte ${offset} (${why}), and valid ` +
        `records follow it. Recovery stops rather than skip acknowledged batches. To start ` +
        `without this segment's records from that point on, set it aside: ` +
        `mv '${path}' '${path}.damaged'`,
    );
    this.name = "CorruptSegmentError";
  }
}

/** What a scan found at the end of the log. */
export interface ScanEnd {
  /** The last segment, or undefined when there is none. */
  segment?: SegmentInfo;
  /** Bytes of valid frames in it (the offset to append at). */
  validLength: number;
  /** Bytes dropped from a torn tail, or 0. */
  tornBytes: number;
  /** Highest sequence number read, or 0. */
  lastSeq: number;
}

/**
 * Reads every record with a sequence number above `after`, in order.
 * `onRecord` receives records one at a time (its payload points into the
 * segment's buffer).
 *
 * @throws {CorruptSegmentError} on a bad frame that valid frames follow.
 */
export async function scanSegments(
  fs: StorageFs,
  segments: SegmentInfo[],
  after: number,
  onRecord: (record: LogRecord, bytes: number) => Promise<void> | void,
): Promise<ScanEnd> {
  let end: ScanEnd = { validLength: 0, tornBytes: 0, lastSeq: 0 };
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    // A segment whose successor starts at or below `after` holds nothing to
    // replay: it is not even read (the older checkpoint's segments can be
    // hundreds of MB).
    const next = segments[i + 1];
    if (next !== undefined && next.firstSeq - 1 <= after) {
      end = {
        segment,
        validLength: 0,
        tornBytes: 0,
        lastSeq: Math.max(end.lastSeq, next.firstSeq - 1),
      };
      continue;
    }
    const bytes = await fs.readFile(segment.path);
    let offset = SEGMENT_MAGIC.byteLength;
    let torn = 0;
    if (!startsWithMagic(bytes)) {
      if (last && bytes.byteLength < SEGMENT_MAGIC.byteLength) {
        end = { segment, validLength: 0, tornBytes: bytes.byteLength, lastSeq: end.lastSeq };
        continue;
      }
      throw new CorruptSegmentError(segment.path, 0, "no segment header");
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    while (offset < bytes.byteLength) {
      const bad = frameProblem(bytes, view, offset);
      if (bad) {
        if (last && !validFrameAfter(bytes, view, offset + 1)) {
          torn = bytes.byteLength - offset;
          break;
        }
        throw new CorruptSegmentError(segment.path, offset, bad);
      }
      const length = view.getUint32(offset);
      const body = bytes.subarray(offset + FRAME_HEAD, offset + FRAME_HEAD + length);
      const record = decodeRecord(body);
      if (record.seq > after) await onRecord(record, FRAME_HEAD + length);
      end.lastSeq = Math.max(end.lastSeq, record.seq);
      offset += FRAME_HEAD + length;
    }
    end = { segment, validLength: offset, tornBytes: torn, lastSeq: end.lastSeq };
  }
  return end;
}

function startsWithMagic(bytes: Uint8Array): boolean {
  if (bytes.byteLength < SEGMENT_MAGIC.byteLength) return false;
  return SEGMENT_MAGIC.every((b, i) => bytes[i] === b);
}

/** Why the frame at `offset` is not valid, or undefined when it is. */
function frameProblem(bytes: Uint8Array, view: DataView, offset: number): string | undefined {
  if (offset + FRAME_HEAD > bytes.byteLength) return "frame head cut off";
  const length = view.getUint32(offset);
  if (offset + FRAME_HEAD + length > bytes.byteLength) return "frame body cut off";
  const body = bytes.subarray(offset + FRAME_HEAD, offset + FRAME_HEAD + length);
  if (crc32c(body) !== view.getUint32(offset + 4)) return "checksum mismatch";
  try {
    decodeRecord(body);
  } catch (err) {
    return String(err);
  }
  return undefined;
}

/**
 * Whether any valid frame starts after `from`: a torn write leaves garbage
 * only at the very end, so a valid frame beyond a bad one means corruption.
 */
function validFrameAfter(bytes: Uint8Array, view: DataView, from: number): boolean {
  for (let at = from; at + FRAME_HEAD <= bytes.byteLength; at++) {
    const length = view.getUint32(at);
    if (length < 16 || at + FRAME_HEAD + length > bytes.byteLength) continue;
    // A record body starts with version 1, a type below 4 and two zero bytes:
    // a cheap test that keeps the checksum off most garbage.
    const h = at + FRAME_HEAD;
    if (bytes[h] !== 1 || bytes[h + 1] > 3 || bytes[h + 2] !== 0 || bytes[h + 3] !== 0) continue;
    const body = bytes.subarray(at + FRAME_HEAD, at + FRAME_HEAD + length);
    if (crc32c(body) === view.getUint32(at + 4)) return true;
  }
  return false;
}

/** Options for {@linkcode SegmentWriter}. */
export interface SegmentWriterOptions {
  /** `group`: one `fdatasync` per group of records; `none`: leave it to the OS. */
  sync: SyncMode;
  /** Bytes after which the next group starts a new segment. */
  segmentBytes: number;
}

/** One frame ready to write. */
export interface Frame {
  /** The record's sequence number. */
  seq: number;
  /** The encoded body. */
  body: Uint8Array;
}

/** Appends frames to the newest segment; one caller at a time. */
export class SegmentWriter {
  readonly #fs: StorageFs;
  readonly #dir: string;
  readonly #options: SegmentWriterOptions;
  #file?: LogFile;
  #length = 0;
  #rollNext = false;
  /** Where a failed group's bytes start when they could not be cut off yet. */
  #cutTo?: number;
  /** Bytes written since the writer opened. */
  bytesWritten = 0;
  /** Segments the writer created. */
  segmentsCreated = 0;

  private constructor(fs: StorageFs, dir: string, options: SegmentWriterOptions) {
    this.#fs = fs;
    this.#dir = dir;
    this.#options = options;
  }

  /**
   * Opens the writer at the end of the log found by a scan, cutting a torn
   * tail off first.
   */
  static async open(
    fs: StorageFs,
    dir: string,
    end: ScanEnd,
    options: SegmentWriterOptions,
  ): Promise<SegmentWriter> {
    const writer = new SegmentWriter(fs, dir, options);
    if (end.segment && end.validLength >= SEGMENT_MAGIC.byteLength) {
      const file = await fs.open(end.segment.path, { read: true, write: true });
      if (end.tornBytes > 0) {
        await file.truncate(end.validLength);
        await file.syncData();
      }
      await file.seek(end.validLength);
      writer.#file = file;
      writer.#length = end.validLength;
    } else if (end.segment) {
      // A segment cut off inside its header holds nothing.
      await fs.remove(end.segment.path);
    }
    return writer;
  }

  /**
   * Writes the frames, in order, and syncs them (in `group` mode). On a
   * failure the segment is cut back to where it was, so a failed group
   * leaves no partial frame behind.
   */
  async write(frames: Frame[]): Promise<void> {
    if (this.#file && this.#cutTo !== undefined) {
      // Left behind, a failed group's bytes would be damage in the middle of
      // the log once anything follows them, in this segment or the next.
      await this.#file.truncate(this.#cutTo);
      await this.#file.seek(this.#cutTo);
      this.#cutTo = undefined;
    }
    let size = 0;
    for (const f of frames) size += FRAME_HEAD + f.body.byteLength;
    const full = this.#length + size > this.#options.segmentBytes;
    if (!this.#file || (this.#length > SEGMENT_MAGIC.byteLength && (full || this.#rollNext))) {
      await this.#roll(frames[0].seq);
    }
    const buffer = new Uint8Array(size);
    const view = new DataView(buffer.buffer);
    let at = 0;
    for (const f of frames) {
      view.setUint32(at, f.body.byteLength);
      view.setUint32(at + 4, crc32c(f.body));
      buffer.set(f.body, at + FRAME_HEAD);
      at += FRAME_HEAD + f.body.byteLength;
    }
    const file = this.#file!;
    const start = this.#length;
    try {
      await writeAll(file, buffer);
      if (this.#options.sync === "group") await file.syncData();
    } catch (err) {
      await file.truncate(start).then(() => file.seek(start)).catch(() => {
        // The file cannot even be cut back now: the next group tries again first.
        this.#cutTo = start;
      });
      throw err;
    }
    this.#length += size;
    this.bytesWritten += size;
  }

  /**
   * Starts a new segment with the next write, so that the records before it
   * can be deleted as a whole once a checkpoint covers them.
   */
  rollNext(): void {
    this.#rollNext = true;
  }

  /** Closes the current segment. */
  close(): void {
    try {
      this.#file?.close();
    } catch {
      // Already closed.
    }
    this.#file = undefined;
  }

  async #roll(firstSeq: number): Promise<void> {
    this.close();
    const path = join(this.#dir, segmentName(firstSeq));
    const file = await this.#fs.open(path, { write: true, create: true, truncate: true });
    try {
      await writeAll(file, SEGMENT_MAGIC);
      await file.syncData();
      await this.#fs.syncDir(this.#dir);
    } catch (err) {
      file.close();
      await this.#fs.remove(path).catch(() => {});
      throw err;
    }
    this.#file = file;
    this.#length = SEGMENT_MAGIC.byteLength;
    this.#rollNext = false;
    this.segmentsCreated++;
  }
}

async function writeAll(file: LogFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) done += await file.write(bytes.subarray(done));
}
