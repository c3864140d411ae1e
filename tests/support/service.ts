/**
 * Starts the real service on a free loopback port for a test.
 *
 * @module
 */

import { type Service, type ServiceOptions, startService } from "../../src/service.ts";
import { silentLogger } from "../../src/ops/log.ts";

/**
 * Runs `fn` against a service started with `options` on 127.0.0.1:0 and
 * closes it afterwards, whatever happens.
 */
export async function withService<T>(
  options: ServiceOptions,
  fn: (service: Service) => Promise<T>,
): Promise<T> {
  const service = await startService({ port: 0, log: silentLogger, ...options });
  try {
    return await fn(service);
  } finally {
    await service.close();
  }
}

/** The WebSocket URL of a running service. */
export function websocketUrl(service: Service): string {
  return new URL("websocket", service.url).href.replace(/^http/, "ws");
}
