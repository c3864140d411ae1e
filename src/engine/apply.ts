/**
 * Applies validated batches to the engine through the {@linkcode EngineHost},
 * in two steps: {@linkcode BatchApplier.stage} hands the batch to the engine
 * (the step that fixes its order), and the returned `settle` waits until
 * the engine has processed it, so the reported size is real. Batches for
 * one table must be staged one at a time; settling may overlap.
 *
 * @module
 */

import { EngineHost } from "./host.ts";
import { type Expectation, SizeLedger } from "./verify.ts";
import type { Table } from "./perspective.ts";
import {
  type BatchResult,
  IngestError,
  StaleBatchError,
  type ValidBatch,
} from "../ingest/batch.ts";

type UpdateOptions = Parameters<Table["update"]>[1];

/** A staged batch: `settle` resolves once the engine has applied it. */
export interface Staged {
  /** Waits for the engine to process the batch and reports the result. */
  settle(): Promise<BatchResult>;
}

/**
 * Creates a table and checks the engine really made a new one. A dropped
 * table's views are deleted with it, so its name is free at once; but should
 * a drop have had to fall back to a lazy delete (a view made outside the
 * host's sessions), the engine answers a create by that name with the
 * dropped table itself, unlisted. That table is deleted for good if no view
 * holds it any longer; otherwise the create is refused with 409.
 *
 * @throws {IngestError} 409 in that case.
 */
export async function createTableChecked(
  host: EngineHost,
  name: string,
  init: Parameters<EngineHost["createTable"]>[1],
  options: Parameters<EngineHost["createTable"]>[2],
): Promise<Table> {
  const table = await host.createTable(name, init, options);
  if ((await host.tableNames()).includes(name)) return table;
  if (!(await host.purgeDropped(name, table))) {
    throw new IngestError(
      409,
      `table ${JSON.stringify(name)} was dropped while a view still holds it; ` +
        "its name is free once that view is closed",
    );
  }
  return await host.createTable(name, init, options);
}

/** Applies batches to one host; replaces are rehearsed on a private engine first. */
export class BatchApplier {
  readonly #host: EngineHost;
  readonly #ledger = new SizeLedger();
  #scratch?: Promise<EngineHost>;
  #rehearsals = 0;

  /** @param host The engine host that owns the tables. */
  constructor(host: EngineHost) {
    this.#host = host;
  }

  /**
   * Hands one validated batch to the engine.
   *
   * @throws {StaleBatchError} when the table is not the one validated against.
   * @throws {IngestError} when the engine refuses the batch; the table is unchanged.
   */
  async stage(valid: ValidBatch): Promise<Staged> {
    const { batch } = valid;
    const name = batch.table;
    let table = await this.#host.table(name);
    if (valid.create ? table !== undefined : table === undefined || table !== valid.target) {
      throw new StaleBatchError(name);
    }
    let created = false;
    if (valid.create) {
      table = await this.#create(name, valid);
      created = true;
      if (Object.keys(valid.create.schema).length === 0) {
        return this.#settled(table, name, valid.rows, created);
      }
    }
    const live = table!;
    const data = engineData(valid.payload ?? batch.bytes);
    const options = { format: valid.format } as UpdateOptions;
    let rows = valid.rows;
    let expect: Expectation | undefined;
    const def = valid.create ?? valid.def;
    if (batch.op !== "update") this.#ledger.reset(live);
    else if (def && def.index === null) {
      expect = await this.#ledger.append(live, rows, def.limit, () => this.#size(live));
    }
    try {
      switch (batch.op) {
        case "update":
          await live.update(data, options);
          break;
        case "replace":
          // A failed engine replace leaves the table empty, so it is rehearsed first.
          await this.#rehearse(valid, data);
          await live.replace(data, options);
          break;
        case "remove": {
          const before = await this.#size(live);
          await live.remove(valid.keys ?? []);
          rows = before - await this.#size(live);
          break;
        }
        case "clear":
          rows = await this.#size(live);
          await live.clear();
          break;
      }
    } catch (err) {
      if (created) await this.#host.dropTable(name).catch(() => {});
      // The engine may have taken part of the batch before it failed.
      this.#ledger.reset(live);
      throw engineError(err);
    }
    return this.#settled(live, name, rows, created, expect);
  }

  /** Stops the private engine used for rehearsals. */
  async close(): Promise<void> {
    const scratch = await this.#scratch?.catch(() => undefined);
    scratch?.close();
  }

  #settled(
    table: Table,
    name: string,
    rows: number,
    created: boolean,
    expect?: Expectation,
  ): Staged {
    return {
      settle: async () => {
        await this.#host.flush();
        let size = 0;
        try {
          size = await table.size();
        } catch {
          // Dropped right after the batch: the batch was applied all the same.
          return { table: name, rows, size, created };
        }
        if (expect) {
          try {
            this.#ledger.check(table, name, expect, size);
          } catch (err) {
            this.#host.log.error("engine did not apply a batch", {
              table: name,
              error: (err as Error).message,
            });
            throw new IngestError(500, (err as Error).message);
          }
        }
        return { table: name, rows, size, created };
      },
    };
  }

  async #size(table: Table): Promise<number> {
    await this.#host.flush();
    return await table.size();
  }

  async #create(name: string, valid: ValidBatch): Promise<Table> {
    const def = valid.create!;
    const options = {
      ...(def.index !== null ? { index: def.index } : {}),
      ...(def.limit !== null ? { limit: def.limit } : {}),
    };
    try {
      if (Object.keys(def.schema).length === 0) {
        // CSV: the engine infers the schema and loads the rows in one step.
        const text = new TextDecoder().decode(valid.batch.bytes);
        return await createTableChecked(this.#host, name, text, options);
      }
      return await createTableChecked(this.#host, name, { ...def.schema }, options);
    } catch (err) {
      throw engineError(err);
    }
  }

  async #rehearse(valid: ValidBatch, data: ArrayBuffer): Promise<void> {
    const def = valid.def;
    if (!def) return;
    this.#scratch ??= EngineHost.create();
    const scratch = await this.#scratch;
    const name = `rehearsal-${++this.#rehearsals}`;
    const table = await scratch.createTable(
      name,
      { ...def.schema },
      def.index !== null ? { index: def.index } : {},
    );
    try {
      // The same call as the real one: the engine reads Arrow for a replace
      // differently from an update, so an update could pass where it fails.
      await table.replace(data.slice(0), { format: valid.format } as UpdateOptions);
      await scratch.flush();
    } finally {
      await table.delete().catch(() => {});
    }
  }
}

/** The engine takes an `ArrayBuffer` holding exactly the payload. */
function engineData(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) {
    return bytes.buffer as ArrayBuffer;
  }
  return bytes.slice().buffer;
}

/** How the engine says an allocation failed. */
const OUT_OF_MEMORY = /bad_alloc|out of memory|Cannot enlarge memory/i;

/** Formats whose failures the engine reports as conversion problems. */
const CONVERSION = /conversion|coerce|Could not fill|Cannot append|Expected (int|double|bool)/i;

/**
 * Maps an engine error to a client error: conversion failures are 422,
 * anything else it could not read is 400.
 */
export function engineError(err: unknown): IngestError {
  if (err instanceof IngestError) return err;
  const text = err instanceof Error ? err.message : String(err);
  const detail = text.replace(/^Abort\(\):\s*/, "").trim().split("\n")[0].slice(0, 300);
  if (OUT_OF_MEMORY.test(detail)) {
    return new IngestError(507, `the engine ran out of memory applying the batch: ${detail}`);
  }
  return new IngestError(
    CONVERSION.test(detail) ? 422 : 400,
    `the engine refused the batch: ${detail}`,
  );
}
