/**
 * The HTTP ingest source: `POST` (append or upsert), `PUT` (replace) and
 * `DELETE` (remove keys, or clear) on `/api/tables/{table}/rows`. Bodies
 * become {@linkcode Batch}es for the sink, like any other source's.
 *
 * @module
 */

import type { Batch, CreateOptions } from "../ingest/batch.ts";
import { readBody } from "../ingest/body.ts";
import { type IngestLimits, limits as sharedLimits } from "../ingest/limits.ts";
import { formatForContentType } from "../ingest/media.ts";
import type { Sink } from "../ingest/sink.ts";
import { MAX_LIMIT } from "../ingest/table_def.ts";
import { HttpError } from "./http_error.ts";
import { asHttp, jsonReply } from "./tables_reply.ts";
import type { Route } from "./router.ts";
import { POSITION_HEADER } from "./position.ts";

/** Routes that write rows. */
export function rowWriteRoutes(sink: Sink, limits: IngestLimits = sharedLimits): Route[] {
  return [{
    methods: ["POST", "PUT", "DELETE"],
    path: "/api/tables/:table/rows",
    scope: "write",
    handle: (req, ctx) =>
      asHttp(async () => {
        const table = ctx.params.table;
        let batch: Batch;
        if (req.method === "DELETE") {
          const bytes = await readBody(req, limits);
          if (bytes.byteLength === 0) {
            batch = { table, op: "clear", format: "json", bytes };
          } else {
            if (formatForContentType(req.headers.get("content-type")) !== "json") {
              throw new HttpError(415, "keys to remove are a JSON array (application/json)");
            }
            batch = { table, op: "remove", format: "json", bytes };
          }
        } else {
          const format = formatForContentType(req.headers.get("content-type"));
          const bytes = await readBody(req, limits);
          const op = req.method === "POST" ? "update" : "replace";
          const create = createOptions(ctx.url.searchParams);
          batch = { table, op, format, bytes, create, owned: true };
        }
        const result = await sink.submit(batch, "http");
        // The position lets a read on another replica wait for this write.
        return jsonReply(
          {
            table: result.table,
            rows: result.rows,
            size: result.size,
            ...(result.position ? { position: result.position } : {}),
          },
          result.created ? 201 : 200,
          result.position ? { [POSITION_HEADER]: result.position } : {},
        );
      }),
  }];
}

/** Reads `?index=`, `?limit=` and `?create=false` for a table a batch creates. */
function createOptions(params: URLSearchParams): boolean | CreateOptions | undefined {
  const create = params.get("create");
  if (create !== null && !["true", "false", "1", "0"].includes(create)) {
    throw new HttpError(400, "create must be true or false");
  }
  if (create === "false" || create === "0") return false;
  const out: CreateOptions = {};
  const index = params.get("index");
  if (index !== null) {
    if (index === "") throw new HttpError(400, "index must name a column");
    out.index = index;
  }
  const limit = params.get("limit");
  if (limit !== null) {
    const n = Number(limit);
    if (!/^\d+$/.test(limit) || n < 1 || n > MAX_LIMIT) {
      throw new HttpError(400, `limit must be an integer from 1 to ${MAX_LIMIT}`);
    }
    out.limit = n;
  }
  if (create === null && index === null && limit === null) return undefined;
  return out;
}
