/**
 * Read-only table routes: `GET /api/tables` and `GET /api/tables/{table}`.
 *
 * @module
 */

import type { EngineHost } from "../engine/host.ts";
import { HttpError } from "./http_error.ts";
import type { Route } from "./router.ts";
import type { BatchLog } from "../storage/log.ts";
import { awaitPosition } from "./position.ts";

/**
 * Routes that describe hosted tables.
 *
 * @param sink Its log answers reads that name a log position.
 */
export function tableReadRoutes(host: EngineHost, sink?: { log: BatchLog }): Route[] {
  return [
    {
      methods: ["GET"],
      path: "/api/tables",
      handle: async (_req, ctx) => {
        // A token limited to some tables does not learn the others' names.
        const tables = (await host.listTables()).filter((t) =>
          ctx.allows?.("read", t.name) ?? true
        );
        return Response.json(tables, { headers: { "cache-control": "no-store" } });
      },
    },
    {
      methods: ["GET"],
      path: "/api/tables/:table",
      handle: async (req, ctx) => {
        await awaitPosition(req, ctx.url, sink);
        const info = await host.tableInfo(ctx.params.table);
        if (!info) throw new HttpError(404, `no table named ${JSON.stringify(ctx.params.table)}`);
        return Response.json(info, { headers: { "cache-control": "no-store" } });
      },
    },
  ];
}
