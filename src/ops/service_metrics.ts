/**
 * The service's metric families and the small API other parts call to feed
 * them. Label values come from short fixed lists, never from request data,
 * so a client cannot grow the series without bound.
 *
 * @module
 */

import { type Counter, type Gauge, type Histogram, Registry } from "./metrics.ts";
import { Connections } from "./connections.ts";
import { outboundStats } from "./outbound_stats.ts";
import { type StorageSource, watchStorage } from "./storage_metrics.ts";
import { type PacerSource, watchPacer } from "./bulk_metrics.ts";

/**
 * Ingest batch formats used as label values (the sink's formats: `columns`
 * is a JSON column object); anything else is `other`.
 */
export const INGEST_FORMATS = ["arrow", "json", "columns", "ndjson", "csv", "other"] as const;

/** An ingest format label value. */
export type IngestFormat = typeof INGEST_FORMATS[number];

/** HTTP methods used as label values; anything else is `OTHER`. */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);

/** Table series are capped so a client creating tables cannot flood a scrape. */
export const MAX_TABLE_SERIES = 200;

/** What a source reports about one batch. */
export interface IngestObservation {
  /** Batch format, one of {@linkcode INGEST_FORMATS}. */
  format: string;
  /** Status the batch was answered with (200 or 201 accepted, 4xx/5xx refused). */
  status: number;
  /** Rows applied; 0 for a refused batch. @default 0 */
  rows?: number;
  /** Body bytes received, after decoding. @default 0 */
  bytes?: number;
  /** Seconds from the first byte to the acknowledgement. */
  seconds: number;
}

/** The parts of the engine host the metrics read at scrape time. */
export interface MetricsHost {
  /** Open protocol sessions. */
  readonly sessionCount: number;
  /** Every hosted table with its size. */
  listTables(): Promise<{ name: string; size: number }[]>;
  /** The engine's heap and used bytes, NaN where unknown. */
  engineMemory(): Promise<{ heap: number; used: number }>;
  /** Requests refused for want of engine memory, and batches not stored whole. */
  readonly memoryCounts?: { readonly refusals: number; readonly discrepancies: number };
  /** The engine's memory budget, when the host keeps one. */
  readonly memory?: { readonly budget: number; readonly reserved: number };
  /** The engine's poll scheduler, when it reports each poll. */
  readonly conflator?: {
    observe(fn: (o: { ms: number; productive: boolean; waitedMs: number }) => void): () => void;
  };
  /** Paces bulk reads, when the host does. */
  readonly pacer?: PacerSource;
}

/** Reports the configured ingest sources' states (see `ingest/source_runner.ts`). */
export interface SourceStatusSource {
  /** Each source's name, state and restart count. */
  status(): { name: string; state: string; restarts: number }[];
}

/** Every metric the service exports, and the calls that feed them. */
export class ServiceMetrics {
  /** The registry `/metrics` renders. */
  readonly registry: Registry = new Registry();
  /** Open WebSockets; also the socket observer for the WebSocket route. */
  readonly connections: Connections;

  readonly #httpRequests: Counter;
  readonly #httpDuration: Histogram;
  readonly #httpInflight: Gauge;
  readonly #ingestRequests: Counter;
  readonly #ingestRows: Counter;
  readonly #ingestBytes: Counter;
  readonly #ingestErrors: Counter;
  readonly #ingestDuration: Histogram;
  readonly #delivery: Histogram;

  constructor() {
    const r = this.registry;
    this.#httpRequests = r.counter({
      name: "perspective_http_requests_total",
      help: "HTTP requests answered, by method and status.",
      labelNames: ["method", "status"],
    });
    this.#httpDuration = r.histogram({
      name: "perspective_http_request_duration_seconds",
      help: "Time from request to response headers.",
      labelNames: ["method"],
    });
    this.#httpInflight = r.gauge({
      name: "perspective_http_requests_in_flight",
      help: "HTTP requests being handled now.",
    });
    this.#ingestRequests = r.counter({
      name: "perspective_ingest_requests_total",
      help: "Ingest batches received, by format and answer status.",
      labelNames: ["format", "status"],
    });
    this.#ingestErrors = r.counter({
      name: "perspective_ingest_errors_total",
      help: "Ingest batches refused, by format and answer status.",
      labelNames: ["format", "status"],
    });
    this.#ingestRows = r.counter({
      name: "perspective_ingest_rows_total",
      help: "Rows applied by accepted ingest batches.",
      labelNames: ["format"],
    });
    this.#ingestBytes = r.counter({
      name: "perspective_ingest_bytes_total",
      help: "Ingest payload bytes (after decompression), accepted or not.",
      labelNames: ["format"],
    });
    this.#ingestDuration = r.histogram({
      name: "perspective_ingest_duration_seconds",
      help: "Time from a batch's submission to the sink to its acknowledgement or refusal.",
      labelNames: ["format"],
    });
    this.#delivery = r.histogram({
      name: "perspective_delivery_latency_seconds",
      help: "Time from the latest ingest request's arrival to each socket's next message.",
    });
    this.connections = new Connections((s) => this.#delivery.observe(undefined, s));
    this.#socketMetrics();
  }

  #socketMetrics(): void {
    const r = this.registry;
    const open = r.gauge({
      name: "perspective_websocket_connections",
      help: "Open WebSocket connections.",
    });
    const opened = r.counter({
      name: "perspective_websocket_connections_opened_total",
      help: "WebSocket connections accepted since start.",
    });
    const sent = r.counter({
      name: "perspective_websocket_sent_bytes_total",
      help: "Protocol bytes handed to WebSockets since start.",
    });
    const queued = r.gauge({
      name: "perspective_outbound_queue_bytes",
      help: "Bytes queued in WebSockets and not yet written.",
    });
    const dropped = r.counter({
      name: "perspective_websocket_slow_consumers_dropped_total",
      help: "WebSockets closed because their outbound queue passed its bound.",
    });
    const c = this.connections;
    r.collect(() => {
      open.set(undefined, c.size);
      // Counters are rebuilt from the tracker's running totals at scrape time.
      opened.reset();
      opened.inc(undefined, c.openedTotal);
      sent.reset();
      sent.inc(undefined, c.bytesSent);
      queued.set(undefined, outboundStats.queuedBytes());
      dropped.reset();
      dropped.inc(undefined, outboundStats.droppedSlow);
    });
    const mem = r.gauge({
      name: "perspective_process_memory_bytes",
      help: "Process memory from Deno.memoryUsage(), by kind.",
      labelNames: ["kind"],
    });
    const uptime = r.gauge({
      name: "perspective_process_uptime_seconds",
      help: "Seconds since the metrics were created.",
    });
    const t0 = performance.now();
    r.collect(() => {
      const m = Deno.memoryUsage();
      mem.set({ kind: "rss" }, m.rss);
      mem.set({ kind: "heap_total" }, m.heapTotal);
      mem.set({ kind: "heap_used" }, m.heapUsed);
      mem.set({ kind: "external" }, m.external);
      uptime.set(undefined, (performance.now() - t0) / 1000);
    });
  }

  /** Adds the gauges read from the engine host at scrape time. */
  watchHost(host: MetricsHost): void {
    const r = this.registry;
    const sessions = r.gauge({
      name: "perspective_sessions",
      help: "Open Perspective protocol sessions.",
    });
    const tables = r.gauge({ name: "perspective_tables", help: "Hosted tables." });
    const rows = r.gauge({
      name: "perspective_table_rows",
      help: `Rows per hosted table (the first ${MAX_TABLE_SERIES} tables by name).`,
      labelNames: ["table"],
    });
    const rowsTotal = r.gauge({
      name: "perspective_rows",
      help: "Rows across all hosted tables.",
    });
    const engine = r.gauge({
      name: "perspective_engine_memory_bytes",
      help: "Engine (WebAssembly) memory from its system info, by kind.",
      labelNames: ["kind"],
    });
    r.collect(async () => {
      sessions.set(undefined, host.sessionCount);
      const list = (await host.listTables()).sort((a, b) => a.name < b.name ? -1 : 1);
      tables.set(undefined, list.length);
      rows.reset();
      for (const t of list.slice(0, MAX_TABLE_SERIES)) rows.set({ table: t.name }, t.size);
      rowsTotal.set(undefined, list.reduce((n, t) => n + t.size, 0));
    });
    if (host.conflator) {
      const polls = r.counter({
        name: "perspective_engine_polls_total",
        help: "Engine polls, by whether they had updates to send.",
        labelNames: ["productive"],
      });
      const pollTime = r.histogram({
        name: "perspective_engine_poll_duration_seconds",
        help: "Time one engine poll took, notifications to every session included.",
      });
      const pollWait = r.histogram({
        name: "perspective_engine_poll_wait_seconds",
        help: "Time the oldest update waited for the poll that applied it (conflation).",
      });
      host.conflator.observe((o) => {
        polls.inc({ productive: String(o.productive) });
        pollTime.observe(undefined, o.ms / 1000);
        pollWait.observe(undefined, o.waitedMs / 1000);
      });
    }
    if (host.pacer) watchPacer(r, host.pacer);
    const budget = r.gauge({
      name: "perspective_engine_memory_budget_bytes",
      help: "Engine memory the service lets the engine use (MAX_ENGINE_MEMORY or its default).",
    });
    const headroom = r.gauge({
      name: "perspective_engine_memory_headroom_bytes",
      help: "Budget left: budget minus used minus reserved, at least 0.",
    });
    const refusals = r.counter({
      name: "perspective_engine_memory_refusals_total",
      help: "Batches, tables, views and exports refused (507) for want of engine memory.",
    });
    const discrepancies = r.counter({
      name: "perspective_engine_apply_discrepancies_total",
      help: "Batches the engine resolved without storing them whole (answered 500).",
    });
    r.collect(async () => {
      const { heap, used } = await host.engineMemory();
      if (Number.isFinite(heap)) engine.set({ kind: "heap" }, heap);
      if (Number.isFinite(used)) engine.set({ kind: "used" }, used);
      const counts = host.memoryCounts ?? { refusals: 0, discrepancies: 0 };
      refusals.inc(undefined, counts.refusals - refusals.get());
      discrepancies.inc(undefined, counts.discrepancies - discrepancies.get());
      if (!host.memory) return;
      const reserved = host.memory.reserved;
      engine.set({ kind: "reserved" }, reserved);
      budget.set(undefined, host.memory.budget);
      if (Number.isFinite(used)) {
        headroom.set(undefined, Math.max(0, host.memory.budget - used - reserved));
      }
    });
  }

  /** Adds each configured ingest source's state, read at scrape time. */
  watchSources(sources: SourceStatusSource): void {
    const r = this.registry;
    const up = r.gauge({
      name: "perspective_source_up",
      help: "1 while a configured ingest source runs; 0 while it waits to restart, or has ended.",
      labelNames: ["source"],
    });
    const restarts = r.counter({
      name: "perspective_source_restarts_total",
      help: "Restarts of a configured ingest source after it failed.",
      labelNames: ["source"],
    });
    r.collect(() => {
      for (const s of sources.status()) {
        const labels = { source: s.name };
        up.set(labels, s.state === "running" ? 1 : 0);
        restarts.inc(labels, s.restarts - restarts.get(labels));
      }
    });
  }

  /** Reports the batch log's storage; see `storage_metrics.ts`. */
  watchStorage(storage: StorageSource): void {
    watchStorage(this.registry, storage);
  }

  /** Records one answered HTTP request. */
  observeHttp(method: string, status: number, seconds: number): void {
    const m = METHODS.has(method) ? method : "OTHER";
    this.#httpRequests.inc({ method: m, status: String(status) });
    this.#httpDuration.observe({ method: m }, seconds);
  }

  /** HTTP requests being handled now, without running the scrape-time collectors. */
  get requestsInFlight(): number {
    return this.#httpInflight.get();
  }

  /** Counts a request in or out of the in-flight gauge. */
  inflight(delta: 1 | -1): void {
    this.#httpInflight.inc(undefined, delta);
  }

  /** Records one ingest batch, accepted or refused. Any source may call it. */
  observeIngest(o: IngestObservation): void {
    const format = (INGEST_FORMATS as readonly string[]).includes(o.format) ? o.format : "other";
    const status = String(o.status);
    this.#ingestRequests.inc({ format, status });
    if (o.status >= 400) this.#ingestErrors.inc({ format, status });
    if (o.status < 400 && o.rows) this.#ingestRows.inc({ format }, o.rows);
    if (o.bytes) this.#ingestBytes.inc({ format }, o.bytes);
    this.#ingestDuration.observe({ format }, o.seconds);
  }

  /** Marks an ingest request's arrival, for delivery latency. */
  markBatch(): void {
    this.connections.markBatch();
  }
}
