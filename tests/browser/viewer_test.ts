import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { withBrowser } from "../support/browser.ts";
import { withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

/** Newest rows first, so the top of the grid changes with every update. */
const NEWEST_FIRST = encodeURIComponent(JSON.stringify({
  plugin: "Datagrid",
  columns: ["time", "symbol", "price"],
  sort: [["time", "desc"]],
}));

async function gridText(page: Page): Promise<string> {
  return await page.locator("perspective-viewer-datagrid regular-table tbody").first().innerText();
}

async function showsLiveRows(baseUrl: string): Promise<void> {
  await withBrowser(async (browser) => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(`${baseUrl}view/demo#${NEWEST_FIRST}`);
    await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
    const first = await waitFor("rows in the grid", async () => {
      const text = await gridText(page);
      return /AAPL|MSFT|GOOG|AMZN|NVDA|META|TSLA|IBM|ORCL|INTC/.test(text) ? text : "";
    }, { timeout: 60_000 });
    await waitFor("the rows to change", async () => (await gridText(page)) !== first, {
      timeout: 30_000,
    });
    // The layout lives in the URL, so the link reproduces the view.
    assert.match(decodeURIComponent(new URL(page.url()).hash), /"time","desc"/);
    assert.deepEqual(errors, []);
  });
}

Deno.test("the viewer page shows the demo table's rows and they change", browserTest, async () => {
  await withService({ demo: true }, (service) => showsLiveRows(service.url));
});

Deno.test("the viewer page works under BASE_PATH", browserTest, async () => {
  await withService({ demo: true, basePath: "/user/alice/proxy/8080" }, async (service) => {
    assert.match(service.url, /\/user\/alice\/proxy\/8080\/$/);
    await showsLiveRows(service.url);
  });
});

Deno.test(
  "the home page lists the demo table live and links to its viewer",
  browserTest,
  async () => {
    await withService({ demo: true, basePath: "/base" }, async (service) => {
      await withBrowser(async (browser) => {
        const page = await browser.newPage();
        await page.goto(service.url);
        const row = page.locator("tr[data-table=demo]");
        await row.waitFor({ timeout: 30_000 });
        const first = await row.locator("td.rows").innerText();
        await waitFor(
          "the row count to grow",
          async () => (await row.locator("td.rows").innerText()) !== first,
        );
        assert.match(await row.locator("td.columns").innerText(), /price: float/);
        await row.locator("a").click();
        await page.waitForURL(/\/base\/view\/demo$/);
        await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
      });
    });
  },
);

Deno.test("the viewer page replicates the table in replicated mode", browserTest, async () => {
  await withService({ demo: true }, async (service) => {
    await withBrowser(async (browser) => {
      const page = await browser.newPage();
      await page.goto(`${service.url}view/demo?mode=replicated#${NEWEST_FIRST}`);
      await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
      const first = await waitFor("rows in the grid", async () => {
        const text = await gridText(page);
        return /AAPL|MSFT|GOOG/.test(text) ? text : "";
      }, { timeout: 60_000 });
      await waitFor("the rows to change", async () => (await gridText(page)) !== first, {
        timeout: 30_000,
      });
    });
  });
});

Deno.test("the viewer page says when its table is dropped", browserTest, async () => {
  await withService({ demo: true }, async (service) => {
    await withBrowser(async (browser) => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (err) => errors.push(err.message));
      await page.goto(`${service.url}view/demo`);
      await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
      const res = await fetch(new URL("api/tables/demo", service.url), { method: "DELETE" });
      assert.equal(res.status, 204);
      await page.waitForSelector("body[data-ready=dropped]", { timeout: 30_000 });
      assert.equal(await page.locator("#status").innerText(), "table dropped");
      assert.deepEqual(errors, []);
    });
  });
});
