/**
 * Start-up from the config file: creates the configured tables and starts
 * the configured sources.
 *
 * @module
 */

import type { Logger } from "../ops/log.ts";
import { ConfigError } from "../config/env.ts";
import type { FileConfig } from "../config/file.ts";
import type { BatchSink } from "./sink.ts";
import { IngestError } from "./batch.ts";
import { SourceError } from "./source.ts";
import { type RunningSources, startSources } from "./source_runner.ts";

/**
 * Creates each configured table that does not exist yet.
 *
 * @throws {ConfigError} when a table exists with another definition.
 */
export async function createConfiguredTables(
  config: FileConfig,
  sink: BatchSink,
): Promise<void> {
  for (const [i, t] of config.tables.entries()) {
    try {
      await sink.createTable(t.name, { schema: t.schema, index: t.index, limit: t.limit });
    } catch (err) {
      if (err instanceof IngestError && err.status === 409) {
        throw new ConfigError(`tables[${i}]`, `table ${t.name} exists with another definition`);
      }
      throw err;
    }
  }
}

/**
 * Starts the configured sources.
 *
 * @throws {ConfigError} naming the source that cannot be loaded
 *   (`sources[i].use`) or the option its check refused (`sources[i].options.x`).
 */
export async function startConfiguredSources(
  config: FileConfig,
  sink: BatchSink,
  log: Logger,
): Promise<RunningSources> {
  try {
    return await startSources(config.sources, { sink, log, baseDir: config.baseDir });
  } catch (err) {
    if (err instanceof SourceError) {
      throw new ConfigError(`sources[${err.index ?? 0}].${err.field}`, err.detail);
    }
    throw err;
  }
}
