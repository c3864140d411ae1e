/**
 * The service's HTTP handler, separate from `Deno.serve` so tests can call it
 * without a socket.
 *
 * @module
 */

import type { EngineHost } from "../engine/host.ts";
import type { ExportOptions } from "../engine/export.ts";
import { type Logger, silentLogger } from "../ops/log.ts";
import { errorResponse, HttpError } from "./http_error.ts";
import { type Route, type RouteContext, Router } from "./router.ts";
import { pageRoutes } from "./pages.ts";
import { CompressionCache } from "./compress.ts";
import { type AssetRoots, findAssets } from "./assets.ts";
import { STATIC_DIR } from "./paths.ts";
import { StatusError } from "../engine/batch_types.ts";
import { upgradeSession, type WebSocketOptions } from "./websocket.ts";
import { tableReadRoutes } from "./tables_read.ts";
import { tablesApiRoutes } from "./tables_api.ts";
import { BatchSink } from "../ingest/sink.ts";
import { broadcastRoutes } from "./broadcast_route.ts";
import type { Handler } from "../ops/http.ts";
import { opsRoutes } from "./ops_routes.ts";
import { Readiness } from "../ops/health.ts";
import type { ServiceMetrics } from "../ops/service_metrics.ts";
import { withMetrics } from "../ops/instrument.ts";
import { withRequestLog } from "../ops/request_log.ts";
import type { InFlight } from "../ops/shutdown.ts";
import { allows, Security, securityConfig } from "../security/mod.ts";
import {
  type DashboardStore,
  type LayoutStore,
  MemoryDashboardStore,
  MemoryLayoutStore,
} from "../storage/dashboards.ts";
import { type DashboardOptions, dashboardRoutes } from "./dashboards.ts";
import { overviewRoutes } from "./dashboards_overview.ts";

/** Everything the handler needs, passed in so tests can build their own. */
export interface HandlerDeps {
  /** The engine host. */
  host: EngineHost;
  /** Route prefix, `""` or `/a/b` without a trailing slash. @default "" */
  basePath?: string;
  /** Logger. @default silentLogger */
  log?: Logger;
  /** The service's static directory. @default the project's `static/` */
  staticDir?: string;
  /** Viewer package assets. @default found in the project's node_modules */
  assets?: AssetRoots;
  /** WebSocket session settings. */
  websocket?: WebSocketOptions;
  /** Extra routes, tried before the built-in ones. */
  routes?: Route[];
  /** Readiness for `/readyz`. @default ready once built, with no expected tables */
  readiness?: Readiness;
  /** Metrics for `/metrics` and request instrumentation; without them neither is done. */
  metrics?: ServiceMetrics;
  /** In-flight tracking and the drain gate; without it nothing is gated. */
  inflight?: InFlight;
  /** Authentication, authorization and limits. @default open development mode: HTTP open, WebSocket sessions read-only */
  security?: Security;
  /** Where ingested batches go. @default a sink applying to `host` */
  sink?: BatchSink;
  /** Saved dashboards. @default an empty MemoryDashboardStore */
  dashboards?: DashboardStore;
  /** Tables' default viewer layouts. @default an empty MemoryLayoutStore */
  layouts?: LayoutStore;
  /** Dashboard limits. */
  dashboardOptions?: DashboardOptions;
  /** How `GET /api/tables/{table}/rows` reads the engine. @default about 50k cells a window */
  exports?: ExportOptions;
}

export type { Handler } from "../ops/http.ts";

/** Builds the service's request handler. */
export function createHandler(deps: HandlerDeps): Handler {
  const basePath = deps.basePath ?? "";
  const log = deps.log ?? silentLogger;
  const security = deps.security ?? new Security(securityConfig(), log);
  const sink = deps.sink ?? new BatchSink(deps.host);
  const router = new Router([
    ...(deps.routes ?? []),
    {
      methods: ["GET"],
      path: "/websocket",
      scope: "public",
      handle: (req, ctx) =>
        upgradeSession(req, deps.host, log, {
          observer: deps.metrics?.connections,
          ...deps.websocket,
          security,
          remoteAddr: ctx.remoteAddr,
          sink,
        }),
    },
    ...broadcastRoutes(deps.host, log, {
      outbound: deps.websocket?.outbound,
      idleTimeoutSeconds: deps.websocket?.idleTimeoutSeconds,
      observer: deps.metrics?.connections,
      connections: security.connections,
    }),
    ...opsRoutes({ readiness: deps.readiness ?? readyNow(deps.host), metrics: deps.metrics }),
    ...tableReadRoutes(deps.host, sink),
    ...dashboardRoutes(
      deps.dashboards ?? new MemoryDashboardStore(),
      deps.layouts ?? new MemoryLayoutStore(),
      deps.dashboardOptions,
    ),
    ...overviewRoutes(deps.host, sink, security),
    ...tablesApiRoutes(deps.host, sink, undefined, deps.exports),
    ...pageRoutes({
      staticDir: deps.staticDir ?? STATIC_DIR,
      assets: deps.assets ?? findAssets(),
      compression: new CompressionCache(),
    }),
  ]);

  let handler: Handler = async (req, info) => {
    const url = new URL(req.url);
    try {
      const path = stripBase(url.pathname, basePath);
      if (path === "") {
        // The pages use relative URLs, which need the base path's trailing slash.
        return new Response(null, {
          status: 308,
          headers: { location: `${basePath}/${url.search}` },
        });
      }
      const hit = router.match(req.method, path);
      if (!hit) throw new HttpError(404, `no route for ${path}`);
      const remote = info?.remoteAddr as Deno.NetAddr | undefined;
      const ctx: RouteContext = { params: hit.params, url, path, remoteAddr: remote?.hostname };
      const principal = await security.guard(req, hit.route.scope, ctx, hit.route.tableParam);
      if (principal) ctx.allows = (scope, table) => allows(principal.grants, scope, table);
      return await hit.route.handle(req, ctx);
    } catch (err) {
      if (!(err instanceof StatusError)) {
        log.error("request failed", { path: url.pathname, error: err });
      }
      return errorResponse(err);
    }
  };
  if (deps.inflight) handler = deps.inflight.wrap(handler);
  if (deps.metrics) handler = withMetrics(handler, deps.metrics, basePath);
  return withRequestLog(handler, log, { basePath });
}

function readyNow(host: EngineHost): Readiness {
  const readiness = new Readiness(host);
  readiness.markSourcesStarted();
  return readiness;
}

/** The path below the base path; throws 404 for paths outside it. */
function stripBase(pathname: string, basePath: string): string {
  if (basePath === "") return pathname;
  if (pathname === basePath) return "";
  if (pathname.startsWith(basePath + "/")) return pathname.slice(basePath.length);
  throw new HttpError(404, "outside the service's base path");
}
