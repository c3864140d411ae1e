/**
 * Property tests of recovery: random sequences of changes across index,
 * limit and plain tables, with checkpoints at random points, recovered
 * from the data directory, must equal an engine that applied the same
 * sequence in memory; and recovery from a snapshot plus the records after
 * it must equal recovery from further back.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import perspective from "@finos/perspective";
import type { Table } from "../../src/engine/perspective.ts";
import type { TableDef } from "../../src/engine/batch_types.ts";
import { StatusError } from "../../src/engine/batch_types.ts";
import type { Batch } from "../../src/ingest/batch.ts";
import type { CheckpointStats } from "../../src/storage/checkpoint.ts";
import { listSegments } from "../../src/storage/segments.ts";
import { realFs } from "../../src/storage/fs.ts";
import { type OpenDir, openDir } from "../support/storage.ts";

/** A small seeded generator (mulberry32), so a failure can be replayed by its seed. */
function random(seed: number) {
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
type Random = ReturnType<typeof random>;

const SEEDS = (Deno.env.get("STORAGE_PROPERTY_SEEDS") ?? "1,2")
  .split(",").map(Number);

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

/** The same tables and settings, applied to the engine directly. */
class Reference {
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
async function describe(
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

const TABLES = ["t0", "t1", "t2", "t3", "t 4/ü"];

/** Drives random changes into a data directory and the reference alike. */
class Driver {
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
async function rollLimits(d: Driver): Promise<void> {
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

Deno.test("recovered tables equal an engine that applied the same random changes", async () => {
  for (const seed of SEEDS) {
    const r = random(seed);
    const dataDir = await Deno.makeTempDir();
    const ref = new Reference();
    const d = new Driver(r, ref, await openDir(dataDir, { segmentBytes: 4096 }));
    try {
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 60; i++) await d.step({ checkpoints: true });
        await d.expectEqual(`seed ${seed}, round ${round}, before the restart`);
        await d.open.close();
        d.log.push("restart");
        d.open = await openDir(dataDir, { segmentBytes: 4096 });
        await d.expectEqual(`seed ${seed}, round ${round}, after the restart`);
        // A limit table goes on evicting the same rows as the one that never restarted.
        await rollLimits(d);
        await d.expectEqual(`seed ${seed}, round ${round}, limit tables rolled on`);
      }
    } finally {
      await d.settle().catch(() => {});
      await d.open.close();
      await ref.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  }
});

Deno.test("concurrent writers to separate tables, checkpoints among them, recover to the same tables", async () => {
  for (const seed of SEEDS) {
    const dataDir = await Deno.makeTempDir();
    const ref = new Reference();
    ref.deferred = true;
    // Unsynced this time: a clean close loses nothing in that mode either.
    let open = await openDir(dataDir, { segmentBytes: 8192, sync: "none" });
    // Each writer owns its tables and settings, so its changes keep their
    // order while the log interleaves the writers' records in groups.
    const drivers = [0, 1, 2, 3].map((w) =>
      new Driver(random(seed * 31 + w), ref, open, [`w${w}a`, `w${w}b`], `w${w}:`)
    );
    try {
      for (let round = 0; round < 2; round++) {
        await Promise.all(drivers.map(async (d) => {
          for (let i = 0; i < 30; i++) await d.step({ checkpoints: true });
        }));
        for (const d of drivers) await d.settle();
        await drivers[0].expectEqual(`seed ${seed}, round ${round}, before the restart`);
        await open.close();
        open = await openDir(dataDir, { segmentBytes: 8192, sync: "none" });
        for (const d of drivers) {
          d.open = open;
          d.log.push("restart");
        }
        await drivers[0].expectEqual(`seed ${seed}, round ${round}, after the restart`);
      }
    } finally {
      for (const d of drivers) await d.settle().catch(() => {});
      await open.close();
      await ref.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  }
});

Deno.test("a checkpoint plus the records after it recovers the same tables as a replay from further back", async () => {
  for (const seed of SEEDS) {
    const r = random(seed * 7919);
    const dataDir = await Deno.makeTempDir();
    const ref = new Reference();
    const d = new Driver(r, ref, await openDir(dataDir, { segmentBytes: 4096 }));
    try {
      // Two checkpoints at random points: cleanup keeps every segment after
      // the older one, so recovery can start from either.
      const total = 120;
      const [n1, n2] = [r.int(10, 60), r.int(61, 110)];
      for (let i = 0; i < total; i++) {
        if (i === n1 || i === n2) await d.open.storage.checkpointer.checkpoint();
        await d.step({ checkpoints: false });
      }
      await d.open.close();
      const checkpoints = (await realFs.list(dataDir)).filter((n) => n.startsWith("checkpoint-"))
        .sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
      assert.equal(checkpoints.length, 2, String(checkpoints));

      // From the newest checkpoint.
      d.open = await openDir(dataDir);
      assert.equal(
        d.open.storage.recovery.checkpoint?.seq,
        Number(checkpoints[1].match(/\d+/)![0]),
      );
      await d.expectEqual(`seed ${seed}, from the newest checkpoint`);
      await d.open.close();

      // From the older one: the newest is set aside.
      await Deno.rename(join(dataDir, checkpoints[1]), join(dataDir, `${checkpoints[1]}.aside`));
      d.open = await openDir(dataDir);
      assert.equal(
        d.open.storage.recovery.checkpoint?.seq,
        Number(checkpoints[0].match(/\d+/)![0]),
      );
      assert.ok(d.open.storage.recovery.records > 0);
      await d.expectEqual(`seed ${seed}, from the older checkpoint`);
    } finally {
      await d.settle().catch(() => {});
      await d.open.close();
      await ref.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  }
});

Deno.test("a snapshot at N plus replay from N+1 equals a full replay of the log", async () => {
  for (const seed of SEEDS) {
    const r = random(seed * 104729);
    const dataDir = await Deno.makeTempDir();
    const ref = new Reference();
    const d = new Driver(r, ref, await openDir(dataDir, { segmentBytes: 4096 }));
    try {
      // One checkpoint deletes no segment: the whole log stays.
      const n = r.int(20, 100);
      for (let i = 0; i < 120; i++) {
        if (i === n) await d.open.storage.checkpointer.checkpoint();
        await d.step({ checkpoints: false });
      }
      await d.open.close();
      const segments = await listSegments(realFs, join(dataDir, "wal"));
      assert.equal(segments[0].firstSeq, 1, "the log is whole");

      d.open = await openDir(dataDir);
      assert.ok(d.open.storage.recovery.checkpoint, "recovered from the snapshot");
      await d.expectEqual(
        `seed ${seed}, snapshot at ${d.open.storage.recovery.checkpoint.seq} and replay`,
      );
      await d.open.close();

      for (const name of await realFs.list(dataDir)) {
        if (name.startsWith("checkpoint-")) await Deno.remove(join(dataDir, name));
      }
      d.open = await openDir(dataDir);
      assert.equal(d.open.storage.recovery.checkpoint, undefined, "recovered by replay alone");
      await d.expectEqual(`seed ${seed}, full replay`);
    } finally {
      await d.settle().catch(() => {});
      await d.open.close();
      await ref.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  }
});
