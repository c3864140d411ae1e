/**
 * Starts the whole service on a socket: engine host, demo, HTTP server.
 * `main.ts` calls this; tests call it with port 0.
 *
 * @module
 */

import { EngineHost } from "./engine/host.ts";
import { startDemo } from "./engine/demo.ts";
import { cgroupMemoryLimit, chooseBudget } from "./engine/memory.ts";
import { createHandler, type HandlerDeps } from "./server/handler.ts";
import { SharedViews } from "./fanout/shared_views.ts";
import { errorResponse } from "./server/http_error.ts";
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
import { BatchApplier } from "./engine/apply.ts";
import { StatusError } from "./engine/batch_types.ts";
import { type DataDir, openDataDir } from "./storage/durable.ts";
import type { BatchLog } from "./storage/log.ts";
import { watchSharedLog } from "./ops/shared_log_metrics.ts";
import { openRedisLog, type RedisStorage } from "./storage/redis/mod.ts";
import { LogDashboardStore, LogLayoutStore } from "./storage/dashboards_log.ts";
import { seedDemo } from "./server/dashboards_demo.ts";
import type { StorageFs } from "./storage/fs.ts";

/** A running service. */
export interface Service {
  /** The engine host. */
  host: EngineHost;
  /** The views viewers share, when `shareViews` is on. */
  sharedViews?: SharedViews;
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
  /** Applies batches to the engine; tests inject faults through it. */
  applier: BatchApplier;
  /** The data directory, when tables are durable. */
  storage?: DataDir;
  /** The shared log, when `redisUrl` is set. */
  shared?: RedisStorage;
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
  /** Bound on a read's wait for a named log position, in milliseconds. @default 5000 */
  readWaitMs?: number;
  /** Recovery progress, for a console. */
  onRecoveryProgress?: (p: { records: number; rows: number; percent: number }) => void;
  /** The data directory's file system: a seam for tests to inject faults. @default the real one */
  storageFs?: StorageFs;
  /** Runs the engine in a Worker, off the thread that serves requests. @default true */
  engineWorker?: boolean;
  /** A client's large `to_arrow` is read in windows (see `engine/windowed_read.ts`). @default true */
  windowedReads?: boolean;
  /**
   * The engine's Worker died, after the failure is logged and `/readyz`
   * reports it; `main.ts` exits so that the orchestrator restarts the
   * service (its tables come back from the data directory). @default nothing more
   */
  onEngineFailure?: (error: Error) => void;
  /**
   * A logged change failed on this engine alone (no room, rows it did not
   * store): the tables differ from the data directory's log until a restart
   * rebuilds them from it. The service is not ready and refuses changes;
   * `main.ts` exits so that the orchestrator restarts it. @default nothing more
   */
  onStorageDiverged?: (reason: string) => void;
}

/** Starts the service and resolves once it listens. */
export async function startService(options: ServiceOptions = {}): Promise<Service> {
  const log = options.log ?? createLogger(options.logLevel ?? "info");
  const securitySettings = options.security ?? securityConfig();
  checkBinding(options.host ?? "127.0.0.1", securitySettings);
  const security = options.handler?.security ?? new Security(securitySettings, log);
  security.announce();
  const memory = chooseBudget(
    options.maxEngineMemory ?? options.config?.maxEngineMemory,
    cgroupMemoryLimit(),
  );
  log.info("engine memory budget", { ...memory });
  let engineFailure: Error | undefined;
  const host = await EngineHost.create({
    log,
    maxUpdateRate: options.maxUpdateRate,
    windowedReads: options.windowedReads,
    memoryBudget: memory.budget,
    worker: options.engineWorker ?? true,
    onEngineFailure: (error) => {
      engineFailure = error;
      log.error("the engine failed; every table call fails from now on", { error });
      options.onEngineFailure?.(error);
    },
  });
  // Made with the host rather than with the first viewer, so that it has
  // seen every write when it judges whether an older shared view is fresh.
  const sharedViews = (options.shareViews ?? true) ? new SharedViews(host) : undefined;
  const stop = new AbortController();
  const basePath = options.basePath ?? "";
  const metrics = options.handler?.metrics ?? new ServiceMetrics();
  metrics.watchHost(host);
  const readiness = options.handler?.readiness ?? new Readiness(host);
  const inflight = options.handler?.inflight ?? new InFlight();
  const applier = new BatchApplier(host);
  const redisUrl = options.redisUrl ?? "";
  // With Redis the stream and its snapshots are the tables' only store: DATA_DIR is not used.
  const dataDir = redisUrl !== "" ? "" : options.dataDir ?? "";
  // Until recovery is done, writes are refused (503) and /readyz says why.
  const recovering = dataDir !== "" || redisUrl !== "" ? recoveringLog() : undefined;
  const sink = options.handler?.sink ?? new BatchSink(host, {
    autoCreate: options.config?.autoCreate,
    limits: { ...ingestLimits, ...options.config?.limits },
    applier,
    log: recovering,
  });
  // Dashboards and layouts are settings of the batch log: as durable as the tables.
  const dashboards = options.handler?.dashboards ?? new LogDashboardStore(sink);
  const layouts = options.handler?.layouts ?? new LogLayoutStore(sink);
  let storage: DataDir | undefined;
  let shared: RedisStorage | undefined;
  readiness.addCheck(
    "engine",
    () => engineFailure ? { ok: false, detail: engineFailure.message } : { ok: true },
  );
  readiness.addCheck(
    "storage",
    () => {
      if (recovering && !storage && !shared) return { ok: false, detail: "recovering tables" };
      const d = storage?.log.diverged;
      return d
        ? {
          ok: false,
          detail: `could not apply log record ${d.seq} (${d.reason}); restart to rebuild the ` +
            "tables from the log",
        }
        : { ok: true };
    },
  );
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
    websocket: { ...options.handler?.websocket, viewers: sharedViews },
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
    // The handler answers its own errors; what reaches here is a response
    // body that failed after its status went out (an export the engine
    // could not finish): the client sees a cut-off body, the log says why.
    onError: (error) => {
      log.error("response failed", { error });
      return errorResponse(error);
    },
  }, handler);
  // When snapshots fold the log, the local one and Redis's alike.
  const checkpoints = {
    bytes: options.checkpointBytes,
    ageMs: options.checkpointSeconds === undefined ? undefined : options.checkpointSeconds * 1000,
  };
  let sources: RunningSources | undefined;
  try {
    if (redisUrl !== "") {
      shared = await openRedisLog(host, applier, {
        url: redisUrl,
        logger: log,
        snapshot: checkpoints,
        readWaitMs: options.readWaitMs,
        signal: stop.signal,
      });
      sink.useLog(shared.log);
      watchSharedLog(metrics.registry, readiness, shared);
    } else if (recovering) {
      storage = await openDataDir(host, applier, {
        dataDir,
        fs: options.storageFs,
        sync: options.walSync,
        checkpoint: checkpoints,
        logger: log,
        onProgress: (p) => {
          log.info("recovering", { ...p });
          options.onRecoveryProgress?.(p);
        },
        onDiverged: (d) => {
          log.error("could not apply a logged change: the tables differ from the log", { ...d });
          options.onStorageDiverged?.(d.reason);
        },
      });
      const r = storage.recovery;
      log.info("recovered", {
        dataDir: storage.path,
        tables: storage.log.durableTables.length,
        checkpoint: r.checkpoint?.seq ?? 0,
        records: r.records,
        rows: r.rows,
        ms: Math.round(r.ms),
      });
      sink.useLog(storage.log);
      metrics.watchStorage(storage);
    }
    if (options.demo ?? true) {
      if ((storage ?? shared)?.log.isDurable("demo")) {
        log.warn("a durable table is named demo; the demo does not stream into it");
      } else {
        await startDemo(host, { signal: stop.signal });
        await seedDemo(dashboards, layouts);
      }
    }
    for (const t of options.config?.tables ?? []) if (t.layout) await layouts.put(t.name, t.layout);
    if (options.config) {
      await createConfiguredTables(options.config, sink);
      readiness.expectTables(options.config.tables.map((t) => t.name));
      sources = await startConfiguredSources(options.config, sink, log);
      metrics.watchSources(sources);
    }
  } catch (err) {
    // Bad configuration or an unusable data directory: nothing of the
    // half-started service may linger.
    stop.abort();
    await server.shutdown();
    await sink.close();
    await storage?.close();
    await shared?.close();
    host.close();
    throw err;
  }
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
        stopEngine: async () => {
          stop.abort();
          await sink.close();
          await storage?.close();
          await shared?.close();
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
    sharedViews,
    addr,
    url: `http://${hostPart}:${addr.port}${basePath}/`,
    readiness,
    metrics,
    sink,
    applier,
    storage,
    shared,
    drain: drainOnce,
    async close() {
      await drainOnce();
    },
  };
}

/** The log a durable service starts with: writes wait for recovery. */
function recoveringLog(): BatchLog {
  const refuse = () =>
    Promise.reject(
      new StatusError(503, "the service is recovering its tables; retry shortly", {
        "retry-after": "1",
      }),
    );
  return {
    append: refuse,
    position: "0",
    isDurable: () => false,
    meta: () => undefined,
    metaKeys: () => [],
    close: () => Promise.resolve(),
  };
}
