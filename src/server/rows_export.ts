/**
 * `GET /api/tables/{table}/rows`: exports a table as Arrow, CSV, JSON,
 * NDJSON or JSON columns, chosen by `?format=` or `Accept`. The body
 * streams as the engine reads the table in windows; a failure after the
 * status went out cuts the body off (see `engine/export.ts`).
 *
 * @module
 */

import type { EngineHost } from "../engine/host.ts";
import { type ExportOptions, exportRows } from "../engine/export.ts";
import { EXPORT_TYPES, negotiateExport } from "../ingest/media.ts";
import { HttpError } from "./http_error.ts";
import { asHttp } from "./tables_reply.ts";
import type { Route } from "./router.ts";
import type { BatchLog } from "../storage/log.ts";
import { awaitPosition } from "./position.ts";

/**
 * The export route.
 *
 * @param sink Its log answers reads that name a log position.
 * @param options Window size and read hook. @default about 50k cells a window
 */
export function rowExportRoutes(
  host: EngineHost,
  sink?: { log: BatchLog },
  options: ExportOptions = {},
): Route[] {
  return [{
    methods: ["GET"],
    path: "/api/tables/:table/rows",
    scope: "read",
    handle: (req, ctx) =>
      asHttp(async () => {
        await awaitPosition(req, ctx.url, sink);
        const format = negotiateExport(
          ctx.url.searchParams.get("format"),
          req.headers.get("accept"),
        );
        if (!format) {
          throw new HttpError(
            406,
            "cannot produce any accepted type; use Arrow, CSV, JSON or NDJSON, or ?format=",
          );
        }
        const body = await exportRows(host, ctx.params.table, format, options);
        if (body === undefined) {
          throw new HttpError(404, `no table named ${JSON.stringify(ctx.params.table)}`);
        }
        return new Response(body, {
          headers: {
            "content-type": EXPORT_TYPES[format],
            "cache-control": "no-store",
            vary: "accept",
          },
        });
      }),
  }];
}
