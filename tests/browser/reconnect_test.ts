import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { withBrowser } from "../support/browser.ts";
import { type Service, startService } from "../../src/service.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { MemoryDashboardStore } from "../../src/storage/dashboards.ts";
import { browserTest, cellsChange, firstRows, screenshot, status } from "./pages.ts";

/** A free loopback port, so the service can come back where the pages expect it. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function waitForStatus(page: Page, pattern: RegExp, timeout = 30_000): Promise<string> {
  await page.waitForFunction(
    `${pattern}.test(document.querySelector("header #status").textContent)`,
    null,
    { timeout },
  );
  return await status(page).innerText();
}

Deno.test(
  "viewer and dashboard say reconnecting while the service is down, and are live with moving cells after it returns",
  browserTest,
  async () => {
    const port = freePort();
    const dashboards = new MemoryDashboardStore();
    const start = () =>
      startService({ port, log: silentLogger, demo: true, handler: { dashboards } });
    let service: Service | undefined = await start();
    try {
      await withBrowser(async (browser) => {
        const viewer = await browser.newPage({ viewport: { width: 1200, height: 600 } });
        const dashboard = await browser.newPage({ viewport: { width: 1200, height: 600 } });
        await viewer.goto(`${service!.url}view/demo`);
        await dashboard.goto(`${service!.url}dashboard/demo`);
        for (const page of [viewer, dashboard]) {
          await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
          await firstRows(page);
          assert.equal(await status(page).innerText(), "live");
        }
        await service!.close();
        service = undefined;
        for (const page of [viewer, dashboard]) {
          const text = await waitForStatus(page, /^reconnecting… next attempt at /);
          assert.doesNotMatch(text, /live/);
        }
        await screenshot(viewer, "view-reconnecting");
        // Still down a moment later: it keeps saying so rather than "live".
        await new Promise((r) => setTimeout(r, 1_500));
        for (const page of [viewer, dashboard]) {
          assert.match(await status(page).innerText(), /^reconnecting/);
        }
        service = await start();
        for (const page of [viewer, dashboard]) {
          await waitForStatus(page, /^live$/, 60_000);
          await cellsChange(page, await firstRows(page), 0, 10_000);
        }
        // The dashboard came back with its layout: both panes, the chart included.
        const panes = await dashboard.evaluate(
          `document.querySelector("perspective-workspace").save().then((l) => Object.keys(l.viewers).sort())`,
        );
        assert.deepEqual(panes, ["prices", "trades"]);
        await dashboard.locator("perspective-viewer-d3fc-yline").waitFor({ timeout: 30_000 });
        await screenshot(dashboard, "dashboard-reconnected");
      });
    } finally {
      await service?.close();
    }
  },
);
