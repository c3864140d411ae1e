/**
 * Metrics and readiness of the shared batch log on Redis: replica lag in
 * entries and milliseconds, entries applied (rate by `rate()`), stream
 * length, snapshot age, and the connection state.
 *
 * With Redis unreachable the replica stays ready: reads and viewers go on
 * from the last applied state, and only writes are refused (503), so the
 * readiness check passes with a detail saying so, and
 * `perspective_redis_connected` is 0.
 *
 * @module
 */

import type { Readiness } from "./health.ts";
import type { Registry } from "./metrics.ts";

/** What these metrics read; a `RedisStorage` provides it. */
export interface SharedLogSource {
  /** Whether both connections are up. */
  readonly connected: boolean;
  /** The log. */
  log: {
    readonly ready: boolean;
    /** The entry this replica could not apply, until a rebuild applies it. */
    readonly diverged?: { seq: number; position: string; reason: string };
    readonly appliedSeq: number;
    stats: {
      applied: number;
      refused: number;
      rebuilds: number;
      appendErrors: number;
      applyDelayMs: number;
      applyFailures: number;
    };
  };
  /** Snapshots. */
  snapshotter: { failures: number };
  /** Figures polled from Redis. */
  figures: { streamLength: number; lagEntries: number; lagMs: number; snapshotAt: number };
}

/** Registers the shared log's metrics on `r` and its check on `readiness`. */
export function watchSharedLog(r: Registry, readiness: Readiness, source: SharedLogSource): void {
  readiness.addCheck(
    "redis",
    () =>
      source.log.diverged
        ? {
          ok: false,
          detail: `could not apply log entry ${source.log.diverged.seq} that other replicas ` +
            `applied (${source.log.diverged.reason}); rebuilding from a snapshot until it applies`,
        }
        : !source.log.ready
        ? { ok: false, detail: "loading the shared log's snapshot and stream" }
        : source.connected
        ? { ok: true }
        : {
          ok: true,
          detail: "Redis is unreachable: writes are refused (503), reads serve the last applied " +
            "state; reconnecting",
        },
  );
  const connected = r.gauge({
    name: "perspective_redis_connected",
    help: "1 when both connections to Redis are up, else 0.",
  });
  const applied = r.counter({
    name: "perspective_replica_applied_total",
    help: "Log entries this replica applied from the shared stream.",
  });
  const refused = r.counter({
    name: "perspective_replica_refused_total",
    help: "Log entries the engine refused (alike on every replica).",
  });
  const rebuilds = r.counter({
    name: "perspective_replica_rebuilds_total",
    help: "Rebuilds from a snapshot after a trimmed gap, a reset log or an entry this " +
      "replica could not apply.",
  });
  const applyFailures = r.counter({
    name: "perspective_replica_apply_failures_total",
    help: "Log entries this replica alone could not apply (no room, an engine failure); " +
      "each makes it unready until a rebuild applies them.",
  });
  const appendErrors = r.counter({
    name: "perspective_redis_append_errors_total",
    help: "Changes refused (503) because Redis could not take them.",
  });
  const lagEntries = r.gauge({
    name: "perspective_replica_lag_entries",
    help: "Entries in the shared stream this replica has not applied yet.",
  });
  const lagSeconds = r.gauge({
    name: "perspective_replica_lag_seconds",
    help: "Age of the oldest entry this replica has not applied (0 when caught up).",
  });
  const delay = r.gauge({
    name: "perspective_replica_apply_delay_seconds",
    help: "From Redis taking the last applied entry to this replica applying it.",
  });
  const length = r.gauge({
    name: "perspective_redis_stream_entries",
    help: "Entries in the shared stream (it is trimmed below the oldest kept snapshot).",
  });
  const age = r.gauge({
    name: "perspective_snapshot_age_seconds",
    help: "Seconds since the newest snapshot was taken (0 before the first).",
  });
  const failures = r.gauge({
    name: "perspective_snapshot_failures",
    help: "Snapshots that failed since start-up.",
  });
  r.collect(() => {
    const s = source.log.stats;
    const f = source.figures;
    connected.set(undefined, source.connected ? 1 : 0);
    applied.inc(undefined, s.applied - applied.get());
    refused.inc(undefined, s.refused - refused.get());
    rebuilds.inc(undefined, s.rebuilds - rebuilds.get());
    applyFailures.inc(undefined, s.applyFailures - applyFailures.get());
    appendErrors.inc(undefined, s.appendErrors - appendErrors.get());
    lagEntries.set(undefined, f.lagEntries);
    lagSeconds.set(undefined, f.lagMs / 1000);
    delay.set(undefined, s.applyDelayMs / 1000);
    length.set(undefined, f.streamLength);
    age.set(undefined, f.snapshotAt > 0 ? (Date.now() - f.snapshotAt) / 1000 : 0);
    failures.set(undefined, source.snapshotter.failures);
  });
}
