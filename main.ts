/**
 * Entry point: reads configuration, starts the service, handles signals.
 *
 * @module
 */

import { ConfigError, readEnvConfig } from "./src/config/env.ts";
import { startService } from "./src/service.ts";
import { createLogger } from "./src/ops/log.ts";
import { handleSignals } from "./src/ops/shutdown.ts";
import { checkBinding, readSecurityConfig, type SecuritySection } from "./src/security/mod.ts";
import { configPath, readConfigFile } from "./src/config/file.ts";

if (import.meta.main) {
  let config, security, file;
  try {
    config = readEnvConfig((k) => Deno.env.get(k));
    const path = configPath(Deno.args, (k) => Deno.env.get(k));
    file = path === undefined ? undefined : await readConfigFile(path);
    security = await readSecurityConfig(
      (k) => Deno.env.get(k),
      file?.security as SecuritySection | undefined,
    );
    checkBinding(config.host, security);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`configuration error: ${err.message}`);
      Deno.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const service = await startService({ ...config, log, security, config: file }).catch((err) => {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`configuration error: ${err.message}`);
    Deno.exit(2);
  });
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
