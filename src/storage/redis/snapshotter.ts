/**
 * Snapshots of the shared log, taken by one replica at a time: whoever
 * crosses the policy's threshold takes the lock (`SET NX PX`), captures
 * every durable table between two applied entries, stores the snapshot in
 * Redis, keeps the two newest, and trims the stream with `XTRIM MINID`
 * below the older of them, the oldest snapshot still needed.
 *
 * @module
 */

import type { EngineHost } from "../../engine/host.ts";
import type { Logger } from "../../ops/log.ts";
import { type Capture, captureTable } from "../snapshot.ts";
import type { RedisConnection } from "./client.ts";
import { compareIds } from "./ids.ts";
import { type LogKeys, RELEASE_SCRIPT } from "./keys.ts";
import { deleteSnapshot, listSnapshots, readManifest, writeSnapshot } from "./snapshots.ts";
import type { StreamLog } from "./stream_log.ts";

/** When a replica tries to take a snapshot. */
export interface SnapshotPolicy {
  /** Bytes of entries applied since the last attempt. @default 256 MiB */
  bytes: number;
  /** Milliseconds since the first change after the last attempt. @default 300000 */
  ageMs: number;
}

/** Snapshots kept; the stream is trimmed below the oldest. */
export const KEEP_SNAPSHOTS = 2;

/** Milliseconds the lock is held at most, should its holder die. */
const LOCK_MS = 120_000;

/** See the module documentation. */
export class Snapshotter {
  readonly #conn: RedisConnection;
  readonly #keys: LogKeys;
  readonly #host: EngineHost;
  readonly #log: StreamLog;
  readonly #logger: Logger;
  readonly #policy: SnapshotPolicy;
  readonly #id = crypto.randomUUID();
  readonly #timer: ReturnType<typeof setInterval>;
  #bytesSince = 0;
  #changedAt?: number;
  #running?: Promise<string | undefined>;
  /** Snapshots that failed. */
  failures = 0;

  /** Connection, keys, engine, log, logger and policy. */
  constructor(o: {
    conn: RedisConnection;
    keys: LogKeys;
    host: EngineHost;
    log: StreamLog;
    logger: Logger;
    policy?: Partial<SnapshotPolicy>;
  }) {
    this.#conn = o.conn;
    this.#keys = o.keys;
    this.#host = o.host;
    this.#log = o.log;
    this.#logger = o.logger;
    this.#policy = { bytes: 256 * 1024 * 1024, ageMs: 300_000, ...o.policy };
    this.#timer = setInterval(() => {
      if (this.#changedAt !== undefined && Date.now() - this.#changedAt >= this.#policy.ageMs) {
        void this.snapshot();
      }
    }, Math.min(10_000, Math.max(100, this.#policy.ageMs / 4)));
    Deno.unrefTimer(this.#timer);
  }

  /** Notes an applied entry; tries a snapshot past the byte threshold. */
  noteApplied(bytes: number): void {
    this.#bytesSince += bytes;
    this.#changedAt ??= Date.now();
    if (this.#bytesSince >= this.#policy.bytes) void this.snapshot();
  }

  /**
   * Takes a snapshot now unless another replica holds the lock or the
   * newest one is already at this replica's position.
   *
   * @returns the new snapshot's name, or undefined.
   */
  snapshot(): Promise<string | undefined> {
    this.#running ??= this.#take().catch((error) => {
      this.failures++;
      this.#logger.error("snapshot failed; the stream keeps every entry until one succeeds", {
        error: String((error as Error)?.message ?? error),
      });
      return undefined;
    }).finally(() => this.#running = undefined);
    return this.#running;
  }

  /** Stops the timer and waits for a snapshot being taken. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  async #take(): Promise<string | undefined> {
    // Whoever holds the lock is snapshotting for everyone: start counting again.
    this.#bytesSince = 0;
    this.#changedAt = undefined;
    const k = this.#keys;
    const lock = await this.#conn.send(["SET", k.lock, this.#id, "NX", "PX", String(LOCK_MS)]);
    if (lock === null) return undefined;
    try {
      const names = await listSnapshots(this.#conn, k);
      const newest = names[0] ? await readManifest(this.#conn, k, names[0]) : undefined;
      const state = await this.#log.paused(async (at) => {
        if (newest && newest.epoch === at.epoch && compareIds(at.position, newest.position) <= 0) {
          return undefined;
        }
        const captures: Capture[] = [];
        for (const t of this.#log.durableTables) captures.push(await captureTable(this.#host, t));
        return { at, captures, meta: this.#log.metaEntries };
      });
      if (!state) return undefined;
      const started = performance.now();
      const snapshot = await writeSnapshot(this.#conn, k, {
        epoch: state.at.epoch,
        position: state.at.position,
        seq: state.at.seq,
        created: Date.now(),
        meta: state.meta,
      }, state.captures);
      const kept: string[] = [];
      for (const name of await listSnapshots(this.#conn, k)) {
        const m = kept.length < KEEP_SNAPSHOTS
          ? await readManifest(this.#conn, k, name)
          : undefined;
        if (m && m.epoch === state.at.epoch) kept.push(m.position);
        else await deleteSnapshot(this.#conn, k, name);
      }
      // Entries below the oldest kept snapshot are in every kept snapshot.
      const floor = kept[kept.length - 1];
      await this.#conn.send(["XTRIM", k.stream, "MINID", floor]);
      this.#logger.info("snapshot", {
        position: snapshot.position,
        tables: snapshot.tables.length,
        ms: Math.round(performance.now() - started),
        trimmedBelow: floor,
      });
      return snapshot.name;
    } finally {
      await this.#conn.send(["EVAL", RELEASE_SCRIPT, "1", k.lock, this.#id]).catch(() => {});
    }
  }
}
