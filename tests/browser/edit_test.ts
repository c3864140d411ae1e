import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { withBrowser } from "../support/browser.ts";
import { withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import { securityConfig } from "../../src/security/mod.ts";
import { READER, withSecuredService, WRITER } from "../security/helpers.ts";
import { browserTest, pageErrors, saved, screenshot } from "./pages.ts";

const ROWS = [{ id: 1, item: "apple", qty: 3 }, { id: 2, item: "pear", qty: 5 }];

async function createOrders(url: string, table: string, token?: string): Promise<void> {
  const res = await fetch(new URL(`api/tables/${table}/rows?index=id`, url), {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(ROWS),
  });
  assert.equal(res.status, 201);
  await res.body?.cancel();
}

function grid(page: Page) {
  return page.locator("perspective-viewer-datagrid regular-table tbody");
}

async function open(page: Page, url: string, token?: string): Promise<void> {
  if (token) await page.addInitScript(`sessionStorage.setItem("perspective-token", "${token}")`);
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
  await waitFor("rows in the grid", async () => /pear/.test(await grid(page).innerText()));
}

/** Types `text` into the cell showing `current`, as a user would, and commits it. */
async function edit(page: Page, current: string, text: string): Promise<void> {
  await grid(page).locator("td").filter({ hasText: new RegExp(`^${current}$`) }).click();
  await page.keyboard.press("Control+A");
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
}

async function editMode(page: Page): Promise<string> {
  return (await saved(page, "perspective-viewer")).plugin_config.edit_mode;
}

async function serverRows(url: string, table: string, token?: string): Promise<unknown> {
  const res = await fetch(new URL(`api/tables/${table}/rows?format=json`, url), {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return await res.json();
}

Deno.test(
  "with ALLOW_EDIT the grid is editable, and an edit in one browser appears in another",
  browserTest,
  async () => {
    await withService({ demo: false, security: securityConfig({ allowEdit: true }) }, async (s) => {
      await createOrders(s.url, "orders");
      await withBrowser(async (browser) => {
        // Two contexts share nothing (storage, cookies, sockets), like two browsers.
        const viewport = { width: 900, height: 400 };
        const a = await (await browser.newContext({ viewport })).newPage();
        const b = await (await browser.newContext({ viewport })).newPage();
        const errors = [pageErrors(a), pageErrors(b)];
        await open(a, `${s.url}view/orders`);
        await open(b, `${s.url}view/orders`);
        assert.equal(await editMode(a), "EDIT");
        await edit(a, "pear", "quince");
        await waitFor(
          "the edit in the other browser",
          async () => /2\s+quince\s+5/.test(await grid(b).innerText()),
        );
        assert.deepEqual(await serverRows(s.url, "orders"), [
          ROWS[0],
          { ...ROWS[1], item: "quince" },
        ]);
        await screenshot(b, "edit-seen-elsewhere");
        assert.deepEqual(errors, [[], []]);
      });
    });
  },
);

Deno.test(
  "a read-only session shows a read-only grid without the edit toggle, and typing changes nothing",
  browserTest,
  async () => {
    await withService({ demo: false }, async (s) => {
      await createOrders(s.url, "orders");
      await withBrowser(async (browser) => {
        const page = await browser.newPage({ viewport: { width: 900, height: 400 } });
        await open(page, `${s.url}view/orders`);
        assert.equal(await editMode(page), "READ_ONLY");
        const toggle = page.locator("perspective-viewer-datagrid-toolbar #edit_mode");
        assert.equal(await toggle.count(), 1);
        assert.equal(await toggle.isVisible(), false);
        await edit(page, "pear", "quince");
        await new Promise((r) => setTimeout(r, 500));
        assert.deepEqual(await serverRows(s.url, "orders"), ROWS);
        assert.doesNotMatch(await grid(page).innerText(), /quince/);
      });
    });
  },
);

Deno.test(
  "with tokens, a write token gets an editable grid and a read token a read-only one",
  browserTest,
  async () => {
    await withSecuredService({}, async (s) => {
      // WRITER may write sales_* tables; READER may only read.
      await createOrders(s.url, "sales_orders", WRITER);
      await withBrowser(async (browser) => {
        const writer = await (await browser.newContext()).newPage();
        const reader = await (await browser.newContext()).newPage();
        await open(writer, `${s.url}view/sales_orders`, WRITER);
        await open(reader, `${s.url}view/sales_orders`, READER);
        assert.equal(await editMode(writer), "EDIT");
        assert.equal(await editMode(reader), "READ_ONLY");
        await edit(writer, "apple", "plum");
        await waitFor(
          "the writer's edit at the reader",
          async () => /1\s+plum\s+3/.test(await grid(reader).innerText()),
        );
      });
    });
  },
);
