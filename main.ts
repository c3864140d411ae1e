/**
 * Entry point: reads configuration, starts the service, handles signals.
 *
 * @module
 */

import { ConfigError, readEnvConfig } from "./src/config/env.ts";
import { startService } from "./src/service.ts";
import { createLogger } from "./src/ops/log.ts";
import { handleSignals } from "./src/ops/shutdown.ts";
import { checkBinding, readSecurityConfig } from "./src/security/mod.ts";

if (import.meta.main) {
  let config, security;
  try {
    config = readEnvConfig((k) => Deno.env.get(k));
    security = await readSecurityConfig((k) => Deno.env.get(k));
    checkBinding(config.host, security);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`configuration error: ${err.message}`);
      Deno.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const service = await startService({ ...config, log, security });
  log.info("listening", { url: service.url, demo: config.demo });
  console.log(`Perspective server ready: open ${service.url}`);
  if (security.tokens.length === 0) {
    console.error(
      "WARNING: no TOKENS configured: open development mode, no authentication. " +
        "Set TOKENS or TOKENS_FILE before exposing this service.",
    );
  }
  handleSignals({ drain: () => service.drain(), log });
}
