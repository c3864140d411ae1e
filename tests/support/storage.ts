/**
 * A durable data directory opened in-process for storage tests: an engine
 * host, the data directory's log, and a sink that writes through it.
 *
 * @module
 */

import { EngineHost } from "../../src/engine/host.ts";
import { BatchApplier } from "../../src/engine/apply.ts";
import { BatchSink } from "../../src/ingest/sink.ts";
import { type DataDir, type DataDirOptions, openDataDir } from "../../src/storage/durable.ts";
import { createLogger, type Logger, silentLogger } from "../../src/ops/log.ts";
import { columnsOf } from "./columns.ts";

/** An open data directory with its own engine. */
export interface OpenDir {
  /** The engine host. */
  host: EngineHost;
  /** The data directory. */
  storage: DataDir;
  /** A sink whose changes go through the data directory's log. */
  sink: BatchSink;
  /** The applier; its `faultBeforeStage` injects failures. */
  applier: BatchApplier;
  /** Every row of a table as columns, or undefined when it does not exist. */
  rows(table: string): Promise<Record<string, unknown[]> | undefined>;
  /** Closes the sink, the data directory and the host. */
  close(): Promise<void>;
}

/**
 * Opens `dataDir` with a fresh engine host; `fault`, when given, fails
 * batches from recovery on (see `BatchApplier.faultBeforeStage`).
 */
export async function openDir(
  dataDir: string,
  options: Partial<DataDirOptions> = {},
  fault?: BatchApplier["faultBeforeStage"],
): Promise<OpenDir> {
  const host = await EngineHost.create();
  const applier = new BatchApplier(host);
  applier.faultBeforeStage = fault;
  let storage: DataDir;
  try {
    storage = await openDataDir(host, applier, { logger: silentLogger, ...options, dataDir });
  } catch (err) {
    await applier.close();
    host.close();
    throw err;
  }
  const sink = new BatchSink(host, { applier, log: storage.log });
  return {
    host,
    storage,
    sink,
    applier,
    async rows(table) {
      const t = await host.table(table);
      return t && await columnsOf(host, t);
    },
    async close() {
      await sink.close();
      await storage.close();
      host.close();
    },
  };
}

/** A logger that keeps its entries, for tests that check a warning. */
export function capturingLogger(): { logger: Logger; entries: Record<string, unknown>[] } {
  const entries: Record<string, unknown>[] = [];
  return { logger: createLogger("debug", (line) => entries.push(JSON.parse(line))), entries };
}

/** A JSON body for the sink. */
export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
