/**
 * Measures what a user waits for on the demo dashboard: the time from opening
 * `/dashboard/demo` to its first rows and to its first drawn chart, against
 * the single viewer page's time to first rows measured in the same run.
 *
 * Run: `deno task bench:dashboard [rounds]`
 *
 * @module
 */

import type { Browser } from "playwright-core";
import { withBrowser } from "../tests/support/browser.ts";
import { startService } from "../src/service.ts";
import { silentLogger } from "../src/ops/log.ts";

const rounds = Number(Deno.args[0] ?? 5);
const SYMBOL = /AAPL|MSFT|GOOG|AMZN|NVDA|META|TSLA|IBM|ORCL|INTC/;

async function open(browser: Browser, url: string, chart: boolean) {
  // A fresh context each round: nothing cached, as for a first visit.
  const context = await browser.newContext({ viewport: { width: 1400, height: 800 } });
  const page = await context.newPage();
  const opened = performance.now();
  await page.goto(url);
  const rows = page.locator("perspective-viewer-datagrid regular-table tbody").first()
    .filter({ hasText: SYMBOL });
  const rowsAt = rows.waitFor({ timeout: 120_000 }).then(() => performance.now() - opened);
  const chartAt = chart
    ? page.waitForFunction(
      `(document.querySelector("perspective-viewer-d3fc-yline")?.shadowRoot?.querySelectorAll("path.line").length ?? 0) >= 10`,
      null,
      { timeout: 120_000, polling: 20 },
    ).then(() => performance.now() - opened)
    : Promise.resolve(NaN);
  const [r, c] = await Promise.all([rowsAt, chartAt]);
  await context.close();
  return { rows: r, chart: c };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const service = await startService({ port: 0, log: silentLogger, demo: true });
try {
  await withBrowser(async (browser) => {
    const viewer: number[] = [];
    const rows: number[] = [];
    const chart: number[] = [];
    // One warm-up of each, so the first round does not pay for the engine's start.
    await open(browser, `${service.url}view/demo`, false);
    await open(browser, `${service.url}dashboard/demo`, true);
    for (let i = 0; i < rounds; i++) {
      viewer.push((await open(browser, `${service.url}view/demo`, false)).rows);
      const d = await open(browser, `${service.url}dashboard/demo`, true);
      rows.push(d.rows);
      chart.push(d.chart);
    }
    const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ")[0];
    const ref = median(viewer);
    const lines: [string, number][] = [
      ["reference: /view/demo to first rows", ref],
      ["/dashboard/demo to first rows", median(rows)],
      ["/dashboard/demo to first chart", median(chart)],
    ];
    console.log(`medians of ${rounds} rounds, load average ${load}`);
    for (const [k, v] of lines) {
      console.log(`${k.padEnd(38)} ${v.toFixed(0).padStart(6)} ms   ${(v / ref).toFixed(2)}x`);
    }
  });
} finally {
  await service.close();
}
