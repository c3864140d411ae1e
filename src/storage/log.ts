/**
 * The batch log: the one order in which changes reach the engine. Every
 * change to a durable table (create, drop, batch) and to saved settings
 * takes a sequence number, is written to the log's store (nothing, a
 * write-ahead file, a stream), and only then applied, in sequence order.
 * `append` resolves once both happened, so an acknowledged change is
 * durable and readable here.
 *
 * Tables the log did not create (the demo, a WebSocket session's own
 * tables) are not durable: their batches take their place in the order but
 * are not written.
 *
 * @module
 */

import type { BatchResult } from "../engine/batch_types.ts";
import type { BatchApplier } from "../engine/apply.ts";
import type { EngineHost } from "../engine/host.ts";
import { LogState, LogStateView } from "./state.ts";
import { type Change, changeTable, encodeRecord, type LogRecord } from "./record.ts";
import type { Frame } from "./segments.ts";
import { localFailure } from "./local_failure.ts";
import { StatusError } from "../engine/batch_types.ts";

/** What an append achieved. */
export interface Applied {
  /** The log position of the change ("" for a change that was not logged). */
  position: string;
  /** For batches: rows, size and whether it created the table. */
  result: BatchResult;
}

/** Where a log writes its records; absent for a memory-only log. */
export interface LogStore {
  /** Writes records in order; resolves once they are durable. */
  write(frames: Frame[]): Promise<void>;
}

/** An ordered log of changes. */
export interface BatchLog {
  /**
   * Appends a change and resolves once it is durable and applied.
   *
   * @param precondition Runs synchronously when the change takes its place
   *   in the order, after earlier creates and drops of its table are
   *   applied; throwing refuses the change (nothing is written).
   */
  append(change: Change, precondition?: () => void): Promise<Applied>;
  /** The last applied position. */
  readonly position: string;
  /** Whether `table` was created through the log (and so is durable). */
  isDurable(table: string): boolean;
  /** A saved setting, or undefined. */
  meta(key: string): unknown;
  /** Keys of saved settings that start with `prefix`. */
  metaKeys(prefix: string): string[];
  /** Stops accepting changes; waits for those in flight. */
  close(): Promise<void>;
}

/** Counters a log keeps for `/metrics`. */
export interface LogStats {
  /** Records written. */
  records: number;
  /** Bytes of record bodies written. */
  bytes: number;
  /** Groups written (one sync each). */
  groups: number;
  /** Seconds spent in the store's writes, each group's since the last read (at most 8192). */
  writeSeconds: number[];
  /** Changes refused because the store failed. */
  writeErrors: number;
}

interface Entry {
  change: Change;
  persist: boolean;
  seq: number;
  body?: Uint8Array;
  failed?: boolean;
  resolve: (a: Applied) => void;
  reject: (e: unknown) => void;
  done?: () => void;
}

/** Options for {@linkcode OrderedLog}. */
export interface OrderedLogOptions {
  /** The store; without one the log keeps nothing (memory only). */
  store?: LogStore;
  /** Maps a store failure to the error a client sees. */
  storeError?: (err: unknown) => Error;
  /** Bytes of records written together at most. @default 64 MiB */
  maxGroupBytes?: number;
  /** The sequence number of the last record already in the store. @default 0 */
  lastSeq?: number;
  /** Runs after each applied record, in order (snapshot scheduling). */
  onApplied?: (record: LogRecord, bytes: number) => void;
  /**
   * Called once when a logged change fails on this engine alone (see
   * `local_failure.ts`): the tables now differ from the log, and only a
   * restart, which rebuilds them from it, brings them back.
   */
  onDiverged?: (d: LogDivergence) => void;
}

/** A logged change this engine could not apply. */
export interface LogDivergence {
  /** Its sequence number. */
  seq: number;
  /** Why. */
  reason: string;
}

/** A batch log with an optional store; see the module documentation. */
export class OrderedLog extends LogStateView implements BatchLog {
  readonly #host: EngineHost;
  readonly #options: OrderedLogOptions;
  readonly #queue: Entry[] = [];
  #seq: number;
  #applied: number;
  #pumping = false;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  /** Counters for metrics. */
  readonly stats: LogStats = { records: 0, bytes: 0, groups: 0, writeSeconds: [], writeErrors: 0 };
  /** The logged change this engine could not apply, if any: the tables differ from the log. */
  diverged?: LogDivergence;
  /** Settlements of replayed batches not yet checked. */
  #replaying: Promise<void>[] = [];
  /** The first replayed record this engine alone could not apply. */
  #replayFailure?: LogDivergence;

  /**
   * @param host The engine host the changes go to.
   * @param applier Applies batches to `host`.
   */
  constructor(host: EngineHost, applier: BatchApplier, options: OrderedLogOptions = {}) {
    super(new LogState(host, applier));
    this.#host = host;
    this.#options = options;
    this.#seq = options.lastSeq ?? 0;
    this.#applied = this.#seq;
  }

  /** The last applied sequence number, as a position. */
  get position(): string {
    return String(this.#applied);
  }

  /** The last applied sequence number. */
  get appliedSeq(): number {
    return this.#applied;
  }

  /** See {@linkcode BatchLog.append}. */
  async append(change: Change, precondition?: () => void): Promise<Applied> {
    if (this.#closed) throw new Error("the batch log is closed");
    if (this.diverged) throw divergedError(this.diverged);
    const table = changeTable(change);
    await this.settledStructure(table);
    if (this.#closed) throw new Error("the batch log is closed");
    precondition?.();
    const persist = this.persists(change, table);
    const promise = new Promise<Applied>((resolve, reject) => {
      const entry: Entry = { change, persist, seq: 0, resolve, reject };
      this.holdStructure(change, table, new Promise<void>((done) => entry.done = done));
      this.#queue.push(entry);
    });
    this.track(promise);
    void this.#pump();
    return await promise;
  }

  /**
   * Runs `fn` between two applied records: every record before it is
   * applied and flushed, none after it is staged until `fn` resolves.
   */
  paused<T>(fn: (seq: number) => Promise<T>): Promise<T> {
    const run = this.#chain.then(async () => {
      await this.#host.flush();
      return await fn(this.#applied);
    });
    this.#chain = run.then(() => {}, () => {});
    return run;
  }

  /**
   * Applies a record read back from the store at start-up, in order, with
   * the same effect as when it was first appended. Engine refusals are
   * returned, not thrown: the change was refused the same way back then.
   * The engine processes staged batches at its next poll; the caller
   * flushes the host now and then, not once per record.
   */
  async replay(record: LogRecord): Promise<Error | undefined> {
    this.#seq = Math.max(this.#seq, record.seq);
    const noteFailure = (err: unknown) => {
      const reason = localFailure(err);
      if (reason !== undefined) this.#replayFailure ??= { seq: record.seq, reason };
    };
    try {
      const staged = await this.state.apply(record.change);
      if (staged) this.#replaying.push(staged.settled.then(() => {}, noteFailure));
      return undefined;
    } catch (err) {
      noteFailure(err);
      return err instanceof Error ? err : new Error(String(err));
    } finally {
      this.#applied = Math.max(this.#applied, record.seq);
    }
  }

  /**
   * Waits for the batches replayed so far to settle, and returns the first
   * that this engine alone could not apply (no room, rows it did not store),
   * or undefined: such a record must not be skipped, or the tables would
   * lack what was acknowledged.
   */
  async replayFailure(): Promise<LogDivergence | undefined> {
    await Promise.all(this.#replaying.splice(0));
    return this.#replayFailure;
  }

  /** Marks tables restored from a snapshot as durable, and sets saved settings. */
  restored(tables: string[], meta: [string, unknown][], seq: number): void {
    this.state.restored(tables, meta);
    this.#seq = Math.max(this.#seq, seq);
    this.#applied = Math.max(this.#applied, seq);
  }

  /** Refuses new changes and waits for those already appended. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.inflightSettled();
    await this.#chain;
  }

  /** Notes a logged change that failed; one that failed here alone makes the log diverged. */
  #noteFailure(seq: number, err: unknown): void {
    // Without a store there is no log to rebuild from: the refusal is all.
    if (!this.#options.store) return;
    const reason = localFailure(err);
    if (reason === undefined || this.diverged) return;
    this.diverged = { seq, reason };
    this.#options.onDiverged?.(this.diverged);
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queue.length > 0) {
        const group = this.#takeGroup();
        await this.#write(group);
        const ok = group.filter((e) => !e.failed);
        this.#chain = this.#chain.then(() => this.#applyGroup(ok));
      }
    } finally {
      this.#pumping = false;
    }
  }

  #takeGroup(): Entry[] {
    const max = this.#options.maxGroupBytes ?? 64 * 1024 * 1024;
    let bytes = 0;
    let n = 0;
    while (n < this.#queue.length && (n === 0 || bytes < max)) {
      const e = this.#queue[n++];
      if (e.persist) {
        e.seq = ++this.#seq;
        // A memory-only log writes nothing, so it need not copy every batch into a record.
        if (!this.#options.store) continue;
        e.body = encodeRecord({ seq: e.seq, change: e.change });
        bytes += e.body.byteLength;
      }
    }
    return this.#queue.splice(0, n);
  }

  async #write(group: Entry[]): Promise<void> {
    const store = this.#options.store;
    const frames = group.filter((e) => e.persist).map((e) => ({ seq: e.seq, body: e.body! }));
    if (!store || frames.length === 0) return;
    const started = performance.now();
    try {
      await store.write(frames);
    } catch (err) {
      // Nothing of the group is in the store: its numbers are free again.
      this.#seq = frames[0].seq - 1;
      this.stats.writeErrors += frames.length;
      const error = this.#options.storeError?.(err) ?? err;
      for (const e of group) {
        if (!e.persist) continue;
        e.failed = true;
        e.reject(error);
        e.done?.();
      }
      return;
    }
    this.stats.groups++;
    this.stats.records += frames.length;
    for (const f of frames) this.stats.bytes += f.body.byteLength;
    const seconds = this.stats.writeSeconds;
    seconds.push((performance.now() - started) / 1000);
    // Only a /metrics scrape empties it: a service nobody scrapes keeps the newest.
    if (seconds.length > 8192) seconds.splice(0, 4096);
  }

  async #applyGroup(group: Entry[]): Promise<void> {
    for (const e of group) {
      const fail = (err: unknown) => {
        if (e.persist) this.#noteFailure(e.seq, err);
        e.reject(err);
      };
      try {
        const staged = await this.state.apply(e.change);
        if (e.persist) this.#applied = e.seq;
        const position = e.persist ? String(e.seq) : "";
        if (staged) {
          staged.settled.then((result) => e.resolve({ position, result }), fail);
        } else {
          e.resolve({ position, result: emptyResult(e.change) });
        }
      } catch (err) {
        if (e.persist) this.#applied = e.seq;
        fail(err);
      } finally {
        e.done?.();
        if (e.persist) {
          this.#options.onApplied?.({ seq: e.seq, change: e.change }, e.body?.byteLength ?? 0);
        }
      }
    }
  }
}

/**
 * The error for a change refused because an earlier logged change could not
 * be applied here.
 */
function divergedError(d: LogDivergence): StatusError {
  return new StatusError(
    503,
    `this service could not apply log record ${d.seq} (${d.reason}), so its tables differ ` +
      "from its log; it takes no more changes until it restarts and rebuilds them from the log",
    { "retry-after": "5" },
  );
}

function emptyResult(change: Change): BatchResult {
  return { table: changeTable(change) ?? "", rows: 0, size: 0, created: change.type === "create" };
}
