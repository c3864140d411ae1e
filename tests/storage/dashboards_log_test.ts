import assert from "node:assert/strict";
import { startService } from "../../src/service.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { demoDashboard } from "../../src/server/dashboards_demo.ts";

async function send(url: string, method: string, body?: unknown): Promise<Response> {
  return await fetch(url, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

Deno.test("dashboards and default layouts saved over the API survive a restart with DATA_DIR", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dashboards-log-" });
  const layout = demoDashboard("sales");
  const tableLayout = { plugin: "Datagrid", sort: [["id", "desc"]] };
  try {
    const first = await startService({ port: 0, demo: false, dataDir, log: silentLogger });
    try {
      const put = await send(`${first.url}api/dashboards/sales`, "PUT", layout);
      assert.equal(put.status, 201);
      await put.body?.cancel();
      const gone = await send(`${first.url}api/dashboards/gone`, "PUT", layout);
      assert.equal(gone.status, 201);
      await gone.body?.cancel();
      const deleted = await send(`${first.url}api/dashboards/gone`, "DELETE");
      assert.equal(deleted.status, 204);
      await deleted.body?.cancel();
      const table = await send(`${first.url}api/tables/sales`, "PUT", {
        schema: { id: "integer" },
        index: "id",
      });
      await table.body?.cancel();
      const view = await send(`${first.url}api/tables/sales/layout`, "PUT", tableLayout);
      assert.ok(view.ok, `layout PUT answered ${view.status}`);
      await view.body?.cancel();
    } finally {
      await first.close();
    }
    const second = await startService({ port: 0, demo: false, dataDir, log: silentLogger });
    try {
      const list = await (await fetch(`${second.url}api/dashboards`)).json();
      assert.deepEqual(list.map((d: { name: string }) => d.name), ["sales"]);
      assert.deepEqual(await (await fetch(`${second.url}api/dashboards/sales`)).json(), layout);
      const got = await (await fetch(`${second.url}api/tables/sales/layout`)).json();
      assert.deepEqual(got, tableLayout);
    } finally {
      await second.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
