/**
 * Exports a table's rows in one of the wire formats, through the host's
 * client, with a view that lives only for the export.
 *
 * @module
 */

import type { EngineHost } from "./host.ts";

/** Formats a table can be exported in. */
export type ExportFormat = "arrow" | "csv" | "json" | "ndjson" | "columns";

/**
 * The table's rows in `format`, or undefined when there is no such table.
 * Arrow comes back as an IPC stream.
 */
export async function exportRows(
  host: EngineHost,
  name: string,
  format: ExportFormat,
): Promise<Uint8Array | string | undefined> {
  const table = await host.table(name);
  if (!table) return undefined;
  await host.flush();
  let view;
  try {
    view = await table.view();
  } catch {
    return undefined;
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
  } finally {
    await view.delete().catch(() => {});
  }
}
