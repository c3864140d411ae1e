/**
 * The batch log: the seam between validation and the engine, where
 * durability and replication plug in. A batch is acknowledged once the log
 * accepted it and, for the in-memory log, once the engine applied it.
 *
 * @module
 */

import type { BatchResult, ValidBatch } from "./batch.ts";
import type { Staged } from "../engine/apply.ts";

/** Hands a validated batch to the engine; see `BatchApplier.stage`. */
export type StageFn = (valid: ValidBatch) => Promise<Staged>;

/** An ordered log of validated batches. */
export interface BatchLog {
  /**
   * Appends a batch and resolves with its result once it is applied.
   * Rejects when the batch cannot be applied; the log then holds nothing of
   * it. Batches for one table are applied in the order appended.
   */
  append(valid: ValidBatch): Promise<BatchResult>;
  /** Batches accepted so far. */
  readonly sequence: number;
  /** Stops accepting batches. */
  close(): Promise<void>;
}

/**
 * The first log: nothing is kept; each batch is applied at once, in order
 * per table. A write-ahead file or a Redis stream would persist the batch
 * before staging it. Waiting for the engine to process a batch happens
 * outside the per-table order, so batches for one table are processed
 * together by one engine poll rather than one poll each.
 */
export class MemoryBatchLog implements BatchLog {
  readonly #stage: StageFn;
  readonly #queues = new Map<string, Promise<unknown>>();
  #sequence = 0;
  #closed = false;

  /** @param stage Hands a batch to the engine. */
  constructor(stage: StageFn) {
    this.#stage = stage;
  }

  /** Batches accepted so far. */
  get sequence(): number {
    return this.#sequence;
  }

  /** Stages the batch after earlier batches for its table, then waits for it. */
  async append(valid: ValidBatch): Promise<BatchResult> {
    if (this.#closed) throw new Error("batch log is closed");
    const staged = await this.#serial(valid.batch.table, () => this.#stage(valid));
    this.#sequence++;
    return await staged.settle();
  }

  /** Refuses later batches. */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  #serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#queues.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.#queues.set(key, tail);
    void tail.then(() => {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    });
    return next;
  }
}
