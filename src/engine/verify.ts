/**
 * Verification after apply: the engine near its memory ceiling resolves an
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

/** What one staged append must leave behind. */
export interface Expectation {
  /** The table's size once this batch is applied, at least. */
  readonly size: number;
  /** The table's generation when the batch was staged. */
  readonly generation: number;
}

/** A discrepancy between what a batch asked for and what the engine did. */
export class ApplyDiscrepancyError extends Error {
  /** HTTP status: the batch was not (fully) applied, a server fault. */
  readonly status = 500;

  /**
   * @param table Table name.
   * @param expected Size the table should have at least.
   * @param actual Size the engine reports.
   */
  constructor(readonly table: string, readonly expected: number, readonly actual: number) {
    super(
      `the engine did not store the whole batch: table ${JSON.stringify(table)} holds ` +
        `${actual} rows where it should hold at least ${expected}. The batch is not ` +
        "acknowledged and part of it may be in the table; the engine is likely out of " +
        "memory: drop or clear tables, or lower MAX_ENGINE_MEMORY so such batches are refused",
    );
    this.name = "ApplyDiscrepancyError";
  }
}

/** Per-table expected sizes for tables without an index. */
export class SizeLedger {
  readonly #sizes = new WeakMap<Table, number>();
  readonly #generations = new WeakMap<Table, number>();

  /**
   * Records an append of `rows` and returns what it must leave behind.
   *
   * @param readSize Reads the table's size now (after a flush); called only
   *   when the ledger does not know the table yet.
   * @param limit The table's row limit, if any.
   */
  async append(
    table: Table,
    rows: number,
    limit: number | null,
    readSize: () => Promise<number>,
  ): Promise<Expectation> {
    const before = this.#sizes.get(table) ?? await readSize();
    const size = limit !== null ? Math.min(limit, before + rows) : before + rows;
    this.#sizes.set(table, size);
    return { size, generation: this.#generations.get(table) ?? 0 };
  }

  /** A clear, replace or remove: sizes known so far no longer hold. */
  reset(table: Table): void {
    this.#sizes.delete(table);
    this.#generations.set(table, (this.#generations.get(table) ?? 0) + 1);
  }

  /**
   * Checks the size after the batch settled.
   *
   * @throws {ApplyDiscrepancyError} when the table holds fewer rows than it must;
   *   the ledger then forgets the table, so the next batch starts from the real size.
   */
  check(table: Table, name: string, expected: Expectation, actual: number): void {
    if ((this.#generations.get(table) ?? 0) !== expected.generation) return;
    if (actual >= expected.size) return;
    memoryStats.discrepancies++;
    this.reset(table);
    throw new ApplyDiscrepancyError(name, expected.size, actual);
  }
}
