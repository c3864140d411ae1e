/**
 * Admission: the step between validation and the batch log that asks the
 * engine's memory budget for room, so a batch the engine cannot hold is
 * refused (507) before it is logged, never applied in part, and never
 * replayed.
 *
 * @module
 */

import {
  EngineMemory,
  estimateBatchCost,
  type Reservation,
  TABLE_CREATE_COST,
} from "../engine/memory.ts";
import type { Table } from "../engine/perspective.ts";
import type { ValidBatch } from "./batch.ts";

/**
 * Reserves the engine memory a validated batch needs until the returned
 * reservation is disposed (once the batch is applied or has failed).
 * Removes and clears free memory, so they always pass. Appends are also
 * held to the per-table row ceiling, unless the table's row limit is lower.
 *
 * @param table The table the batch was validated against, when it exists.
 * @throws {EngineMemoryError} 507 when the batch would take the engine past its budget.
 * @throws {TableRowsError} 507 when it would take the table past the row ceiling.
 */
export async function admitBatch(
  memory: EngineMemory,
  valid: ValidBatch,
  table: Table | undefined,
): Promise<Reservation> {
  const { batch } = valid;
  let bytes = estimateBatchCost({
    format: valid.format,
    op: batch.op,
    bytes: (valid.payload ?? batch.bytes).byteLength,
    rows: valid.rows,
  });
  // A replace is rehearsed on a scratch table in the same engine first.
  if (batch.op === "replace") bytes *= 2;
  if (valid.create) bytes += TABLE_CREATE_COST;
  if (bytes === 0) return { bytes, [Symbol.dispose]: () => {} };
  const limit = (valid.create ?? valid.def)?.limit ?? null;
  const bounded = limit !== null && limit <= memory.maxTableRows;
  const rows = bounded ? undefined : {
    table: batch.table,
    // A replace starts the table again; an update adds to what is there.
    size: batch.op === "update" && table ? await table.size().catch(() => 0) : 0,
    adding: valid.rows,
  };
  return await memory.admit(bytes, "this batch", false, rows);
}
