import assert from "node:assert/strict";
import { withBrowser } from "../support/browser.ts";
import { waitFor } from "../support/wait.ts";
import { READER, withSecuredService, WRITER } from "../security/helpers.ts";
import type { Service } from "../../src/service.ts";
import type { IngestEvent } from "../../src/ingest/sink.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

const EDITABLE = encodeURIComponent(JSON.stringify({
  plugin: "Datagrid",
  columns: ["id", "name", "x"],
  sort: [["id", "asc"]],
  plugin_config: { edit_mode: "EDIT" },
}));

async function apiRows(service: Service, table: string): Promise<Record<string, unknown>[]> {
  const res = await fetch(new URL(`api/tables/${table}/rows?format=json`, service.url), {
    headers: { authorization: `Bearer ${READER}` },
  });
  return await res.json();
}

Deno.test(
  "a cell edited in the viewer's datagrid reaches the shared table through the sink",
  browserTest,
  async () => {
    await withSecuredService({}, async (service) => {
      await service.host.createTable("sales_grid", [
        { id: 1, name: "a", x: 1.5 },
        { id: 2, name: "b", x: 2.5 },
      ], { index: "id" });
      const events: IngestEvent[] = [];
      service.sink.listen((e) => e.source === "websocket" && events.push(e));
      await withBrowser(async (browser) => {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on("pageerror", (err) => errors.push(err.message));
        await page.addInitScript(
          (token) => sessionStorage.setItem("perspective-token", token),
          WRITER,
        );
        await page.goto(`${service.url}view/sales_grid#${EDITABLE}`);
        await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
        const rows = page.locator("perspective-viewer-datagrid regular-table tbody tr");
        const cell = rows.nth(1).locator("td").nth(1);
        await waitFor("the grid's rows", async () => (await cell.innerText()) === "b", {
          timeout: 30_000,
        });
        await cell.click();
        await page.keyboard.press("Control+A");
        await page.keyboard.type("edited");
        await page.keyboard.press("Enter");
        await waitFor(
          "the edit in the rows API",
          async () => (await apiRows(service, "sales_grid"))[1]?.name === "edited",
        );
        assert.deepEqual(await apiRows(service, "sales_grid"), [
          { id: 1, name: "a", x: 1.5 },
          { id: 2, name: "edited", x: 2.5 },
        ]);
        assert.deepEqual(events.map((e) => [e.op, e.status, e.rows]), [["update", 200, 1]]);
        assert.deepEqual(errors, []);
      });
    });
  },
);
