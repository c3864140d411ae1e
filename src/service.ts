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

/** A running service. */
export interface Service {
  /** The engine host. */
  host: EngineHost;
  /** The bound address. */
  addr: Deno.NetAddr;
  /** The URL of the home page, base path included. */
  url: string;
  /** Stops the server and the demo, and closes every session. */
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
}

/** Starts the service and resolves once it listens. */
export async function startService(options: ServiceOptions = {}): Promise<Service> {
  const log = options.log ?? createLogger(options.logLevel ?? "info");
  const host = await EngineHost.create({ log, maxUpdateRate: options.maxUpdateRate });
  const stop = new AbortController();
  if (options.demo ?? true) await startDemo(host, { signal: stop.signal });
  const basePath = options.basePath ?? "";
  const handler = createHandler({ host, basePath, log, ...options.handler });
  const server = Deno.serve({
    hostname: options.host ?? "127.0.0.1",
    port: options.port ?? 8080,
    signal: stop.signal,
    onListen: () => {},
  }, handler);
  const addr = server.addr;
  const hostPart = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    host,
    addr,
    url: `http://${hostPart}:${addr.port}${basePath}/`,
    async close() {
      stop.abort();
      host.close();
      await server.finished;
    },
  };
}
