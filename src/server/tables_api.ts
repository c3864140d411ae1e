/**
 * The write and export side of `/api/tables`, plus the OpenAPI description,
 * as one route list for the handler.
 *
 * @module
 */

import type { EngineHost } from "../engine/host.ts";
import type { ExportOptions } from "../engine/export.ts";
import type { IngestLimits } from "../ingest/limits.ts";
import type { BatchSink } from "../ingest/sink.ts";
import { openApiRoutes } from "./openapi.ts";
import { rowExportRoutes } from "./rows_export.ts";
import { rowWriteRoutes } from "./rows_write.ts";
import type { Route } from "./router.ts";
import { tableWriteRoutes } from "./tables_write.ts";

/**
 * Routes for table definitions, rows in and out, and `GET /api/openapi.json`.
 *
 * @param exports How exports read the engine. @default about 50k cells a window
 */
export function tablesApiRoutes(
  host: EngineHost,
  sink: BatchSink,
  limits?: IngestLimits,
  exports?: ExportOptions,
): Route[] {
  return [
    ...openApiRoutes(),
    ...tableWriteRoutes(host, sink, limits ?? sink.limits),
    ...rowWriteRoutes(sink, limits ?? sink.limits),
    ...rowExportRoutes(host, sink, exports),
  ];
}
