/**
 * What applying the log builds besides the engine's tables: which tables
 * are durable (created through the log) and the saved settings. Every log
 * (memory, write-ahead file, Redis stream) applies changes through one
 * {@linkcode LogState}, so a change means the same wherever it was read.
 *
 * @module
 */

import type { BatchResult } from "../engine/batch_types.ts";
import type { BatchApplier } from "../engine/apply.ts";
import type { EngineHost } from "../engine/host.ts";
import { type Change, isStructural } from "./record.ts";

/** Applies changes to the engine and keeps the log's own state. */
export class LogState {
  readonly #host: EngineHost;
  readonly #applier: BatchApplier;
  readonly #durable = new Set<string>();
  readonly #meta = new Map<string, unknown>();

  /**
   * @param host The engine host the changes go to.
   * @param applier Applies batches to `host`.
   */
  constructor(host: EngineHost, applier: BatchApplier) {
    this.#host = host;
    this.#applier = applier;
  }

  /** Names of the durable tables. */
  get durableTables(): string[] {
    return [...this.#durable];
  }

  /** Every saved setting. */
  get metaEntries(): [string, unknown][] {
    return [...this.#meta];
  }

  /** Whether `table` was created through the log. */
  isDurable(table: string): boolean {
    return this.#durable.has(table);
  }

  /** A saved setting, or undefined. */
  meta(key: string): unknown {
    return this.#meta.get(key);
  }

  /** Keys of saved settings that start with `prefix`, sorted. */
  metaKeys(prefix: string): string[] {
    return [...this.#meta.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** Marks tables restored from a snapshot as durable, and sets saved settings. */
  restored(tables: Iterable<string>, meta: Iterable<[string, unknown]>): void {
    for (const t of tables) this.#durable.add(t);
    for (const [k, v] of meta) this.#meta.set(k, v);
  }

  /** Forgets everything, before a rebuild from a snapshot. */
  reset(): void {
    this.#durable.clear();
    this.#meta.clear();
  }

  /** Marks `table` durable; returns what undoes it, when it was not durable before. */
  #markDurable(table: string | undefined): (() => void) | undefined {
    if (table === undefined || this.#durable.has(table)) return undefined;
    this.#durable.add(table);
    return () => this.#durable.delete(table);
  }

  /**
   * Applies one change. A batch is staged in the engine and returns the
   * promise of its settled result; the others are done when this resolves.
   *
   * @throws {StatusError} when the engine refuses the change.
   */
  async apply(change: Change): Promise<{ settled: Promise<BatchResult> } | undefined> {
    switch (change.type) {
      // A table is durable from the moment the engine may hold it: a write
      // that finds it there while the create is still under way is logged.
      case "batch": {
        const marked = this.#markDurable(change.batch.create ? change.batch.table : undefined);
        try {
          const staged = await this.#applier.stage(change.batch);
          return { settled: staged.settle() };
        } catch (err) {
          marked?.();
          throw err;
        }
      }
      case "create": {
        const marked = this.#markDurable(change.table);
        try {
          await this.#applier.create(change.table, change.def);
        } catch (err) {
          marked?.();
          throw err;
        }
        return undefined;
      }
      case "drop":
        this.#durable.delete(change.table);
        await this.#host.dropTable(change.table);
        return undefined;
      case "meta":
        if (change.value === null) this.#meta.delete(change.key);
        else this.#meta.set(change.key, change.value);
        return undefined;
    }
  }
}

/**
 * What every log shares: reading its {@linkcode LogState} (which tables are
 * durable, the saved settings), which changes it keeps, the wait behind a
 * table's pending create or drop, and the appends still in flight.
 */
export abstract class LogStateView {
  /** A table's pending create or drop, settled once it is applied or refused. */
  readonly #structural = new Map<string, Promise<void>>();
  readonly #inflight = new Set<Promise<unknown>>();

  /** @param state The state the log applies its changes through. */
  constructor(protected readonly state: LogState) {}

  /**
   * Whether a change is kept by the log. Batches to, and drops of, tables the
   * log did not create stay out of it.
   */
  protected persists(change: Change, table: string | undefined): boolean {
    if (change.type === "meta" || change.type === "create") return true;
    if (change.type === "batch" && change.batch.create) return true;
    return table !== undefined && this.state.isDurable(table);
  }

  /**
   * Waits until no create or drop of `table` is pending, so a precondition
   * checked next sees the table as the log will have it.
   */
  protected async settledStructure(table: string | undefined): Promise<void> {
    if (table === undefined) return;
    for (let p = this.#structural.get(table); p; p = this.#structural.get(table)) await p;
  }

  /** Makes later changes of `change`'s table wait for `settled` when it creates or drops one. */
  protected holdStructure(change: Change, table: string | undefined, settled: Promise<void>): void {
    if (table === undefined || !isStructural(change)) return;
    this.#structural.set(table, settled);
    void settled.then(() => {
      if (this.#structural.get(table) === settled) this.#structural.delete(table);
    });
  }

  /** Counts an append as in flight until it settles. */
  protected track(p: Promise<unknown>): void {
    const settled = p.catch(() => {});
    this.#inflight.add(settled);
    void settled.then(() => this.#inflight.delete(settled));
  }

  /** Waits for every append in flight. */
  protected async inflightSettled(): Promise<void> {
    await Promise.allSettled([...this.#inflight]);
  }

  /** Names of the durable tables. */
  get durableTables(): string[] {
    return this.state.durableTables;
  }

  /** Every saved setting. */
  get metaEntries(): [string, unknown][] {
    return this.state.metaEntries;
  }

  /** Whether `table` was created through the log (and so is durable). */
  isDurable(table: string): boolean {
    return this.state.isDurable(table);
  }

  /** A saved setting, or undefined. */
  meta(key: string): unknown {
    return this.state.meta(key);
  }

  /** Keys of saved settings that start with `prefix`. */
  metaKeys(prefix: string): string[] {
    return this.state.metaKeys(prefix);
  }
}
