/**
 * Start-up from the config file: creates the configured tables and starts
 * the configured sources.
 *
 * @module
 */

import type { Logger } from "../ops/log.ts";
import { ConfigError } from "../config/env.ts";
import type { BatchSink } from "./sink.ts";
import { IngestError } from "./batch.ts";
import { SourceError } from "./source.ts";
import { type RunningSources, type SourceSpec, startSources } from "./source_runner.ts";
import type { TableDef } from "./batch.ts";

/** What start-up reads of the config file (`config/file.ts` parses it). */
export interface StartupConfig {
  /** Tables to create, each with its name. */
  tables: readonly ({ name: string } & TableDef)[];
  /** Sources to start. */
  sources: readonly SourceSpec[];
  /** Directory that relative module paths resolve against. */
  baseDir: string;
}

/**
 * Creates each configured table that does not exist yet.
 *
 * @throws {ConfigError} when a table exists with another definition.
 */
export async function createConfiguredTables(
  config: StartupConfig,
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
  config: StartupConfig,
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
