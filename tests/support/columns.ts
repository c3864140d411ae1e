/**
 * Reads a whole table back as columns, the way tests compare tables before
 * and after a request.
 *
 * @module
 */

import type { EngineHost } from "../../src/engine/host.ts";
import type { Table } from "../../src/engine/perspective.ts";

/** Every row of `table` as columns, once the engine has applied every update sent before. */
export async function columnsOf(
  host: EngineHost,
  table: Table,
): Promise<Record<string, unknown[]>> {
  await host.flush();
  const view = await table.view();
  try {
    return await view.to_columns() as Record<string, unknown[]>;
  } finally {
    await view.delete();
  }
}
