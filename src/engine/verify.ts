/**
 * Verification after apply: the engine near its ceilings resolves an
 * update while storing only part of it, so the applier keeps, per table
 * without an index, the size the table must have once each staged append is
 * applied, and checks it when the batch settles. Appends only add rows, so
 * a later append applied by the same engine poll can only raise the size;
 * a clear, replace or remove starts a new generation, and the batches
 * staged before it are no longer checked.
 *
 * @module
 */

import type { Table } from "./perspective.ts";
import { memoryStats } from "./memory.ts";
import { StatusError } from "./batch_types.ts";

/** What one staged append must leave behind. */
export interface Expectation {
  /** The table's size once this batch is applied, at least. */
  readonly size: number;
  /** The table's generation when the batch was staged. */
  readonly generation: number;
}

/** What the ledger needs to know of a table the first time it sees it. */
export interface TableState {
  /** Rows now, every staged batch applied. */
  size: number;
  /** Index column, or null. */
  index: string | null;
  /** Row limit, or null. */
  limit: number | null;
}

/** A discrepancy between what a batch asked for and what the engine did: HTTP 500. */
export class ApplyDiscrepancyError extends StatusError {
  /**
   * @param table Table name.
   * @param expected Size the table should have at least.
   * @param actual Size the engine reports.
   */
  constructor(readonly table: string, readonly expected: number, readonly actual: number) {
    super(
      500,
      `the engine did not store the whole batch: table ${JSON.stringify(table)} holds ` +
        `${actual} rows where it should hold at least ${expected}. The batch is not ` +
        "acknowledged and part of it may be in the table; the engine is likely at its " +
        "memory or row ceiling: drop or clear tables, or give tables a row limit",
    );
    this.name = "ApplyDiscrepancyError";
  }
}

interface Entry {
  size?: number;
  indexed: boolean;
  limit: number | null;
  generation: number;
}

/** Per-table expected sizes for tables without an index. */
export class SizeLedger {
  readonly #tables = new WeakMap<Table, Entry>();

  /**
   * Records an append of `rows` and returns what it must leave behind, or
   * undefined for a table with an index (an upsert may add no rows).
   *
   * @param describe Reads the table's size (after a flush), index and
   *   limit; called only when the ledger does not know the size.
   */
  async append(
    table: Table,
    rows: number,
    describe: () => Promise<TableState>,
  ): Promise<Expectation | undefined> {
    let entry = this.#tables.get(table);
    if (entry?.size === undefined) {
      const state = await describe();
      entry = {
        size: state.size,
        indexed: state.index !== null,
        limit: state.limit,
        generation: entry?.generation ?? 0,
      };
      this.#tables.set(table, entry);
    }
    if (entry.indexed) return undefined;
    const before = entry.size!;
    entry.size = entry.limit !== null ? Math.min(entry.limit, before + rows) : before + rows;
    return { size: entry.size, generation: entry.generation };
  }

  /** A clear, replace or remove: sizes known so far no longer hold. */
  reset(table: Table): void {
    const entry = this.#tables.get(table);
    if (!entry) return;
    entry.size = undefined;
    entry.generation++;
  }

  /**
   * Checks the size after the batch settled.
   *
   * @throws {ApplyDiscrepancyError} when the table holds fewer rows than it must;
   *   the ledger then forgets the size, so the next batch starts from the real one.
   */
  check(table: Table, name: string, expected: Expectation, actual: number): void {
    if (this.#tables.get(table)?.generation !== expected.generation) return;
    if (actual >= expected.size) return;
    memoryStats.discrepancies++;
    this.reset(table);
    throw new ApplyDiscrepancyError(name, expected.size, actual);
  }
}
