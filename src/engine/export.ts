/**
 * Exports a table's rows in one of the wire formats, through the host's
 * client, with a view that lives only for the export.
 *
 * @module
 */

import type { EngineHost } from "./host.ts";
import { viewCost } from "./memory.ts";
import { EngineReadError } from "./read_error.ts";

/**
 * Engine bytes per cell an export may need while it is made: the view's
 * output is built in engine memory before it is copied out, and text
 * formats spell each number out.
 */
const EXPORT_CELL_BYTES: Record<ExportFormat, number> = {
  arrow: 9,
  csv: 24,
  json: 40,
  ndjson: 40,
  columns: 32,
};

/** Formats a table can be exported in. */
export type ExportFormat = "arrow" | "csv" | "json" | "ndjson" | "columns";

/**
 * The table's rows in `format`, or undefined when there is no such table.
 * Arrow comes back as an IPC stream.
 *
 * @throws {EngineMemoryError} 507 when the export would take the engine past its budget.
 * @throws {EngineReadError} when the engine cannot make the export; the table exists.
 */
export async function exportRows(
  host: EngineHost,
  name: string,
  format: ExportFormat,
): Promise<Uint8Array | string | undefined> {
  const table = await host.table(name);
  if (!table) return undefined;
  await host.flush();
  let rows = 0, cells = 0;
  try {
    rows = await table.size();
    cells = rows * ((await table.columns()) as string[]).length;
  } catch (err) {
    if (!(await host.tableNames()).includes(name)) return undefined;
    throw new EngineReadError(name, "an export", err);
  }
  using _room = await host.memory.admit(
    viewCost(rows) + cells * EXPORT_CELL_BYTES[format],
    `an export of ${rows} rows`,
    true,
  );
  let view;
  try {
    view = await table.view();
  } catch (err) {
    // Dropped meanwhile, or the engine could not make the view.
    if (!(await host.tableNames()).includes(name)) return undefined;
    throw new EngineReadError(name, "a view for an export", err);
  }
  try {
    switch (format) {
      case "arrow":
        return new Uint8Array(await view.to_arrow());
      case "csv":
        return await view.to_csv();
      case "json":
        return await view.to_json_string();
      case "ndjson":
        return await view.to_ndjson();
      case "columns":
        return await view.to_columns_string();
    }
  } catch (err) {
    throw new EngineReadError(name, "an export", err);
  } finally {
    await view.delete().catch(() => {});
  }
}
