/**
 * The batch log on a Redis stream, shared by every replica. A replica
 * appends a change with one script that checks the log generation (epoch),
 * numbers the entry and `XADD`s the encoded record; its own tailer applies
 * it like every other entry, and only then is the append acknowledged, with
 * the stream ID as its position and the engine's outcome. Positions are
 * stream IDs; entries carry consecutive numbers, so a replica notices a gap
 * (the stream was trimmed past it) and rebuilds from a snapshot instead.
 *
 * Changes to tables the log did not create (the demo, a WebSocket session's
 * own tables) are applied here only, in the same order as the entries.
 *
 * @module
 */

import type { BatchResult } from "../../engine/batch_types.ts";
import { StatusError } from "../../engine/batch_types.ts";
import type { BatchApplier } from "../../engine/apply.ts";
import type { EngineHost } from "../../engine/host.ts";
import type { Logger } from "../../ops/log.ts";
import type { Applied, BatchLog } from "../log.ts";
import { type Change, changeTable, decodeRecord, encodeRecord } from "../record.ts";
import { LogState, LogStateView } from "../state.ts";
import type { RedisConnection } from "./client.ts";
import { compareIds, START } from "./ids.ts";
import { APPEND_SCRIPT, type LogKeys } from "./keys.ts";
import { appendError, unreachable } from "./errors.ts";
import { concurrent, emptyResult } from "./concurrent.ts";
import { VisiblePosition } from "./positions.ts";
import { localFailure } from "../local_failure.ts";

interface Waiter {
  resolve: (a: Applied) => void;
  reject: (e: unknown) => void;
}

/** Counters and gauges for `/metrics`. */
export interface ReplicaStats {
  /** Entries applied since start-up. */
  applied: number;
  /** Entries the engine refused (on every replica alike). */
  refused: number;
  /** Rebuilds from a snapshot after a gap or a new epoch. */
  rebuilds: number;
  /** Appends refused because Redis could not be reached. */
  appendErrors: number;
  /** Milliseconds from `XADD` to applied here, of the last entry. */
  applyDelayMs: number;
  /** Entries this replica alone could not apply (each made it rebuild). */
  applyFailures: number;
}

/** An entry this replica could not apply while others could. */
export interface Divergence {
  /** Its stream ID. */
  position: string;
  /** Its entry number. */
  seq: number;
  /** Why. */
  reason: string;
}

/** What the log tells whoever takes snapshots. */
export interface AppliedListener {
  /** An entry of `bytes` was applied. */
  (bytes: number): void;
}

/** A change applied and the position it is at. */
export interface PausedState {
  /** Stream ID of the last applied entry. */
  position: string;
  /** Its entry number. */
  seq: number;
  /** The log generation. */
  epoch: string;
}

/** See the module documentation. */
export class StreamLog extends LogStateView implements BatchLog {
  readonly #host: EngineHost;
  readonly #keys: LogKeys;
  readonly #logger: Logger;
  readonly #replica = crypto.randomUUID();
  readonly #waiters = new Map<string, Waiter>();
  readonly #visible = new VisiblePosition();
  #cmd?: RedisConnection;
  #nonce = 0;
  #epoch = "";
  #applied = START;
  #seq = 0;
  #generation = 0;
  #chain: Promise<unknown> = Promise.resolve();
  #settled: Promise<unknown> = Promise.resolve();
  #closed = false;
  #ready = false;
  /** Bound on a read's wait for a position, in milliseconds. */
  readWaitMs: number;
  /** Called after each applied entry. */
  onApplied?: AppliedListener;
  /** Counters for metrics. */
  readonly stats: ReplicaStats = {
    applied: 0,
    refused: 0,
    rebuilds: 0,
    appendErrors: 0,
    applyDelayMs: 0,
    applyFailures: 0,
  };
  /**
   * The entry this replica could not apply, until a rebuild has loaded the
   * tables again and that entry applies; meanwhile it is not ready.
   */
  diverged?: Divergence;
  /** Called once for each entry this replica alone could not apply. */
  onDiverged?: (d: Divergence) => void;

  /**
   * @param host The engine host.
   * @param applier Applies batches to `host`.
   */
  constructor(
    host: EngineHost,
    applier: BatchApplier,
    options: { keys: LogKeys; logger: Logger; readWaitMs?: number },
  ) {
    super(new LogState(host, applier));
    this.#host = host;
    this.#keys = options.keys;
    this.#logger = options.logger;
    this.readWaitMs = options.readWaitMs ?? 5000;
  }

  /** The connection appends go through; set once it is open. */
  set connection(conn: RedisConnection) {
    this.#cmd = conn;
  }

  /** Whether this replica has bootstrapped and may take writes. */
  get ready(): boolean {
    return this.#ready;
  }

  /** The stream ID of the last applied entry. */
  get position(): string {
    return this.#applied;
  }

  /** The number of the last applied entry. */
  get appliedSeq(): number {
    return this.#seq;
  }

  /** The log generation this replica follows. */
  get epoch(): string {
    return this.#epoch;
  }

  /** See {@linkcode BatchLog.append}. */
  async append(change: Change, precondition?: () => void): Promise<Applied> {
    const table = changeTable(change);
    await this.settledStructure(table);
    if (this.#closed) throw new Error("the batch log is closed");
    precondition?.();
    if (!this.persists(change, table)) {
      const staged = await this.#run(() => this.state.apply(change));
      return { position: "", result: staged ? await staged.settled : emptyResult(change) };
    }
    const cmd = this.#cmd;
    if (!this.#ready || !cmd?.connected) {
      this.stats.appendErrors++;
      throw this.#ready ? unreachable() : unreachable(
        this.diverged
          ? `this replica could not apply entry ${this.diverged.seq} and is rebuilding its tables`
          : "this replica is loading the log",
      );
    }
    const nonce = `${this.#replica}:${++this.#nonce}`;
    const acked = new Promise<Applied>((resolve, reject) =>
      this.#waiters.set(nonce, { resolve, reject })
    );
    this.holdStructure(change, table, acked.then(() => {}, () => {}));
    this.track(acked);
    const body = encodeRecord({ seq: 0, change });
    const k = this.#keys;
    try {
      await cmd.send([
        "EVAL",
        APPEND_SCRIPT,
        "3",
        k.epoch,
        k.seq,
        k.stream,
        this.#epoch,
        nonce,
        body,
      ]);
    } catch (err) {
      this.#waiters.get(nonce)?.reject(appendError(err));
      this.#waiters.delete(nonce);
      this.stats.appendErrors++;
    }
    return await acked;
  }

  /** Waits until this replica has applied `position`; false when `ms` ran out first. */
  waitFor(position: string, ms = this.readWaitMs): Promise<boolean> {
    return this.#visible.waitFor(position, ms);
  }

  /** Runs `fn` between two applied entries, with the engine flushed. */
  paused<T>(fn: (s: PausedState) => Promise<T>): Promise<T> {
    return this.#run(async () => {
      await this.#host.flush();
      return await fn({ position: this.#applied, seq: this.#seq, epoch: this.#epoch });
    });
  }

  /**
   * Applies one entry read from the stream, in order; an entry at or
   * before the last applied one is a redelivery and changes nothing.
   */
  applyEntry(id: string, seq: number, nonce: string, body: Uint8Array): Promise<void> {
    return this.#run(async () => {
      if (compareIds(id, this.#applied) <= 0) return;
      const waiter = this.#waiters.get(nonce);
      this.#waiters.delete(nonce);
      let settled: Promise<BatchResult>;
      try {
        const decoded = decodeRecord(body).change;
        const change = await concurrent(decoded, this.#host);
        const staged = change ? await this.state.apply(change) : undefined;
        settled = staged ? staged.settled : Promise.resolve(emptyResult(decoded));
      } catch (err) {
        settled = Promise.reject(err);
      }
      // Awaited in order below; until then a refusal is not unhandled.
      settled.catch(() => {});
      this.#applied = id;
      this.#seq = seq;
      this.stats.applied++;
      this.stats.applyDelayMs = Math.max(0, Date.now() - Number(id.split("-")[0]));
      this.onApplied?.(body.byteLength);
      const generation = this.#generation;
      this.#settled = this.#settled.then(async () => {
        try {
          const result = await settled;
          this.#caughtUp(seq, generation);
          waiter?.resolve({ position: id, result });
        } catch (err) {
          const reason = localFailure(err);
          if (reason !== undefined && generation === this.#generation) {
            this.#diverge({ position: id, seq, reason }, waiter);
            return;
          }
          this.#caughtUp(seq, generation);
          this.stats.refused++;
          if (!waiter) {
            this.#logger.warn("log entry refused by the engine, as on every replica", {
              position: id,
              error: err instanceof Error ? err.message : String(err),
            });
          }
          waiter?.reject(err);
        }
        // Past an entry it could not apply, this replica's positions mean nothing.
        if (generation === this.#generation && !this.diverged) this.#visible.advance(id);
      });
    });
  }

  /**
   * Forgets every durable table and the saved settings, then loads state
   * through `load`, which returns the position it reached. Appends waiting
   * for their entries are refused: they may be in the snapshot or lost with
   * an old epoch, so their outcome is unknown.
   */
  rebuild(
    epoch: string,
    load: (restored: (tables: string[], meta: [string, unknown][]) => void) => Promise<
      { position: string; seq: number }
    >,
  ): Promise<void> {
    return this.#run(async () => {
      this.#generation++;
      this.#ready = false;
      for (const w of this.#waiters.values()) {
        w.reject(
          new StatusError(
            503,
            "this replica rebuilt its tables from a snapshot while the change was in flight; " +
              "whether it was applied is unknown: read the table before retrying",
            { "retry-after": "1" },
          ),
        );
      }
      this.#waiters.clear();
      await this.#host.flush();
      for (const t of this.state.durableTables) await this.#host.dropTable(t);
      this.state.reset();
      const at = await load((tables, meta) => this.state.restored(tables, meta));
      await this.#host.flush();
      this.#epoch = epoch;
      this.#applied = at.position;
      this.#seq = at.seq;
      this.#visible.reset(at.position);
      // After an entry it could not apply, it is ready again only once that
      // entry is applied: from the snapshot, or below as the stream goes on.
      if (this.diverged && at.seq >= this.diverged.seq) this.diverged = undefined;
      this.#ready = this.diverged === undefined;
    });
  }

  /**
   * After a rebuild, the entry this replica could not apply (or a later one)
   * has now been applied, or refused as on every replica: it is ready again.
   */
  #caughtUp(seq: number, generation: number): void {
    if (this.diverged && generation === this.#generation && seq >= this.diverged.seq) {
      this.diverged = undefined;
      this.#ready = true;
    }
  }

  /**
   * Stops serving as if `d` were applied: the replica is not ready, reads do
   * not see its position, and the tailer rebuilds the tables from a
   * snapshot, with this entry applied again after it.
   */
  #diverge(d: Divergence, waiter: Waiter | undefined): void {
    this.stats.applyFailures++;
    this.diverged ??= d;
    this.#ready = false;
    this.#logger.error(
      "could not apply a log entry that other replicas apply; not ready until a rebuild applies it",
      { ...d },
    );
    waiter?.reject(
      new StatusError(
        503,
        `the change is in the shared log at ${d.position}, but this replica could not apply it ` +
          `(${d.reason}); it is rebuilding its tables: read the table before retrying`,
        { "retry-after": "5" },
      ),
    );
    this.onDiverged?.(d);
  }

  /** Refuses new changes; fails appends still waiting; waits for applies in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#ready = false;
    for (const w of this.#waiters.values()) {
      w.reject(new StatusError(503, "the service is shutting down", { "retry-after": "1" }));
    }
    this.#waiters.clear();
    await this.inflightSettled();
    await this.#chain.catch(() => {});
    await this.#settled;
  }

  #run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn);
    this.#chain = run.catch(() => {});
    return run;
  }
}
