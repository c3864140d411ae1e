/**
 * Table definition routes: `PUT /api/tables/{table}` creates a table from
 * `{schema, index?, limit?}` (201, 200 for the same definition again, 409
 * for a different one) and `DELETE /api/tables/{table}` drops it (204).
 *
 * @module
 */

import type { EngineHost } from "../engine/host.ts";
import { readBody } from "../ingest/body.ts";
import { parseJson } from "../ingest/json_safe.ts";
import { type IngestLimits, limits as sharedLimits } from "../ingest/limits.ts";
import type { BatchSink } from "../ingest/sink.ts";
import { checkTableName } from "../ingest/sink.ts";
import { positionHeader } from "./position.ts";
import { parseTableDef } from "../ingest/table_def.ts";
import { formatForContentType } from "../ingest/media.ts";
import { HttpError } from "./http_error.ts";
import { asHttp, jsonReply } from "./tables_reply.ts";
import type { Route } from "./router.ts";

/** Largest table definition body read. */
export const MAX_DEFINITION_BYTES = 1024 * 1024;

/** Routes that create and drop tables. */
export function tableWriteRoutes(
  host: EngineHost,
  sink: BatchSink,
  limits: IngestLimits = sharedLimits,
): Route[] {
  return [{
    methods: ["PUT", "DELETE"],
    path: "/api/tables/:table",
    scope: "admin",
    handle: (req, ctx) =>
      asHttp(async () => {
        const name = ctx.params.table;
        checkTableName(name);
        if (req.method === "DELETE") {
          if (!(await sink.dropTable(name))) {
            throw new HttpError(404, `no table named ${JSON.stringify(name)}`);
          }
          return new Response(null, { status: 204, headers: positionHeader(sink) });
        }
        if (formatForContentType(req.headers.get("content-type")) !== "json") {
          throw new HttpError(415, "a table definition is application/json");
        }
        // A definition is small, so both the sent and the decoded size are
        // held to the definition limit, not the one for row batches.
        const body = await readBody(req, {
          ...limits,
          maxBodyBytes: Math.min(MAX_DEFINITION_BYTES, limits.maxBodyBytes),
          maxDecodedBytes: Math.min(MAX_DEFINITION_BYTES, limits.maxDecodedBytes),
        });
        const def = parseTableDef(parseJson(body, limits.maxJsonDepth));
        if (!(await sink.createTable(name, def))) {
          return jsonReply(await host.tableInfo(name), 200, positionHeader(sink));
        }
        return jsonReply(await host.tableInfo(name), 201, {
          location: `./${encodeURIComponent(name)}`,
          ...positionHeader(sink),
        });
      }),
  }];
}
