import assert from "node:assert/strict";
import { withBrowser } from "../support/browser.ts";
import { withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import {
  browserTest,
  cellsChange,
  firstRows,
  gridText,
  pageErrors,
  saved,
  screenshot,
  status,
} from "./pages.ts";

async function showsMovingRows(baseUrl: string, shot?: string): Promise<void> {
  await withBrowser(async (browser) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const errors = pageErrors(page);
    // No layout in the URL: the table's default layout applies.
    await page.goto(`${baseUrl}view/demo`);
    await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
    const first = await firstRows(page);
    // Newest first: the top rows change with every update, within a few seconds.
    await cellsChange(page, first);
    assert.equal(await status(page).innerText(), "live");
    assert.deepEqual((await saved(page, "perspective-viewer")).sort, [["time", "desc"]]);
    if (shot) await screenshot(page, shot);
    assert.deepEqual(errors, []);
  });
}

Deno.test(
  "the demo viewer shows newest rows first by default, and its visible cells change within seconds",
  browserTest,
  async () => {
    await withService({ demo: true }, (service) => showsMovingRows(service.url, "view-demo"));
  },
);

Deno.test(
  "the home page lists tables with rows, columns, rows/s and engine memory, and links to viewers and dashboards",
  browserTest,
  async () => {
    await withService({ demo: true, basePath: "/base" }, async (service) => {
      await withBrowser(async (browser) => {
        const page = await browser.newPage({ viewport: { width: 1280, height: 500 } });
        await page.goto(service.url);
        const row = page.locator("tr[data-table=demo]");
        await row.waitFor({ timeout: 30_000 });
        const first = await row.locator("td.rows").innerText();
        await waitFor(
          "the row count to grow",
          async () => (await row.locator("td.rows").innerText()) !== first,
        );
        // The demo streams 100 rows a second.
        const rate = await waitFor("a rate", async () => {
          const n = Number((await row.locator("td.rate").innerText()).replace(/,/g, ""));
          return Number.isFinite(n) && n > 0 ? n : 0;
        });
        assert.ok(rate > 20 && rate < 500, `rows/s ${rate}`);
        assert.match(await row.locator("td.columns").innerText(), /^7 .*price: float/);
        assert.match(await page.locator("#memory").innerText(), /Engine memory [\d.]+ MB used/);
        const dashboard = page.locator("li[data-dashboard=demo] a");
        await dashboard.waitFor();
        assert.match(await dashboard.getAttribute("href") ?? "", /\/base\/dashboard\/demo$/);
        await screenshot(page, "home");
        await row.locator("a").click();
        await page.waitForURL(/\/base\/view\/demo$/);
        await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
      });
    });
  },
);

Deno.test(
  "the home page without tables shows a curl line for this server that creates one",
  browserTest,
  async () => {
    await withService({ demo: false, basePath: "/p" }, async (service) => {
      await withBrowser(async (browser) => {
        const page = await browser.newPage({ viewport: { width: 1000, height: 400 } });
        await page.goto(service.url);
        const curl = page.locator("#curl");
        await curl.waitFor({ timeout: 30_000 });
        const line = await curl.innerText();
        assert.ok(line.includes(`${service.url}api/tables/example/rows`), line);
        await screenshot(page, "home-empty");
        // The line works as shown.
        const out = await new Deno.Command("sh", {
          args: ["-c", `${line} -sS -o /dev/null -w '%{http_code}'`],
        })
          .output();
        assert.equal(new TextDecoder().decode(out.stdout), "201");
        await page.locator("tr[data-table=example]").waitFor({ timeout: 10_000 });
        assert.equal(await page.locator("#empty").isHidden(), true);
      });
    });
  },
);

Deno.test(
  "the viewer page in replicated mode keeps the server's column order",
  browserTest,
  async () => {
    await withService({ demo: true }, async (service) => {
      const schema = (await (await fetch(new URL("api/tables/demo", service.url))).json()).schema;
      await withBrowser(async (browser) => {
        const page = await browser.newPage({ viewport: { width: 1280, height: 600 } });
        await page.goto(`${service.url}view/demo?mode=replicated`);
        await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
        const first = await firstRows(page);
        await cellsChange(page, first);
        const header = await page.locator("perspective-viewer-datagrid regular-table thead tr")
          .last().innerText();
        const shown = header.split(/\s+/).filter((c) => c in schema);
        assert.deepEqual(shown, Object.keys(schema));
        const config = await saved(page, "perspective-viewer");
        assert.deepEqual(config.columns, Object.keys(schema));
        assert.equal(await status(page).innerText(), "live");
      });
    });
  },
);

Deno.test("the viewer page says when its table is dropped", browserTest, async () => {
  await withService({ demo: true }, async (service) => {
    await withBrowser(async (browser) => {
      const page = await browser.newPage();
      const errors = pageErrors(page);
      await page.goto(`${service.url}view/demo`);
      await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
      const res = await fetch(new URL("api/tables/demo", service.url), { method: "DELETE" });
      assert.equal(res.status, 204);
      await page.waitForSelector("body[data-ready=dropped]", { timeout: 30_000 });
      assert.equal(await status(page).innerText(), "table dropped");
      assert.notEqual(await gridText(page).catch(() => ""), undefined);
      assert.deepEqual(errors, []);
    });
  });
});
