/**
 * Shared steps of the page tests: reading the grid, waiting for live rows,
 * and keeping screenshots of what a user sees.
 *
 * @module
 */

import { join } from "node:path";
import type { Page } from "playwright-core";
import { waitFor } from "../support/wait.ts";

/** Options shared by the browser tests: Chromium keeps resources past a test's end. */
export const browserTest = { sanitizeOps: false, sanitizeResources: false };

/** The demo's symbols; one of them in the grid means rows arrived. */
export const SYMBOLS = /AAPL|MSFT|GOOG|AMZN|NVDA|META|TSLA|IBM|ORCL|INTC/;

/** The text of the `n`th grid's body on the page. */
export async function gridText(page: Page, n = 0): Promise<string> {
  return await page.locator("perspective-viewer-datagrid regular-table tbody").nth(n).innerText();
}

/** Waits for demo rows in the `n`th grid and returns its text. */
export async function firstRows(page: Page, n = 0, timeout = 60_000): Promise<string> {
  return await waitFor("rows in the grid", async () => {
    const text = await gridText(page, n);
    return SYMBOLS.test(text) ? text : "";
  }, { timeout });
}

/** Waits until the `n`th grid's visible cells differ from `before`. */
export async function cellsChange(page: Page, before: string, n = 0, timeout = 5_000) {
  await waitFor("the visible cells to change", async () => (await gridText(page, n)) !== before, {
    timeout,
  });
}

/** The header's connection indicator (the viewer has an element of that id in its shadow root). */
export function status(page: Page) {
  return page.locator("header #status");
}

/** Collects uncaught page errors, to assert there were none. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  return errors;
}

/** Where screenshots go: `SCREENSHOT_DIR`, or a directory under the system's temp dir. */
export const SCREENSHOT_DIR: string = Deno.env.get("SCREENSHOT_DIR") ??
  join(Deno.env.get("TMPDIR") ?? "/tmp", "perspective-screenshots");

/** Saves a screenshot of what the user sees now, named `name.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });
}

/** Runs `save()` on the first element matching `selector` (a viewer or a workspace). */
// deno-lint-ignore no-explicit-any
export async function saved(page: Page, selector: string): Promise<any> {
  return await page.evaluate(`document.querySelector(${JSON.stringify(selector)}).save()`);
}
