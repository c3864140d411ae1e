/**
 * The operator endpoints: `GET /healthz`, `GET /readyz`, `GET /metrics`.
 *
 * @module
 */

import type { Route } from "./router.ts";
import { healthResponse, type Readiness, readinessResponse } from "../ops/health.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../ops/metrics.ts";
import type { ServiceMetrics } from "../ops/service_metrics.ts";

/** What the operator routes read. */
export interface OpsRouteDeps {
  /** Readiness state. */
  readiness: Readiness;
  /** Metrics to expose; without them `/metrics` is not routed. */
  metrics?: ServiceMetrics;
  /** `performance.now()` at start-up, for the uptime in `/healthz`. @default module load */
  startedAt?: number;
}

/** Paths of the operator endpoints, below the base path. */
export const OPS_PATHS = {
  health: "/healthz",
  ready: "/readyz",
  metrics: "/metrics",
} as const;

const loadedAt = performance.now();

/** Routes for probes and metrics. */
export function opsRoutes(deps: OpsRouteDeps): Route[] {
  const startedAt = deps.startedAt ?? loadedAt;
  const routes: Route[] = [
    {
      methods: ["GET"],
      path: OPS_PATHS.health,
      scope: "public",
      handle: () => healthResponse(startedAt),
    },
    {
      methods: ["GET"],
      path: OPS_PATHS.ready,
      scope: "public",
      handle: () => readinessResponse(deps.readiness),
    },
  ];
  const metrics = deps.metrics;
  if (metrics) {
    routes.push({
      methods: ["GET"],
      path: OPS_PATHS.metrics,
      scope: "public",
      handle: async () =>
        new Response(await metrics.registry.render(), {
          headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" },
        }),
    });
  }
  return routes;
}
