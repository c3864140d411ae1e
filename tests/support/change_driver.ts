/**
 * Drives random changes (creates, batches, drops, settings, checkpoints)
 * into a durable data directory and a {@linkcode Reference} alike, and
 * compares the two.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Table } from "../../src/engine/perspective.ts";
import type { TableDef } from "../../src/engine/batch_types.ts";
import { StatusError } from "../../src/engine/batch_types.ts";
import type { Batch } from "../../src/ingest/batch.ts";
import type { CheckpointStats } from "../../src/storage/checkpoint.ts";
import type { OpenDir } from "./storage.ts";
import { describe, type Random, Reference } from "./reference_engine.ts";

type Row = Record<string, unknown>;
type Kind = "index" | "limit" | "plain";

const BASE = { id: "integer", name: "string", price: "float", ok: "boolean" } as const;
const NAMES = ["a", "b", "ü€", "", null, "a longer name, with a comma"];

function defFor(kind: Kind, r: Random): TableDef {
  const schema: TableDef["schema"] = { ...BASE };
  if (r.chance(0.3)) schema.note = "string";
  return {
    schema,
    index: kind === "index" ? "id" : null,
    limit: kind === "limit" ? r.int(1, 8) : null,
  };
}

function rows(r: Random, def: TableDef, n: number): Row[] {
  // One batch names the same columns in every row; an upsert may name only some.
  const columns = Object.keys(def.schema).filter((c) =>
    c === "id" || def.index === null || r.chance(0.6)
  );
  return Array.from({ length: n }, () => {
    const row: Row = {};
    for (const c of columns) {
      row[c] = c === "id"
        ? r.int(0, 25)
        : c === "price"
        ? (r.chance(0.15) ? null : r.int(-40, 40) / 4)
        : c === "ok"
        ? (r.chance(0.15) ? null : r.chance(0.5))
        : r.pick(NAMES);
    }
    return row;
  });
}

/** Rows as CSV text: a null is an empty field, a string is quoted. */
function csv(data: Row[]): string {
  const columns = Object.keys(data[0]);
  const cell = (v: unknown) =>
    v === null ? "" : typeof v === "string" ? `"${v.replaceAll('"', '""')}"` : String(v);
  return [columns.join(","), ...data.map((row) => columns.map((c) => cell(row[c])).join(","))]
    .join("\n") + "\n";
}

async function liveState(open: OpenDir): Promise<Record<string, unknown>> {
  await open.host.flush();
  const tables: [string, Table][] = [];
  for (const name of await open.host.tableNames()) {
    tables.push([name, (await open.host.table(name))!]);
  }
  return {
    tables: await describe(tables),
    meta: Object.fromEntries([...open.storage.log.metaEntries].sort(([a], [b]) => a < b ? -1 : 1)),
  };
}

async function referenceState(ref: Reference): Promise<Record<string, unknown>> {
  return {
    tables: await describe(await ref.handles()),
    meta: Object.fromEntries([...ref.meta].sort(([a], [b]) => a < b ? -1 : 1)),
  };
}
/** The tables a driver writes to unless given others. */
export const TABLES = ["t0", "t1", "t2", "t3", "t 4/ü"];

/** Drives random changes into a data directory and the reference alike. */
export class Driver {
  readonly log: string[] = [];
  readonly checkpoints: Promise<CheckpointStats | undefined>[] = [];
  constructor(
    readonly r: Random,
    readonly ref: Reference,
    public open: OpenDir,
    readonly tables: string[] = TABLES,
    readonly metaPrefix = "dashboard:",
  ) {}

  /**
   * Submits through the sink, as JSON or as CSV text; true when it was
   * accepted. Only a refusal the caller expects is allowed.
   */
  async #submit(
    batch: Omit<Batch, "format" | "bytes">,
    body: unknown,
    mayRefuse = false,
  ): Promise<boolean> {
    try {
      await this.open.sink.submit({
        ...batch,
        format: typeof body === "string" && body !== "" ? "csv" : "json",
        bytes: new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body)),
      } as Batch);
      return true;
    } catch (err) {
      if (!mayRefuse || !(err instanceof StatusError) || err.status >= 500) throw err;
      this.log.push(`  refused ${err.status}: ${err.message}`);
      return false;
    }
  }

  /** One random change (or a checkpoint). */
  async step(options: { checkpoints: boolean }): Promise<void> {
    const { r, ref } = this;
    const name = r.pick(this.tables);
    const existing = ref.tables.get(name);
    const roll = r.next();
    if (options.checkpoints && roll < 0.06) {
      this.log.push("checkpoint");
      // Sometimes left running while the next changes arrive.
      const running = this.open.storage.checkpointer.checkpoint();
      if (r.chance(0.5)) await running;
      else this.checkpoints.push(running);
      return;
    }
    if (roll < 0.1) {
      const key = `${this.metaPrefix}${r.int(0, 3)}`;
      const value = r.chance(0.25) ? null : { layout: r.int(0, 99), title: r.pick(NAMES) };
      this.log.push(`meta ${key} ${JSON.stringify(value)}`);
      await this.open.sink.setMeta(key, value);
      if (value === null) ref.meta.delete(key);
      else ref.meta.set(key, value);
      return;
    }
    if (!existing) {
      const kind = r.pick(["index", "limit", "plain"] as const);
      const def = defFor(kind, r);
      if (r.chance(0.3)) {
        // Created by its first batch, schema inferred from the rows.
        const full = rows(r, { ...def, schema: { ...BASE }, index: null }, r.int(1, 6));
        // Every column has a non-null value somewhere, so the inferred types are the schema's.
        full.push({ id: 99, name: "x", price: 0.25, ok: true });
        const create = def.index !== null
          ? { index: "id" }
          : def.limit !== null
          ? { limit: def.limit }
          : true;
        this.log.push(
          `auto-create ${kind} ${name} ${JSON.stringify(create)} ${JSON.stringify(full)}`,
        );
        await this.#submit({ table: name, op: "update", create }, full);
        await ref.create(name, { ...def, schema: { ...BASE } });
        await ref.apply(name, (t) => t.update(full));
        return;
      }
      this.log.push(`create ${kind} ${name} ${JSON.stringify(def)}`);
      await this.open.sink.createTable(name, def);
      await ref.create(name, def);
      return;
    }
    const def = existing;
    if (roll < 0.55) {
      const data = rows(r, def, r.int(1, def.limit !== null ? def.limit * 2 + 1 : 8));
      // Some batches go as CSV, whose bytes the log carries as sent.
      const body = r.chance(0.3) ? csv(data) : data;
      this.log.push(`update ${name} ${JSON.stringify(body)}`);
      await this.#submit({ table: name, op: "update", create: false }, body);
      await ref.apply(name, (t) => t.update(body as Row[]));
    } else if (roll < 0.68) {
      const keys = Array.from({ length: r.int(1, 4) }, () => r.int(0, 25));
      this.log.push(`remove ${name} ${JSON.stringify(keys)}`);
      const accepted = await this.#submit({ table: name, op: "remove" }, keys, true);
      // Only an indexed table removes by key; the others refuse, unchanged.
      assert.equal(accepted, def.index !== null, this.log.join("\n"));
      if (accepted) await ref.apply(name, (t) => t.remove(keys));
    } else if (roll < 0.76) {
      const data = rows(r, { ...def, index: null }, r.int(0, 6));
      this.log.push(`replace ${name} ${JSON.stringify(data)}`);
      if (data.length > 0) {
        await this.#submit({ table: name, op: "replace" }, data);
        await ref.apply(name, (t) => t.replace(data));
      }
    } else if (roll < 0.82) {
      this.log.push(`clear ${name}`);
      await this.#submit({ table: name, op: "clear" }, "");
      await ref.apply(name, (t) => t.clear());
    } else if (roll < 0.9) {
      this.log.push(`drop ${name}`);
      assert.ok(await this.open.sink.dropTable(name));
      await ref.drop(name);
    } else {
      // Dropped and re-created at once, perhaps as another kind of table.
      const def2 = defFor(r.pick(["index", "limit", "plain"] as const), r);
      this.log.push(`re-create ${name} ${JSON.stringify(def2)}`);
      assert.ok(await this.open.sink.dropTable(name));
      await ref.drop(name);
      await this.open.sink.createTable(name, def2);
      await ref.create(name, def2);
    }
  }

  async settle(): Promise<void> {
    await Promise.all(this.checkpoints.splice(0));
  }

  async expectEqual(what: string, open = this.open): Promise<void> {
    await this.settle();
    const [live, ref] = [await liveState(open), await referenceState(this.ref)];
    const names = (state: Record<string, unknown>) => Object.keys(state.tables as object);
    assert.deepEqual(names(live), names(ref), `${what}: table names`);
    for (const name of names(ref)) {
      const history = this.log.filter((line) =>
        line.includes(` ${name} `) || line.startsWith("checkpoint") || line.startsWith("restart")
      );
      assert.deepEqual(
        (live.tables as Record<string, unknown>)[name],
        (ref.tables as Record<string, unknown>)[name],
        `${what}: table ${name}; its changes:\n${history.slice(-40).join("\n")}`,
      );
    }
    assert.deepEqual(live.meta, ref.meta, `${what}: saved settings`);
  }
}

/** Appends rows to every limit table in both, so their rollover is compared too. */
export async function rollLimits(d: Driver): Promise<void> {
  for (const [name, def] of d.ref.tables) {
    if (def.limit === null) continue;
    for (let i = 0; i < 3; i++) {
      const data = rows(d.r, def, d.r.int(1, def.limit + 1));
      d.log.push(`roll ${name} ${JSON.stringify(data)}`);
      await d.open.sink.submit({
        table: name,
        op: "update",
        format: "json",
        bytes: new TextEncoder().encode(JSON.stringify(data)),
      });
      await d.ref.apply(name, (t) => t.update(data));
    }
  }
}
