/**
 * Recovery at start-up: the newest checkpoint whose snapshots all read back
 * with good checksums, then every record after it, in order. Progress is
 * reported as records, rows and percent of the bytes to replay.
 *
 * @module
 */

import { join } from "node:path";
import type { EngineHost } from "../engine/host.ts";
import type { Logger } from "../ops/log.ts";
import { type CheckpointFile, listCheckpoints, readCheckpoint } from "./checkpoint.ts";
import type { StorageFs } from "./fs.ts";
import type { OrderedLog } from "./log.ts";
import { listSegments, type ScanEnd, scanSegments } from "./segments.ts";
import { restoreTable } from "./snapshot.ts";
import { localFailure } from "./local_failure.ts";
import { DataDirError } from "./errors.ts";

/** Progress of a recovery, reported every few seconds and at the end. */
export interface RecoveryProgress {
  /** Records replayed so far. */
  records: number;
  /** Rows in the snapshots loaded plus rows in the batches replayed. */
  rows: number;
  /** Percent of the log's bytes read. */
  percent: number;
}

/** What recovery found and did. */
export interface RecoveryReport {
  /** The checkpoint it started from. */
  checkpoint?: CheckpointFile;
  /** The one before it, still on disk. */
  previous?: CheckpointFile;
  /** Tables loaded from snapshots. */
  tables: number;
  /** Records replayed after the checkpoint. */
  records: number;
  /** Records the engine refused on replay, as it did when they were appended. */
  refused: number;
  /** Rows loaded and replayed. */
  rows: number;
  /** Where the log ends, for the writer. */
  end: ScanEnd;
  /** Milliseconds from start to done. */
  ms: number;
}

/** Bytes of replayed batches after which the engine is flushed. */
const FLUSH_BYTES = 64 * 1024 * 1024;

/**
 * Loads the newest valid checkpoint and replays the log after it through
 * `log`.
 *
 * @throws {CorruptSegmentError} when a segment is damaged in its middle.
 */
export async function recover(options: {
  fs: StorageFs;
  dataDir: string;
  host: EngineHost;
  log: OrderedLog;
  logger: Logger;
  onProgress?: (p: RecoveryProgress) => void;
}): Promise<RecoveryReport> {
  const { fs, dataDir, host, log, logger } = options;
  const started = performance.now();
  let rows = 0;
  let tables = 0;
  let checkpoint: CheckpointFile | undefined;
  let previous: CheckpointFile | undefined;
  const names = await listCheckpoints(fs, dataDir);
  const unreadable: string[] = [];
  for (const [i, name] of names.entries()) {
    try {
      const found = await readCheckpoint(fs, dataDir, name);
      for (const { manifest, arrow } of found.snapshots) {
        await restoreTable(host, manifest, arrow);
        rows += manifest.rows;
      }
      await host.flush();
      tables = found.snapshots.length;
      checkpoint = found.checkpoint;
      log.restored(checkpoint.tables.map((t) => t.table), checkpoint.meta, checkpoint.seq);
      const older = names[i + 1];
      if (older) {
        // Only its file list is needed (to keep its files); reading and checking
        // its snapshots too would double the bytes start-up reads.
        previous = await fs.readFile(join(dataDir, older))
          .then((b) => JSON.parse(new TextDecoder().decode(b)) as CheckpointFile)
          .catch(() => undefined);
      }
      break;
    } catch (error) {
      // Tables of a checkpoint that failed half-way must not stay behind.
      for (const t of await host.tableNames()) await host.dropTable(t);
      logger.warn("checkpoint unreadable; trying an older one", { file: name, error });
      unreadable.push(`${name}: ${error instanceof Error ? error.message : error}`);
    }
  }
  const segments = await listSegments(fs, join(dataDir, "wal"));
  if (!checkpoint && unreadable.length > 0 && (segments[0]?.firstSeq ?? 0) !== 1) {
    // The records before the checkpoints were deleted: starting anyway would
    // serve tables without acknowledged rows.
    throw new DataDirError(
      `no checkpoint in ${dataDir} reads back (${unreadable.join("; ")}), and the log ` +
        "no longer holds the records they covered; restore the data directory from a backup",
    );
  }
  const after = checkpoint?.seq ?? 0;
  let total = 0;
  for (const s of segments) total += (await Deno.stat(s.path).catch(() => ({ size: 0 }))).size;
  let records = 0;
  let refused = 0;
  let read = 0;
  let sinceFlush = 0;
  let expected = after + 1;
  let lastReport = performance.now();
  const report = () =>
    options.onProgress?.({
      records,
      rows,
      percent: total === 0 ? 100 : Math.min(100, Math.round((read / total) * 100)),
    });
  const end = await scanSegments(fs, segments, after, async (record, bytes) => {
    if (record.seq !== expected) {
      logger.warn("records missing from the log", { from: expected, to: record.seq - 1 });
    }
    expected = record.seq + 1;
    const error = await log.replay(record);
    if (error && localFailure(error) !== undefined) throw unappliable(record.seq, error.message);
    if (error) {
      refused++;
      logger.warn("record refused on replay, as it was when appended", {
        seq: record.seq,
        error: error.message,
      });
    }
    records++;
    read += bytes;
    sinceFlush += bytes;
    if (record.change.type === "batch") rows += record.change.batch.rows;
    if (sinceFlush >= FLUSH_BYTES) {
      sinceFlush = 0;
      await host.flush();
      await checkReplayed(log);
    }
    if (performance.now() - lastReport >= 2000) {
      lastReport = performance.now();
      report();
    }
  });
  await host.flush();
  await checkReplayed(log);
  read = total;
  report();
  if (end.tornBytes > 0) {
    logger.warn(
      "dropped a torn record at the end of the log (a crash mid-write; never acknowledged)",
      {
        segment: end.segment?.path,
        offset: end.validLength,
        bytes: end.tornBytes,
      },
    );
  }
  return {
    checkpoint,
    previous,
    tables,
    records,
    refused,
    rows,
    end,
    ms: performance.now() - started,
  };
}

/**
 * Stops start-up when a replayed batch failed for want of room here: the
 * record was logged, and starting without it would serve tables that lack
 * what may have been acknowledged.
 */
async function checkReplayed(log: OrderedLog): Promise<void> {
  const failure = await log.replayFailure();
  if (failure) throw unappliable(failure.seq, failure.reason);
}

function unappliable(seq: number, reason: string): DataDirError {
  return new DataDirError(
    `log record ${seq} cannot be applied by this engine (${reason}); start-up stops rather ` +
      "than serve tables without it: raise MAX_ENGINE_MEMORY (or the config file's " +
      "limits.maxEngineMemory) and start again",
  );
}
