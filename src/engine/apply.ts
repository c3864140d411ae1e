/**
 * Applies batches to the engine through the {@linkcode EngineHost}, in two
 * steps: {@linkcode BatchApplier.stage} hands the batch to the engine (the
 * step that fixes its order), and the returned `settle` waits until the
 * engine has processed it, so the reported size is real. Batches for one
 * table must be staged one at a time; settling may overlap. Batches come
 * from validation or from a log's replay alike, by table name.
 *
 * @module
 */

import { EngineHost } from "./host.ts";
import { type Expectation, SizeLedger, type TableState } from "./verify.ts";
import type { Table } from "./perspective.ts";
import { type BatchResult, type EngineBatch, StatusError, type TableDef } from "./batch_types.ts";

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
 * @throws {StatusError} 409 in that case.
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
    throw new StatusError(
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

  /**
   * A seam for tests: an error it returns is thrown before the batch reaches
   * the engine, as a failure of this engine alone (no room) would be.
   */
  faultBeforeStage?: (batch: EngineBatch) => Error | undefined;

  /** @param host The engine host that owns the tables. */
  constructor(host: EngineHost) {
    this.#host = host;
  }

  /**
   * Hands one batch to the engine, creating its table first when the batch
   * says so.
   *
   * @throws {StatusError} when the engine refuses the batch (the table is
   *   unchanged), 404 when the table is missing, 409 when a create finds it.
   */
  async stage(batch: EngineBatch): Promise<Staged> {
    const fault = this.faultBeforeStage?.(batch);
    if (fault) throw fault;
    const name = batch.table;
    let table = await this.#host.table(name);
    if (batch.create && table) {
      throw new StatusError(409, `table ${JSON.stringify(name)} exists already`);
    }
    if (!batch.create && !table) {
      throw new StatusError(404, `no table named ${JSON.stringify(name)}`);
    }
    let created = false;
    if (batch.create) {
      table = await this.#create(name, batch.create, batch.data);
      created = true;
      if (Object.keys(batch.create.schema).length === 0) {
        return this.#settled(table, name, batch.rows, created);
      }
    }
    const live = table!;
    const data = engineData(batch.data);
    const options = { format: batch.format } as UpdateOptions;
    let rows = batch.rows;
    let expect: Expectation | undefined;
    if (batch.op !== "update") this.#ledger.reset(live);
    else expect = await this.#ledger.append(live, rows, () => this.#describe(live));
    try {
      switch (batch.op) {
        case "update":
          await live.update(data, options);
          break;
        case "replace":
          // The engine's replace keeps updates it has not processed yet, so
          // earlier batches (a group, a replay) must be processed first.
          await this.#host.flush();
          await live.replace(data, options);
          break;
        case "remove": {
          const before = await this.#size(live);
          await live.remove(JSON.parse(new TextDecoder().decode(batch.data)));
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

  /**
   * Creates an empty table.
   *
   * @throws {StatusError} 409 when the name is taken, 400 when the engine refuses.
   */
  async create(name: string, def: TableDef): Promise<void> {
    await this.#create(name, def, new Uint8Array(0));
  }

  /**
   * Rehearses a replace on a private engine: a failed engine replace leaves
   * the table empty, so a replace is tried where it can do no harm before
   * it is logged and applied.
   *
   * @throws {StatusError} when the engine refuses it.
   */
  async rehearse(batch: EngineBatch, def: TableDef): Promise<void> {
    try {
      await this.#rehearse(batch, def, engineData(batch.data));
    } catch (err) {
      throw engineError(err);
    }
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
        // Dropped since, and perhaps made again under its name: the handle
        // now reaches another table, whose size says nothing of this batch.
        if (expect && this.#host.peekTable(name) !== table) {
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
            throw err;
          }
        }
        return { table: name, rows, size, created };
      },
    };
  }

  async #describe(table: Table): Promise<TableState> {
    const size = await this.#size(table);
    const [index, limit] = await Promise.all([table.get_index(), table.get_limit()]);
    return { size, index: index ?? null, limit: limit ?? null };
  }

  async #size(table: Table): Promise<number> {
    await this.#host.flush();
    return await table.size();
  }

  async #create(name: string, def: TableDef, data: Uint8Array): Promise<Table> {
    const options = {
      ...(def.index !== null ? { index: def.index } : {}),
      ...(def.limit !== null ? { limit: def.limit } : {}),
    };
    try {
      if (Object.keys(def.schema).length === 0) {
        // CSV: the engine infers the schema and loads the rows in one step.
        const text = new TextDecoder().decode(data);
        return await createTableChecked(this.#host, name, text, options);
      }
      return await createTableChecked(this.#host, name, { ...def.schema }, options);
    } catch (err) {
      throw engineError(err);
    }
  }

  async #rehearse(batch: EngineBatch, def: TableDef, data: ArrayBuffer): Promise<void> {
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
      await table.replace(data.slice(0), { format: batch.format } as UpdateOptions);
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
export function engineError(err: unknown): StatusError {
  if (err instanceof StatusError) return err;
  const text = err instanceof Error ? err.message : String(err);
  const detail = text.replace(/^Abort\(\):\s*/, "").trim().split("\n")[0].slice(0, 300);
  if (OUT_OF_MEMORY.test(detail)) {
    return new StatusError(507, `the engine ran out of memory applying the batch: ${detail}`);
  }
  return new StatusError(
    CONVERSION.test(detail) ? 422 : 400,
    `the engine refused the batch: ${detail}`,
  );
}
