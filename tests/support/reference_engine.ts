/**
 * A reference for recovery tests: the same tables and settings, applied to
 * an in-process Perspective engine directly, and a seeded random source
 * for the changes.
 *
 * @module
 */

import perspective from "@finos/perspective";
import type { Table } from "../../src/engine/perspective.ts";
import type { TableDef } from "../../src/engine/batch_types.ts";

/** A small seeded generator (mulberry32), so a failure can be replayed by its seed. */
export function random(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)];
  return { next, int, pick, chance: (p: number) => next() < p };
}
export type Random = ReturnType<typeof random>;

/** The same tables and settings, applied to the engine directly. */
export class Reference {
  /** Each table's definition, as the changes so far leave it. */
  readonly tables = new Map<string, TableDef>();
  readonly meta = new Map<string, unknown>();
  readonly #handles = new Map<string, Table>();
  readonly #pending: (() => Promise<unknown>)[] = [];
  /**
   * Keeps engine calls for later instead of making them now. Every
   * Perspective server in a process shares one WebAssembly module, and
   * calls on the package's default server while the service's server works
   * failed in the engine's glue ("Cannot perform DataView.prototype.getInt32
   * on a detached ArrayBuffer"), so with concurrent writers the reference
   * catches up only while the service is idle.
   */
  deferred = false;

  /** Runs (or, deferred, queues) one engine call on the table `name`. */
  async apply(name: string, fn: (table: Table) => Promise<unknown>): Promise<void> {
    await this.#run(() => fn(this.#handles.get(name)!));
  }

  async create(name: string, def: TableDef): Promise<void> {
    this.tables.set(name, def);
    const options = {
      ...(def.index !== null ? { index: def.index } : {}),
      ...(def.limit !== null ? { limit: def.limit } : {}),
    };
    await this.#run(async () =>
      this.#handles.set(
        name,
        await perspective.table({ ...def.schema }, options) as unknown as Table,
      )
    );
  }

  async drop(name: string): Promise<void> {
    this.tables.delete(name);
    await this.#run(async () => {
      await this.#handles.get(name)!.delete();
      this.#handles.delete(name);
    });
  }

  /** Makes the queued calls, in order. */
  async catchUp(): Promise<void> {
    for (const fn of this.#pending.splice(0)) await fn();
  }

  /** The engine's tables, once caught up. */
  async handles(): Promise<Map<string, Table>> {
    await this.catchUp();
    return this.#handles;
  }

  async close(): Promise<void> {
    this.deferred = false;
    await this.catchUp();
    for (const name of [...this.#handles.keys()]) await this.drop(name);
  }

  async #run(fn: () => Promise<unknown>): Promise<void> {
    if (this.deferred) this.#pending.push(fn);
    else await fn();
  }
}

/** Every table's definition and rows, in the engine's order. */
export async function describe(
  tables: Iterable<[string, Table]>,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [name, table] of [...tables].sort(([a], [b]) => a < b ? -1 : 1)) {
    const view = await table.view();
    try {
      out[name] = {
        schema: await table.schema(),
        columns: await table.columns(),
        index: (await table.get_index()) ?? null,
        limit: (await table.get_limit()) ?? null,
        rows: await view.to_columns(),
      };
    } finally {
      await view.delete();
    }
  }
  return out;
}
