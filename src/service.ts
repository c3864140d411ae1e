/**
 * Starts the whole service on a socket: engine host, demo, HTTP server.
 * `main.ts` calls this; tests call it with port 0.
 *
 * @module
 */

import { EngineHost } from "./engine/host.ts";
import { startDemo } from "./engine/demo.ts";
import { createHandler, type HandlerDeps } from "./server/handler.ts";
import type { EnvConfig } from "./config/env.ts";
import { createLogger, type Logger } from "./ops/log.ts";
import { Readiness } from "./ops/health.ts";
import { ServiceMetrics } from "./ops/service_metrics.ts";
import { checkBinding, Security, type SecurityConfig, securityConfig } from "./security/mod.ts";
import { DEFAULT_DRAIN_SECONDS, drain, type DrainResult, InFlight } from "./ops/shutdown.ts";
import { BatchSink } from "./ingest/sink.ts";
import { limits as ingestLimits } from "./ingest/limits.ts";
import type { FileConfig } from "./config/file.ts";
import { createConfiguredTables, startConfiguredSources } from "./ingest/startup.ts";
import type { RunningSources } from "./ingest/source_runner.ts";
import { MemoryDashboardStore, MemoryLayoutStore } from "./storage/dashboards.ts";
import { seedDemo } from "./server/dashboards_demo.ts";

/** A running service. */
export interface Service {
  /** The engine host. */
  host: EngineHost;
  /** The bound address. */
  addr: Deno.NetAddr;
  /** The URL of the home page, base path included. */
  url: string;
  /** Readiness behind `/readyz`; expected tables can be added to it. */
  readiness: Readiness;
  /** Metrics behind `/metrics`. */
  metrics: ServiceMetrics;
  /** Where every ingest source's batches go; `listen()` to count them. */
  sink: BatchSink;
  /**
   * Drains: not ready, stop accepting, close WebSockets with 1001, finish
   * in-flight requests, stop the engine. Bounded by `timeoutMs`.
   *
   * @param timeoutMs @default drainSeconds * 1000
   * @param quietMs How long no write must arrive before the listener closes. @default 250
   */
  drain(timeoutMs?: number, quietMs?: number): Promise<DrainResult>;
  /** Stops the server and the demo, and closes every session (a drain). */
  close(): Promise<void>;
}

/** Options for {@linkcode startService}. */
export interface ServiceOptions extends Partial<EnvConfig> {
  /** Logger. @default a JSON logger at `logLevel` */
  log?: Logger;
  /** Extra handler settings. */
  handler?: Partial<HandlerDeps>;
  /** Maximum engine polls, so notifications per viewer, a second. @default 20 */
  maxUpdateRate?: number;
  /** Viewers opening identical views share one engine view. @default true */
  shareViews?: boolean;
  /** Tokens, origins and limits. @default open development mode, which refuses non-loopback hosts */
  security?: SecurityConfig;
  /** The config file: tables, sources, ingest limits. */
  config?: FileConfig;
}

/** Starts the service and resolves once it listens. */
export async function startService(options: ServiceOptions = {}): Promise<Service> {
  const log = options.log ?? createLogger(options.logLevel ?? "info");
  const securitySettings = options.security ?? securityConfig();
  checkBinding(options.host ?? "127.0.0.1", securitySettings);
  const security = options.handler?.security ?? new Security(securitySettings, log);
  security.announce();
  const host = await EngineHost.create({
    log,
    maxUpdateRate: options.maxUpdateRate,
    shareViews: options.shareViews,
  });
  const stop = new AbortController();
  if (options.demo ?? true) await startDemo(host, { signal: stop.signal });
  const dashboards = options.handler?.dashboards ?? new MemoryDashboardStore();
  const layouts = options.handler?.layouts ?? new MemoryLayoutStore();
  if (options.demo ?? true) await seedDemo(dashboards, layouts);
  for (const t of options.config?.tables ?? []) if (t.layout) await layouts.put(t.name, t.layout);
  const basePath = options.basePath ?? "";
  const metrics = options.handler?.metrics ?? new ServiceMetrics();
  metrics.watchHost(host);
  const readiness = options.handler?.readiness ?? new Readiness(host);
  const inflight = options.handler?.inflight ?? new InFlight();
  const sink = options.handler?.sink ?? new BatchSink(host, {
    autoCreate: options.config?.autoCreate,
    limits: { ...ingestLimits, ...options.config?.limits },
  });
  let sources: RunningSources | undefined;
  try {
    if (options.config) {
      await createConfiguredTables(options.config, host, sink);
      readiness.expectTables(options.config.tables.map((t) => t.name));
      sources = await startConfiguredSources(options.config, sink, log);
      metrics.watchSources(sources);
    }
  } catch (err) {
    // Bad configuration: nothing of the half-started service may linger.
    stop.abort();
    await sink.close();
    host.close();
    throw err;
  }
  sink.listen((e) =>
    metrics.observeIngest({
      format: e.format,
      status: e.status,
      rows: e.rows,
      bytes: e.bytes,
      seconds: e.durationMs / 1000,
    })
  );
  const handler = createHandler({
    host,
    basePath,
    log,
    ...options.handler,
    security,
    metrics,
    readiness,
    inflight,
    sink,
    dashboards,
    layouts,
  });
  const server = Deno.serve({
    hostname: options.host ?? "127.0.0.1",
    port: options.port ?? 8080,
    onListen: () => {},
  }, handler);
  readiness.markSourcesStarted();
  const drainMs = (options.drainSeconds ?? DEFAULT_DRAIN_SECONDS) * 1000;
  let draining: Promise<DrainResult> | undefined;
  const drainOnce = (timeoutMs = drainMs, quietMs?: number) =>
    draining ??= drain(
      {
        markDraining: () => {
          readiness.markDraining();
          void sources?.stop();
          inflight.startDraining();
        },
        stopAccepting: () => server.shutdown(),
        closeSockets: (ms) => metrics.connections.closeAll(undefined, undefined, ms),
        idle: () => inflight.idle(),
        inflight: () => inflight.count,
        lastWrite: () => inflight.lastWrite,
        stopEngine: () => {
          stop.abort();
          void sink.close();
          host.close();
        },
      },
      timeoutMs,
      quietMs,
    );
  const addr = server.addr;
  const hostPart = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    host,
    addr,
    url: `http://${hostPart}:${addr.port}${basePath}/`,
    readiness,
    metrics,
    sink,
    drain: drainOnce,
    async close() {
      await drainOnce();
    },
  };
}
