import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/file.ts";
import { ConfigError } from "../../src/config/env.ts";
import { withService } from "../support/service.ts";
import { DEMO_LAYOUT, demoDashboard } from "../../src/server/dashboards_demo.ts";
import { checkDashboardLayout } from "../../src/storage/dashboards_validate.ts";
import { MemoryDashboardStore } from "../../src/storage/dashboards.ts";

const TABLE = { name: "prices", schema: { time: "datetime", price: "float" } };
const LAYOUT = { plugin: "Datagrid", sort: [["time", "desc"]] };

Deno.test("the config file's tables[].layout is a table's default layout, served by the API", async () => {
  const config = parseConfig({ tables: [{ ...TABLE, layout: LAYOUT }] }, "/");
  assert.deepEqual(config.tables[0].layout, LAYOUT);
  await withService({ demo: false, config }, async (service) => {
    const res = await fetch(new URL("api/tables/prices/layout", service.url));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), LAYOUT);
  });
});

Deno.test("a bad tables[].layout stops start-up naming the field", () => {
  for (
    const [layout, field] of [
      [[], "tables[0].layout"],
      [{ sort: "time" }, "tables[0].layout.sort"],
      [{ colour: "red" }, "tables[0].layout.colour"],
    ] as const
  ) {
    assert.throws(
      () => parseConfig({ tables: [{ ...TABLE, layout }] }, "/"),
      (err: unknown) => err instanceof ConfigError && err.message.includes(field),
      JSON.stringify(layout),
    );
  }
});

Deno.test("the demo seeds a newest-first default layout and a valid demo dashboard", async () => {
  assert.deepEqual(checkDashboardLayout(demoDashboard()), ["demo"]);
  const dashboards = new MemoryDashboardStore();
  await withService({ demo: true, handler: { dashboards } }, async (service) => {
    const layout = await (await fetch(new URL("api/tables/demo/layout", service.url))).json();
    assert.deepEqual(layout, DEMO_LAYOUT);
    assert.deepEqual(layout.sort, [["time", "desc"]]);
    const list = await (await fetch(new URL("api/dashboards", service.url))).json();
    assert.deepEqual(list, [{ name: "demo", tables: ["demo"] }]);
  });
  // A demo dashboard the user saved over is kept on the next start.
  const mine = demoDashboard();
  (mine.viewers as Record<string, Record<string, unknown>>).trades.title = "mine";
  await dashboards.put("demo", mine);
  await withService({ demo: true, handler: { dashboards } }, async (service) => {
    const got = await (await fetch(new URL("api/dashboards/demo", service.url))).json();
    assert.equal(got.viewers.trades.title, "mine");
  });
});
