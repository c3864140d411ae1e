import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { EngineHost } from "../../src/engine/host.ts";
import { BroadcastHub, NoSuchTableError } from "../../src/fanout/broadcast.ts";
import { applyFrame, type BroadcastHello } from "../../src/fanout/broadcast_protocol.ts";
import type { Table } from "../../src/engine/perspective.ts";
import { waitFor } from "../support/wait.ts";

/** A subscriber that applies frames, in order, to a table in the module's own engine. */
class Replica {
  table?: Table;
  #chain: Promise<unknown> = Promise.resolve();
  closed?: number;

  send = (frame: Uint8Array | string): void => {
    this.#chain = this.#chain.then(async () => {
      if (typeof frame === "string") {
        const hello = JSON.parse(frame) as BroadcastHello;
        const options = hello.index
          ? { index: hello.index }
          : hello.limit
          ? { limit: hello.limit }
          : {};
        this.table ??= await perspective.table(hello.schema, options);
      } else {
        await applyFrame(this.table!, frame);
      }
    });
  };
  close = (code: number): void => {
    this.closed = code;
  };

  async rows(): Promise<string[]> {
    await this.#chain;
    return this.table ? await sortedRows(this.table) : [];
  }
}

async function sortedRows(table: Table): Promise<string[]> {
  const view = await table.view();
  const rows = (await view.to_json()) as Record<string, unknown>[];
  await view.delete();
  // Column order differs between engines; compare rows as sorted entries.
  return rows.map((r) => JSON.stringify(Object.entries(r).sort())).sort();
}

/** mulberry32: a seeded sequence, so a failure reproduces. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function converge(server: Table, replicas: Replica[]): Promise<void> {
  await waitFor("every replica to equal the server", async () => {
    const want = JSON.stringify(await sortedRows(server));
    for (const r of replicas) if (JSON.stringify(await r.rows()) !== want) return false;
    return true;
  });
}

for (const seed of [1, 2, 3, 4, 5]) {
  Deno.test(`BroadcastHub: subscribers equal the server after random upserts, removes, clears and replaces (seed ${seed})`, async () => {
    const host = await EngineHost.create({ maxUpdateRate: 50 });
    const hub = new BroadcastHub(host);
    try {
      const random = rng(seed);
      const table = await host.createTable("t", { id: "integer", name: "string", x: "float" }, {
        index: "id",
      });
      await table.update([{ id: 0, name: "zero", x: 0 }]);
      const early = new Replica();
      await hub.subscribe("t", early);
      const replicas = [early];
      const row = () => {
        const id = Math.floor(random() * 40);
        return { id, name: `n${Math.floor(random() * 1000)}`, x: random() };
      };
      for (let step = 0; step < 120; step++) {
        const p = random();
        if (p < 0.6) await table.update(Array.from({ length: 1 + Math.floor(random() * 8) }, row));
        else if (p < 0.85) {
          await table.remove([Math.floor(random() * 40), Math.floor(random() * 40)]);
        } else if (p < 0.92) await table.clear();
        else await table.replace(Array.from({ length: Math.floor(random() * 10) }, row));
        if (random() < 0.3) await host.flush();
        if (step === 60) {
          const late = new Replica();
          await hub.subscribe("t", late);
          replicas.push(late);
        }
      }
      await host.flush();
      await converge(table, replicas);
      assert.equal(hub.stats.subscribers, 2);
    } finally {
      await hub.close();
      host.close();
    }
  });
}

Deno.test("BroadcastHub: an append table with a limit rolls over like the server's", async () => {
  const host = await EngineHost.create({ maxUpdateRate: 50 });
  const hub = new BroadcastHub(host);
  try {
    const table = await host.createTable("log", { seq: "integer" }, { limit: 25 });
    const replicas = [new Replica()];
    await hub.subscribe("log", replicas[0]);
    let seq = 0;
    for (let i = 0; i < 30; i++) {
      await table.update(Array.from({ length: 1 + (i % 7) }, () => ({ seq: seq++ })));
      if (i % 3 === 0) await host.flush();
      if (i === 15) {
        replicas.push(new Replica());
        await hub.subscribe("log", replicas[1]);
      }
      if (i === 20) await table.clear();
    }
    await host.flush();
    await converge(table, replicas);
    assert(hub.stats.deltas > 0, "plain appends travel as deltas");
  } finally {
    await hub.close();
    host.close();
  }
});

Deno.test("BroadcastHub: every subscriber gets the same delta frame object", async () => {
  const host = await EngineHost.create({ maxUpdateRate: 50 });
  const hub = new BroadcastHub(host);
  try {
    const table = await host.createTable("t", { id: "integer" }, { index: "id" });
    const seen: Uint8Array[][] = [[], [], []];
    for (const s of seen) {
      await hub.subscribe("t", { send: (f) => typeof f !== "string" && s.push(f), close() {} });
    }
    await table.update([{ id: 1 }]);
    await host.flush();
    await waitFor("the delta", () => seen.every((s) => s.length === 2));
    assert(seen[0][1] === seen[1][1] && seen[1][1] === seen[2][1]);
  } finally {
    await hub.close();
    host.close();
  }
});

Deno.test("BroadcastHub.subscribe() rejects an unknown table", async () => {
  const host = await EngineHost.create();
  const hub = new BroadcastHub(host);
  try {
    await assert.rejects(hub.subscribe("nope", new Replica()), NoSuchTableError);
  } finally {
    await hub.close();
    host.close();
  }
});

Deno.test("BroadcastHub: upserts and appends travel as deltas, without snapshots", async () => {
  const host = await EngineHost.create({ maxUpdateRate: 100 });
  const hub = new BroadcastHub(host);
  try {
    const table = await host.createTable("t", { id: "integer", v: "integer" }, { index: "id" });
    const replica = new Replica();
    await hub.subscribe("t", replica);
    for (let i = 0; i < 60; i++) {
      void table.update([{ id: i % 13, v: i }, { id: 100 + i, v: i }]);
      if (i % 4 === 0) await host.flush();
    }
    await host.flush();
    await converge(table, [replica]);
    assert.equal(hub.stats.resyncs, 0);
    assert(hub.stats.deltas > 0);
  } finally {
    await hub.close();
    host.close();
  }
});
