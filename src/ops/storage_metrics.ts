/**
 * Metrics of the batch log's storage: log bytes and records, sync latency,
 * write errors, checkpoints (age, duration, ingest pause) and recovery.
 *
 * @module
 */

import type { Registry } from "./metrics.ts";

/** What the storage metrics read; a `DataDir` provides it. */
export interface StorageSource {
  /** The log's counters; `writeSeconds` is drained at each scrape. */
  log: {
    stats: {
      records: number;
      bytes: number;
      groups: number;
      writeSeconds: number[];
      writeErrors: number;
    };
    appliedSeq: number;
  };
  /** The segment writer. */
  writer: { bytesWritten: number };
  /** Checkpoints. */
  checkpointer: {
    bytesSince: number;
    failures: number;
    last?: { at: number; pauseMs: number; durationMs: number };
  };
  /** Recovery at start-up. */
  recovery: { ms: number; records: number; rows: number };
}

/** Registers the storage metrics on `r`, read at each scrape. */
export function watchStorage(r: Registry, storage: StorageSource): void {
  const records = r.counter({
    name: "perspective_log_records_total",
    help: "Records written to the write-ahead log.",
  });
  const bytes = r.counter({
    name: "perspective_log_bytes_total",
    help: "Bytes of records written to the write-ahead log.",
  });
  const groups = r.counter({
    name: "perspective_log_groups_total",
    help: "Groups of records written together, one sync each.",
  });
  const errors = r.counter({
    name: "perspective_log_write_errors_total",
    help: "Records refused because the log could not be written (disk full, I/O error).",
  });
  const sync = r.histogram({
    name: "perspective_log_write_seconds",
    help: "Time to write and sync one group of records.",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  });
  const sinceCheckpoint = r.gauge({
    name: "perspective_log_bytes_since_checkpoint",
    help: "Bytes of log records a recovery would replay after the newest checkpoint.",
  });
  const applied = r.gauge({
    name: "perspective_log_applied_sequence",
    help: "Sequence number of the last applied log record.",
  });
  const age = r.gauge({
    name: "perspective_snapshot_age_seconds",
    help: "Seconds since the newest checkpoint committed (0 before the first).",
  });
  const duration = r.gauge({
    name: "perspective_snapshot_duration_seconds",
    help: "Duration of the newest checkpoint, and the ingest pause it caused.",
    labelNames: ["part"],
  });
  const failures = r.gauge({
    name: "perspective_snapshot_failures",
    help: "Checkpoints that failed since start-up.",
  });
  const recovery = r.gauge({
    name: "perspective_recovery_seconds",
    help: "Time recovery took at start-up.",
  });
  const recovered = r.gauge({
    name: "perspective_recovery_records",
    help: "Log records replayed at start-up.",
  });
  r.collect(() => {
    const s = storage.log.stats;
    records.inc(undefined, s.records - records.get());
    bytes.inc(undefined, s.bytes - bytes.get());
    groups.inc(undefined, s.groups - groups.get());
    errors.inc(undefined, s.writeErrors - errors.get());
    for (const seconds of s.writeSeconds.splice(0)) sync.observe(undefined, seconds);
    sinceCheckpoint.set(undefined, storage.checkpointer.bytesSince);
    applied.set(undefined, storage.log.appliedSeq);
    const last = storage.checkpointer.last;
    age.set(undefined, last ? (Date.now() - last.at) / 1000 : 0);
    duration.set({ part: "total" }, last ? last.durationMs / 1000 : 0);
    duration.set({ part: "pause" }, last ? last.pauseMs / 1000 : 0);
    failures.set(undefined, storage.checkpointer.failures);
    recovery.set(undefined, storage.recovery.ms / 1000);
    recovered.set(undefined, storage.recovery.records);
  });
}
