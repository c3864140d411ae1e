import assert from "node:assert/strict";
import { RATE_WINDOW_MS, RateTracker } from "../../src/server/dashboards_overview.ts";
import type { TableInfo } from "../../src/engine/host.ts";
import { body, withApi } from "../support/ingest.ts";

const info = (name: string, size: number): TableInfo => ({
  name,
  size,
  schema: { a: "integer" },
  index: null,
  limit: null,
});

Deno.test("RateTracker gives rows per second from growth over the last minute", () => {
  let now = 0;
  const rates = new RateTracker(() => now);
  assert.equal(rates.sample([info("t", 0)]).get("t"), null);
  now = 10_000;
  assert.equal(rates.sample([info("t", 500)]).get("t"), 50);
  // Samples older than the window stop counting: only the last minute's growth is a rate.
  now = 10_000 + RATE_WINDOW_MS + 5_000;
  rates.sample([info("t", 500)]);
  now += 1_000;
  assert.equal(rates.sample([info("t", 500)]).get("t"), 0);
});

Deno.test("RateTracker counts delivered rows where the size cannot grow (a full limit table)", () => {
  let now = 0;
  const rates = new RateTracker(() => now);
  rates.sample([info("t", 100)]);
  for (let i = 0; i < 20; i++) {
    now += 1_000;
    rates.ingested("t", 10);
  }
  assert.equal(rates.sample([info("t", 100)]).get("t"), 10);
  assert.equal(rates.sample([info("u", 1)]).has("t"), false);
});

Deno.test("GET /api/overview reports each table's rows, columns, rate and the engine's memory", async () => {
  await withApi(async (api) => {
    const rows = JSON.stringify([{ id: 1, name: "a" }, { id: 2, name: "b" }]);
    assert.equal(
      (await api.call("POST", "/api/tables/t/rows", body("application/json", rows))).status,
      201,
    );
    const first = await api.json("GET", "/api/overview");
    assert.equal(first.status, 200);
    const [t] = first.body.tables;
    assert.equal(t.name, "t");
    assert.equal(t.size, 2);
    assert.equal(t.columns, 2);
    assert.deepEqual(Object.keys(t.schema), ["id", "name"]);
    // Two rows arrived through the sink within the window.
    assert.ok(t.rowsPerSecond > 0, String(t.rowsPerSecond));
    assert.ok(first.body.engine.heapBytes > 0);
    assert.ok(first.body.engine.usedBytes > 0);
    assert.equal(first.body.rateWindowSeconds, 60);
  });
});
