/**
 * Entry point: reads configuration, starts the service, handles signals.
 *
 * @module
 */

import { ConfigError, readEnvConfig } from "./src/config/env.ts";
import { startService } from "./src/service.ts";
import { createLogger } from "./src/ops/log.ts";
import { handleSignals } from "./src/ops/shutdown.ts";

if (import.meta.main) {
  let config;
  try {
    config = readEnvConfig((k) => Deno.env.get(k));
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`configuration error: ${err.message}`);
      Deno.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const service = await startService({ ...config, log });
  log.info("listening", { url: service.url, demo: config.demo });
  console.log(`Perspective server ready: open ${service.url}`);
  handleSignals({ drain: () => service.drain(), log });
}
