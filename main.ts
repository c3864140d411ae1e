/**
 * Entry point: reads configuration, starts the service, handles signals.
 *
 * @module
 */

import { ConfigError, readEnvConfig } from "./src/config/env.ts";
import { startService } from "./src/service.ts";
import { createLogger } from "./src/ops/log.ts";
import { handleSignals } from "./src/ops/shutdown.ts";
import { watchParent } from "./src/ops/parent_watch.ts";
import { checkBinding, readSecurityConfig, type SecuritySection } from "./src/security/mod.ts";
import { configPath, readConfigFile } from "./src/config/file.ts";
import { DataDirError } from "./src/storage/durable.ts";
import { CorruptSegmentError } from "./src/storage/segments.ts";

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
  const service = await startService({
    ...config,
    log,
    security,
    config: file,
    onEngineFailure: () => {
      console.error("engine failure: exiting so that the service is restarted");
      Deno.exit(70);
    },
    onStorageDiverged: (reason) => {
      console.error(
        `a logged change could not be applied (${reason}): exiting so that the restart ` +
          "rebuilds the tables from the log",
      );
      Deno.exit(70);
    },
    onRecoveryProgress: (p) =>
      console.log(`recovering tables: ${p.percent}% (${p.records} records, ${p.rows} rows)`),
  }).catch((err) => {
    if (err instanceof ConfigError) {
      console.error(`configuration error: ${err.message}`);
      Deno.exit(2);
    }
    if (err instanceof DataDirError || err instanceof CorruptSegmentError) {
      console.error(`storage error: ${err.message}`);
      Deno.exit(3);
    }
    throw err;
  });
  log.info("listening", {
    url: service.url,
    demo: config.demo,
    dataDir: service.shared ? "(shared log on Redis)" : service.storage?.path ?? "(memory only)",
  });
  console.log(`Perspective server ready: open ${service.url}`);
  if (security.tokens.length === 0) {
    console.error(
      "WARNING: no TOKENS configured: open development mode, no authentication. " +
        "Set TOKENS or TOKENS_FILE before exposing this service.",
    );
  }
  handleSignals({ drain: () => service.drain(), log });
  // Set by `deno task start`: a task runner killed outright leaves no one to stop the service.
  if (Deno.env.get("EXIT_WITH_PARENT") === "1") {
    watchParent(() => {
      log.error("the process that started the service is gone; exiting");
      Deno.exit(1);
    });
  }
}
