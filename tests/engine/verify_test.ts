import assert from "node:assert/strict";
import { EngineHost } from "../../src/engine/host.ts";
import { BatchApplier } from "../../src/engine/apply.ts";
import { memoryStats } from "../../src/engine/memory.ts";
import { type EngineBatch, StatusError } from "../../src/engine/batch_types.ts";

/**
 * A batch of `n` JSON rows that claims to hold `claimed` rows: the seam for
 * an engine that drops rows.
 */
function batch(n: number, claimed = n, op: "update" | "clear" = "update"): EngineBatch {
  const rows = Array.from({ length: n }, (_, i) => ({ x: i }));
  const data = new TextEncoder().encode(op === "clear" ? "" : JSON.stringify(rows));
  return { table: "t", op, format: "json", data, rows: op === "clear" ? 0 : claimed };
}

async function withApplier(fn: (applier: BatchApplier) => Promise<void>) {
  const host = await EngineHost.create();
  const applier = new BatchApplier(host);
  try {
    await host.createTable("t", { x: "float" });
    await fn(applier);
  } finally {
    await applier.close();
    host.close();
  }
}

Deno.test("an append the engine stored only in part is answered 500 and counted, never acknowledged", async () => {
  await withApplier(async (applier) => {
    assert.equal((await (await applier.stage(batch(5))).settle()).size, 5);
    const before = memoryStats.discrepancies;
    const short = await applier.stage(batch(2, 3));
    const err = await short.settle().catch((e) => e);
    assert(err instanceof StatusError, String(err));
    assert.equal(err.status, 500);
    assert.match(err.message, /holds 7 rows where it should hold at least 8/);
    assert.equal(memoryStats.discrepancies, before + 1);
    // The check starts again from the table's real size.
    assert.equal((await (await applier.stage(batch(4))).settle()).size, 11);
  });
});

Deno.test("appends staged together, and appends after a clear, pass the size check", async () => {
  await withApplier(async (applier) => {
    const before = memoryStats.discrepancies;
    const staged = [];
    for (let i = 0; i < 8; i++) staged.push(await applier.stage(batch(10)));
    const results = await Promise.all(staged.map((s) => s.settle()));
    assert.equal(results.at(-1)!.size, 80);
    const cleared = await applier.stage(batch(0, 0, "clear"));
    const after = await applier.stage(batch(3));
    await cleared.settle();
    assert.equal((await after.settle()).size, 3);
    assert.equal(memoryStats.discrepancies, before);
  });
});

Deno.test("an append whose table is dropped and made again before its check settles without a discrepancy", async () => {
  const host = await EngineHost.create();
  const applier = new BatchApplier(host);
  try {
    await host.createTable("t", { x: "float" });
    const before = memoryStats.discrepancies;
    const staged = await applier.stage(batch(4));
    await host.dropTable("t");
    await host.createTable("t", { x: "float" });
    // The old handle now reaches the new, empty table: its size says nothing of the batch.
    const result = await staged.settle();
    assert.equal(result.rows, 4);
    assert.equal(memoryStats.discrepancies, before);
    // The new table's own appends are checked from its real size.
    assert.equal((await (await applier.stage(batch(2))).settle()).size, 2);
  } finally {
    await applier.close();
    host.close();
  }
});
