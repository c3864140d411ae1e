/**
 * Operations: logging, probes, metrics, request logs and graceful shutdown.
 *
 * Other parts feed metrics through {@linkcode ServiceMetrics} (ingest batches
 * via `observeIngest`, new families via its `registry`), and log through a
 * {@linkcode Logger}.
 *
 * @module
 */

export { createLogger, isLogLevel, type Logger, type LogLevel, silentLogger } from "./log.ts";
export {
  Counter,
  DEFAULT_BUCKETS,
  Gauge,
  Histogram,
  PROMETHEUS_CONTENT_TYPE,
  Registry,
} from "./metrics.ts";
export { INGEST_FORMATS, type IngestObservation, ServiceMetrics } from "./service_metrics.ts";
export { CLOSE_GOING_AWAY, Connections, type SocketObserver } from "./connections.ts";
export { Readiness, type ReadinessReport } from "./health.ts";
export { withRequestLog } from "./request_log.ts";
export { withMetrics } from "./instrument.ts";
export type { Handler } from "./http.ts";
export {
  DEFAULT_DRAIN_SECONDS,
  drain,
  type DrainResult,
  handleSignals,
  InFlight,
} from "./shutdown.ts";
