/**
 * Feeds the HTTP metrics from the requests themselves: method, status, time
 * to response headers and requests in flight. Ingest batches are counted by
 * the sink's events instead, so every source is counted the same way.
 *
 * @module
 */

import type { Handler } from "./http.ts";
import type { ServiceMetrics } from "./service_metrics.ts";

/** The ingest path below the base path: `POST|PUT|DELETE /api/tables/{table}/rows`. */
const INGEST_PATH = /^\/api\/tables\/[^/]+\/rows\/?$/;
const INGEST_METHODS = new Set(["POST", "PUT", "DELETE"]);

/**
 * Wraps a handler to record each request in the HTTP metrics, and the
 * arrival of each ingest request for the delivery latency.
 *
 * @param basePath Stripped before matching the ingest path. @default ""
 */
export function withMetrics(handler: Handler, metrics: ServiceMetrics, basePath = ""): Handler {
  return async (req, info) => {
    const t0 = performance.now();
    if (INGEST_METHODS.has(req.method)) {
      const path = new URL(req.url).pathname.slice(basePath.length);
      if (INGEST_PATH.test(path)) metrics.markBatch();
    }
    metrics.inflight(1);
    try {
      const res = await handler(req, info);
      metrics.observeHttp(req.method, res.status, (performance.now() - t0) / 1000);
      return res;
    } finally {
      metrics.inflight(-1);
    }
  };
}
