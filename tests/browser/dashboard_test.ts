import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { withBrowser } from "../support/browser.ts";
import { withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import { configFrom, READER, tokensEnv, WRITER } from "../security/helpers.ts";
import { startService } from "../../src/service.ts";
import { silentLogger } from "../../src/ops/log.ts";
import {
  browserTest,
  cellsChange,
  firstRows,
  pageErrors,
  saved,
  screenshot,
  status,
} from "./pages.ts";

// deno-lint-ignore no-explicit-any
type Layout = any;

/** What a user sees of a dashboard layout: its panes and each viewer's table and view. */
function summary(layout: Layout) {
  const panes = (node: Layout): unknown =>
    node?.type === "tab-area"
      ? node.widgets
      : node?.type === "split-area"
      ? { [node.orientation]: node.children.map(panes) }
      : null;
  const viewers = Object.fromEntries(
    Object.entries(layout.viewers).map(([slot, v]: [string, Layout]) => [slot, {
      table: v.table,
      title: v.title ?? null,
      plugin: v.plugin,
      columns: v.columns,
      sort: v.sort ?? [],
      group_by: v.group_by ?? [],
      split_by: v.split_by ?? [],
    }]),
  );
  return { panes: panes(layout.detail?.main), viewers };
}

async function openDashboard(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
}

/** Waits for the demo dashboard's chart: a drawn line per symbol. */
async function chartDrawn(page: Page): Promise<void> {
  await waitFor("a chart with a line per symbol", async () => {
    const chart = page.locator("perspective-viewer-d3fc-yline");
    return await chart.count() > 0 && await chart.first().locator("path.line").count() >= 10;
  }, { timeout: 60_000 });
}

/**
 * Page errors other than the engine session refusing a call on a view the
 * viewer had just deleted while restoring a layout (the viewer then redraws
 * from its new view).
 */
function unexpected(errors: string[]): string[] {
  return errors.filter((e) => !/refused: not a view of this session/.test(e));
}

Deno.test(
  "/dashboard/demo shows the newest-first grid beside a chart of price per symbol",
  browserTest,
  async () => {
    await withService({ demo: true }, async (service) => {
      await withBrowser(async (browser) => {
        const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
        const errors = pageErrors(page);
        await openDashboard(page, `${service.url}dashboard/demo`);
        const first = await firstRows(page);
        await chartDrawn(page);
        await cellsChange(page, first);
        const layout = await saved(page, "perspective-workspace");
        assert.deepEqual(summary(layout).panes, { horizontal: [["trades"], ["prices"]] });
        assert.deepEqual(layout.viewers.trades.sort, [["time", "desc"]]);
        assert.equal(layout.viewers.prices.plugin, "Y Line");
        assert.deepEqual(layout.viewers.prices.split_by, ["symbol"]);
        assert.equal(await status(page).innerText(), "live");
        await screenshot(page, "dashboard-demo");
        assert.equal(layout.viewers.trades.theme, "Pro Light");
        // The theme follows the operating system's preference, also when it changes.
        await page.emulateMedia({ colorScheme: "dark" });
        await waitFor("the dark theme", async () => {
          const themes = Object.values((await saved(page, "perspective-workspace")).viewers)
            .map((v) => (v as Layout).theme);
          return themes.every((t) => t === "Pro Dark");
        });
        await chartDrawn(page);
        await screenshot(page, "dashboard-demo-dark");
        assert.deepEqual(errors, []);
      });
    });
  },
);

Deno.test(
  "a dashboard saved over the API renders as saved, also after a reload",
  browserTest,
  async () => {
    await withService({ demo: false }, async (service) => {
      const rows = [
        { region: "north", amount: 10, units: 1 },
        { region: "south", amount: 30, units: 2 },
        { region: "east", amount: 20, units: 3 },
      ];
      const post = await fetch(new URL("api/tables/sales_eu/rows", service.url), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(rows),
      });
      assert.equal(post.status, 201);
      await post.body?.cancel();
      const layout = {
        sizes: [1],
        detail: {
          main: {
            type: "split-area",
            orientation: "vertical",
            children: [
              { type: "tab-area", widgets: ["top"], currentIndex: 0 },
              { type: "tab-area", widgets: ["bars"], currentIndex: 0 },
            ],
            sizes: [0.4, 0.6],
          },
        },
        viewers: {
          top: {
            table: "sales_eu",
            title: "Biggest first",
            plugin: "Datagrid",
            columns: ["region", "amount"],
            sort: [["amount", "desc"]],
          },
          bars: {
            table: "sales_eu",
            title: "By region",
            plugin: "Y Bar",
            group_by: ["region"],
            columns: ["amount"],
          },
        },
      };
      const put = await fetch(new URL("api/dashboards/sales", service.url), {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(layout),
      });
      assert.equal(put.status, 201);
      await put.body?.cancel();
      await withBrowser(async (browser) => {
        const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
        const errors = pageErrors(page);
        for (const reload of [false, true]) {
          if (reload) await page.reload();
          await openDashboard(page, `${service.url}dashboard/sales`);
          assert.deepEqual(summary(await saved(page, "perspective-workspace")), summary(layout));
          const grid = page.locator("perspective-viewer-datagrid regular-table tbody");
          await waitFor("the grid's rows", async () => /south/.test(await grid.innerText()));
          assert.match(await grid.innerText(), /south\s+30[\s\S]*east\s+20[\s\S]*north\s+10/);
          await page.locator("perspective-viewer-d3fc-ybar").waitFor({ timeout: 30_000 });
        }
        await screenshot(page, "dashboard-api");
        assert.deepEqual(errors, []);
      });
    });
  },
);

Deno.test(
  "a dashboard changed and saved from the page (Save as, Save) renders the same after a reload",
  browserTest,
  async () => {
    await withService({ demo: true }, async (service) => {
      await withBrowser(async (browser) => {
        const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
        const errors = pageErrors(page);
        page.on("dialog", (dialog) => dialog.accept("mine"));
        await openDashboard(page, `${service.url}dashboard/demo`);
        // A user adds a third viewer from the header's menu.
        await page.locator("#add").selectOption("demo");
        // Its columns come once its table has loaded; a save before that
        // would store the viewer without them.
        await waitFor("a third viewer, loaded", async () => {
          const viewers = Object.values((await saved(page, "perspective-workspace")).viewers);
          return viewers.length === 3 &&
            viewers.every((v) => ((v as Layout).columns ?? []).length > 0);
        });
        await page.locator("#save-as").click();
        await page.waitForSelector("body[data-saved=mine]");
        assert.match(page.url(), /\/dashboard\/mine$/);
        const onPage = summary(await saved(page, "perspective-workspace"));
        const stored = await (await fetch(new URL("api/dashboards/mine", service.url))).json();
        assert.deepEqual(summary(stored), onPage);
        // The original is untouched.
        const demo = await (await fetch(new URL("api/dashboards/demo", service.url))).json();
        assert.equal(Object.keys(demo.viewers).length, 2);
        await page.reload();
        await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
        // Each viewer reports its columns once its table has loaded, which
        // may come a moment after the page says it is ready.
        const reloaded = await waitFor("the reloaded layout", async () => {
          const now = summary(await saved(page, "perspective-workspace"));
          return JSON.stringify(now) === JSON.stringify(onPage) ? now : undefined;
        }, { timeout: 20_000 }).catch(async () =>
          summary(await saved(page, "perspective-workspace"))
        );
        assert.deepEqual(reloaded, onPage);
        await firstRows(page);
        // Save writes over the same name.
        await page.evaluate(`(async () => {
        const w = document.querySelector("perspective-workspace");
        const layout = await w.save();
        const slot = Object.keys(layout.viewers).find((k) => layout.viewers[k].plugin === "Datagrid");
        layout.viewers[slot].title = "Renamed";
        await w.restore(layout);
      })()`);
        await page.locator("#save").click();
        await waitFor("the saved title", async () => {
          const again = await (await fetch(new URL("api/dashboards/mine", service.url))).json();
          return Object.values(again.viewers).some((v) => (v as Layout).title === "Renamed");
        });
        await screenshot(page, "dashboard-saved");
        assert.deepEqual(unexpected(errors), []);
      });
    });
  },
);

Deno.test(
  "viewer and dashboard work under BASE_PATH with tokens; saving needs the write scope",
  browserTest,
  async () => {
    const basePath = "/user/alice/proxy/8080";
    await withSecuredServiceAt(basePath, async (url) => {
      await withBrowser(async (browser) => {
        // A writer: asked for a token once, then sees the demo and may save.
        const writer = await browser.newPage({ viewport: { width: 1200, height: 700 } });
        const errors = pageErrors(writer);
        writer.on("dialog", (dialog) => dialog.accept(WRITER));
        await openDashboard(writer, `${url}dashboard/demo`);
        await firstRows(writer);
        await chartDrawn(writer);
        await writer.locator("#save").click();
        await writer.waitForSelector("body[data-saved=demo]");
        await writer.goto(`${url}view/demo`);
        await writer.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
        await cellsChange(writer, await firstRows(writer));
        assert.deepEqual(errors, []);
        // A reader sees the dashboard, but Save is refused and says why.
        const context = await browser.newContext({ viewport: { width: 1200, height: 700 } });
        const reader = await context.newPage();
        reader.on("dialog", (dialog) => dialog.accept(READER));
        await openDashboard(reader, `${url}dashboard/demo`);
        await firstRows(reader);
        await reader.locator("#save").click();
        await waitFor(
          "the refusal",
          async () => /not saved/.test(await reader.locator("#saved").innerText()),
        );
        assert.match(await reader.locator("#saved").innerText(), /write scope/);
        await screenshot(reader, "dashboard-reader");
      });
    });
  },
);

/** Runs `fn` with a demo service under `basePath` that needs the test tokens. */
async function withSecuredServiceAt(basePath: string, fn: (url: string) => Promise<void>) {
  const service = await startService({
    port: 0,
    basePath,
    demo: true,
    log: silentLogger,
    security: await configFrom({ TOKENS: await tokensEnv() }),
  });
  try {
    assert.ok(service.url.endsWith(`${basePath}/`));
    await fn(service.url);
  } finally {
    await service.close();
  }
}
