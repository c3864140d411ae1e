/**
 * Saved dashboards (`/api/dashboards`) and tables' default viewer layouts
 * (`/api/tables/{table}/layout`). Layouts are validated before they are
 * stored; everything stored goes through the {@linkcode DashboardStore} and
 * {@linkcode LayoutStore} interfaces.
 *
 * @module
 */

import type { DashboardStore, LayoutStore } from "../storage/dashboards.ts";
import {
  checkDashboardLayout,
  checkViewerLayout,
  DASHBOARD_NAME,
  LayoutError,
  MAX_DASHBOARD_BYTES,
  MAX_VIEWER_LAYOUT_BYTES,
} from "../storage/dashboards_validate.ts";
import { HttpError } from "./http_error.ts";
import type { Route, RouteContext } from "./router.ts";
import { jsonReply } from "./tables_reply.ts";

/** Options for {@linkcode dashboardRoutes}. */
export interface DashboardOptions {
  /** Most dashboards kept; saving a new one past it is refused with 507. @default 1000 */
  maxDashboards?: number;
}

/** Routes for `/api/dashboards`, `/api/dashboards/{name}` and `/api/tables/{table}/layout`. */
export function dashboardRoutes(
  dashboards: DashboardStore,
  layouts: LayoutStore,
  options: DashboardOptions = {},
): Route[] {
  const maxDashboards = options.maxDashboards ?? 1000;
  return [
    {
      methods: ["GET"],
      path: "/api/dashboards",
      scope: "read",
      handle: async (_req, ctx) => {
        const out = [];
        for (const name of await dashboards.list()) {
          const layout = await dashboards.get(name);
          if (layout === undefined) continue;
          const tables = checkDashboardLayout(layout);
          // A token limited to some tables does not learn of dashboards over the others.
          if (tables.every((t) => readable(ctx, t))) out.push({ name, tables });
        }
        return jsonReply(out);
      },
    },
    {
      methods: ["GET", "PUT", "DELETE"],
      path: "/api/dashboards/:name",
      scope: { GET: "read", PUT: "write", DELETE: "write" },
      // The name is a dashboard's, not a table's: tables are checked per layout.
      tableParam: "",
      handle: async (req, ctx) => {
        const name = ctx.params.name;
        if (!DASHBOARD_NAME.test(name)) {
          throw new HttpError(
            400,
            "a dashboard name is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit",
          );
        }
        if (req.method === "PUT") {
          const layout = await readLayout(req, MAX_DASHBOARD_BYTES);
          const tables = validate(() => checkDashboardLayout(layout));
          mayReadAll(ctx, tables);
          const existing = await dashboards.get(name);
          if (existing === undefined && (await dashboards.list()).length >= maxDashboards) {
            throw new HttpError(507, `no room for more than ${maxDashboards} dashboards`);
          }
          await dashboards.put(name, layout);
          return jsonReply({ name, tables }, existing === undefined ? 201 : 200);
        }
        const layout = await dashboards.get(name);
        if (layout === undefined) throw new HttpError(404, `no dashboard named ${name}`);
        mayReadAll(ctx, checkDashboardLayout(layout));
        if (req.method === "DELETE") {
          await dashboards.delete(name);
          return new Response(null, { status: 204 });
        }
        return jsonReply(layout);
      },
    },
    {
      methods: ["GET", "PUT", "DELETE"],
      path: "/api/tables/:table/layout",
      scope: { GET: "read", PUT: "admin", DELETE: "admin" },
      handle: async (req, ctx) => {
        const table = ctx.params.table;
        if (req.method === "PUT") {
          const layout = await readLayout(req, MAX_VIEWER_LAYOUT_BYTES);
          validate(() => checkViewerLayout(layout));
          const existing = await layouts.get(table);
          await layouts.put(table, layout);
          return jsonReply(layout, existing === undefined ? 201 : 200);
        }
        if (req.method === "DELETE") {
          if (!await layouts.delete(table)) {
            throw new HttpError(404, `table ${JSON.stringify(table)} has no default layout`);
          }
          return new Response(null, { status: 204 });
        }
        const layout = await layouts.get(table);
        if (layout === undefined) {
          throw new HttpError(404, `table ${JSON.stringify(table)} has no default layout`);
        }
        return jsonReply(layout);
      },
    },
  ];
}

function readable(ctx: RouteContext, table: string): boolean {
  return ctx.allows?.("read", table) ?? true;
}

function mayReadAll(ctx: RouteContext, tables: string[]): void {
  const refused = tables.filter((t) => !readable(ctx, t));
  if (refused.length > 0) {
    throw new HttpError(403, `this token may not read ${refused.map((t) => `"${t}"`).join(", ")}`);
  }
}

function validate<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof LayoutError) throw new HttpError(400, err.message);
    throw err;
  }
}

/** Reads a JSON body of at most `max` bytes; 413 past it, 415 for another media type, 400 if malformed. */
async function readLayout(req: Request, max: number): Promise<unknown> {
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    await req.body?.cancel();
    throw new HttpError(415, "a layout is sent as application/json");
  }
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > max) {
    await req.body?.cancel();
    throw new HttpError(413, `a layout is at most ${max} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel();
        throw new HttpError(413, `a layout is at most ${max} bytes`);
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new HttpError(400, "the layout is not valid JSON");
  }
}
