/**
 * How an entry is applied when replicas raced to create the same table,
 * and the result of a change that stages no batch.
 *
 * @module
 */

import type { BatchResult } from "../../engine/batch_types.ts";
import type { EngineHost } from "../../engine/host.ts";
import { type Change, changeTable } from "../record.ts";

/**
 * Two replicas may each append the creation of the same new table (a batch
 * that creates it, or a create, e.g. configured tables at start-up). The
 * first to reach the stream creates it; the other, applied after it on every
 * replica alike, updates the table it finds, or, for a create with the same
 * definition, does nothing, instead of being refused because it exists.
 */
export async function concurrent(change: Change, host: EngineHost): Promise<Change | undefined> {
  if (change.type === "batch" && change.batch.create && host.peekTable(change.batch.table)) {
    const { create: _, ...batch } = change.batch;
    return { type: "batch", batch };
  }
  if (change.type === "create" && host.peekTable(change.table)) {
    const info = await host.tableInfo(change.table);
    const same = info && JSON.stringify(Object.entries(info.schema)) ===
        JSON.stringify(Object.entries(change.def.schema)) &&
      info.index === change.def.index && info.limit === change.def.limit;
    if (same) return undefined;
  }
  return change;
}

/** The result of a change that staged no batch. */
export function emptyResult(change: Change): BatchResult {
  return { table: changeTable(change) ?? "", rows: 0, size: 0, created: change.type === "create" };
}
