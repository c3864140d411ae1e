import assert from "node:assert/strict";
import { EngineHost } from "../../src/engine/host.ts";
import { DEMO_SCHEMA, startDemo } from "../../src/engine/demo.ts";
import { waitFor } from "../support/wait.ts";

Deno.test("EngineHost.tableInfo() reports schema columns in the table's order", async () => {
  const host = await EngineHost.create();
  await host.createTable("t", { zeta: "string", alpha: "float", mid: "integer" }, {
    index: "zeta",
  });
  const info = await host.tableInfo("t");
  assert.deepEqual(Object.keys(info!.schema), ["zeta", "alpha", "mid"]);
  assert.deepEqual(info, {
    name: "t",
    size: 0,
    schema: { zeta: "string", alpha: "float", mid: "integer" },
    index: "zeta",
    limit: null,
  });
  assert.equal(await host.tableInfo("missing"), undefined);
});

Deno.test("EngineHost.dropTable() removes the table from the listing", async () => {
  const host = await EngineHost.create();
  await host.createTable("a", [{ x: 1 }]);
  await host.createTable("b", [{ x: 1 }], { limit: 10 });
  assert.deepEqual((await host.listTables()).map((t) => [t.name, t.limit]), [["a", null], [
    "b",
    10,
  ]]);
  assert.equal(await host.dropTable("a"), true);
  assert.equal(await host.dropTable("a"), false);
  assert.deepEqual((await host.listTables()).map((t) => t.name), ["b"]);
});

Deno.test("startDemo() creates the demo table and keeps appending rows", async () => {
  const host = await EngineHost.create();
  const stop = new AbortController();
  try {
    await startDemo(host, { signal: stop.signal, seed: 42, rate: 50 });
    const info = await host.tableInfo("demo");
    assert.deepEqual(info?.schema, DEMO_SCHEMA);
    const first = info!.size;
    assert.ok(first > 0);
    await waitFor("more demo rows", async () => (await host.tableInfo("demo"))!.size > first);
  } finally {
    stop.abort();
  }
});
