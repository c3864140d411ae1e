/**
 * Opens a data directory: takes its lock, recovers the tables, and returns
 * the write-ahead log that every later change goes through.
 *
 * Layout: `LOCK`; `wal/<first seq>.wal` segments; `snapshots/` with each
 * table's `<name>-<hash>-<seq>.arrow` and `.json` manifest; and
 * `checkpoint-<seq>.json`, the commit record of a checkpoint.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { StatusError } from "../engine/batch_types.ts";
import type { BatchApplier } from "../engine/apply.ts";
import type { EngineHost } from "../engine/host.ts";
import type { Logger } from "../ops/log.ts";
import { Checkpointer, type CheckpointPolicy } from "./checkpoint.ts";
import { isDiskFull, realFs, type StorageFs } from "./fs.ts";
import { type LogDivergence, OrderedLog } from "./log.ts";
import { recover, type RecoveryProgress, type RecoveryReport } from "./recovery.ts";
import { SegmentWriter, type SyncMode } from "./segments.ts";

/** Options for {@linkcode openDataDir}. */
export interface DataDirOptions {
  /** The data directory. */
  dataDir: string;
  /** `group` (default): one `fdatasync` per group of records; `none`: no sync. */
  sync?: SyncMode;
  /** Bytes after which a segment is closed and a new one started. @default 64 MiB */
  segmentBytes?: number;
  /** When to checkpoint. */
  checkpoint?: Partial<CheckpointPolicy>;
  /** The file system. @default the real one */
  fs?: StorageFs;
  /** Logger. */
  logger: Logger;
  /** Recovery progress, every few seconds. */
  onProgress?: (p: RecoveryProgress) => void;
  /** A logged change failed on this engine alone; see `OrderedLogOptions.onDiverged`. */
  onDiverged?: (d: LogDivergence) => void;
}

/** An open data directory. */
export interface DataDir {
  /** The log every durable change goes through. */
  log: OrderedLog;
  /** Checkpoints. */
  checkpointer: Checkpointer;
  /** What recovery did. */
  recovery: RecoveryReport;
  /** The segment writer's counters. */
  writer: SegmentWriter;
  /** The resolved directory. */
  path: string;
  /** Closes the log (waiting for changes in flight), then the files and the lock. */
  close(): Promise<void>;
}

/** Start-up cannot use the data directory; the message says what to do. */
export class DataDirError extends Error {
  /** @param detail What is wrong and what to do. */
  constructor(detail: string) {
    super(detail);
    this.name = "DataDirError";
  }
}

/**
 * Opens `dataDir`, creating it when missing.
 *
 * @throws {DataDirError} when it is not writable, Deno lacks a permission,
 *   or another process holds it.
 * @throws {CorruptSegmentError} when a segment is damaged in its middle.
 */
export async function openDataDir(
  host: EngineHost,
  applier: BatchApplier,
  options: DataDirOptions,
): Promise<DataDir> {
  const fs = options.fs ?? realFs;
  const path = resolve(options.dataDir);
  const lock = await takeLock(fs, path);
  try {
    // The log replays before the writer and the checkpointer exist.
    const late: { writer?: SegmentWriter; checkpointer?: Checkpointer } = {};
    const log = new OrderedLog(host, applier, {
      store: { write: (frames) => late.writer!.write(frames) },
      storeError: storeError,
      onApplied: (record, bytes) => late.checkpointer?.noteApplied(record, bytes),
      onDiverged: options.onDiverged,
    });
    const recovery = await recover({
      fs,
      dataDir: path,
      host,
      log,
      logger: options.logger,
      onProgress: options.onProgress,
    });
    const writer = await SegmentWriter.open(fs, join(path, "wal"), recovery.end, {
      sync: options.sync ?? "group",
      segmentBytes: options.segmentBytes ?? 64 * 1024 * 1024,
    });
    const checkpointer = new Checkpointer({
      fs,
      dataDir: path,
      host,
      log,
      logger: options.logger,
      policy: {
        bytes: options.checkpoint?.bytes ?? 256 * 1024 * 1024,
        ageMs: options.checkpoint?.ageMs ?? 300_000,
      },
      current: recovery.checkpoint,
      previous: recovery.previous,
    });
    late.writer = writer;
    late.checkpointer = checkpointer;
    checkpointer.onRoll = () => writer.rollNext();
    // Replayed records count towards the next checkpoint, so a long log is folded soon.
    if (recovery.records > 0) checkpointer.markDirty(log.durableTables);
    return {
      log,
      checkpointer,
      recovery,
      writer,
      path,
      close: once(async () => {
        await log.close();
        await checkpointer.close();
        writer.close();
        lock.close();
      }),
    };
  } catch (err) {
    lock.close();
    throw err;
  }
}

/** A client-facing error for a failed log write: nothing was applied. */
function storeError(err: unknown): Error {
  const detail = isDiskFull(err)
    ? "the data directory's disk is full, so the batch was not logged and nothing of it was " +
      "applied; reads go on, and writes resume once space is freed"
    : `writing the batch log failed (${String(err).slice(0, 200)}), so nothing of the batch ` +
      "was applied; reads go on";
  return new StatusError(507, detail);
}

async function takeLock(fs: StorageFs, path: string): Promise<{ close(): void }> {
  try {
    await fs.mkdir(join(path, "wal"));
    await fs.mkdir(join(path, "snapshots"));
    const file = await Deno.open(join(path, "LOCK"), { write: true, create: true });
    if (!(await file.tryLock(true))) {
      file.close();
      throw new DataDirError(
        `DATA_DIR ${path} is in use by another process (its LOCK file is locked); ` +
          "run one service per data directory",
      );
    }
    return { close: () => file.close() };
  } catch (err) {
    if (err instanceof DataDirError) throw err;
    if (err instanceof Deno.errors.NotCapable) {
      throw new DataDirError(
        `Deno may not write DATA_DIR ${path}: add --allow-write=${path} (and --allow-read=${path})`,
      );
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new DataDirError(
        `DATA_DIR ${path} is not writable by this user: ${
          (err as Error).message
        }; fix its ownership or point DATA_DIR elsewhere`,
      );
    }
    throw new DataDirError(`cannot use DATA_DIR ${path}: ${(err as Error).message}`);
  }
}

/** A function that runs `fn` the first time and returns its promise every time. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => done ??= fn();
}
