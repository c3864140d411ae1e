import assert from "node:assert/strict";
import { withBrowser } from "../support/browser.ts";
import { waitFor } from "../support/wait.ts";
import { READER, STRANGER, withSecuredService } from "./helpers.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "the viewer page asks for a token on 401, keeps it for the tab and streams with it",
  browserTest,
  async () => {
    await withSecuredService({}, async (service) => {
      await service.host.createTable("prices", [{ sym: "AAPL", px: 1 }, { sym: "MSFT", px: 2 }]);
      await withBrowser(async (browser) => {
        const page = await browser.newPage();
        const prompts: string[] = [];
        const answers = [STRANGER, READER];
        page.on("dialog", (d) => {
          prompts.push(d.message());
          void d.accept(answers.shift());
        });
        await page.goto(`${service.url}view/prices`);
        await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
        assert.deepEqual(prompts, [
          "This server needs an access token:",
          "That token was not accepted. Access token:",
        ]);
        await waitFor("rows in the grid", async () => {
          const text = await page.locator("perspective-viewer-datagrid regular-table tbody").first()
            .innerText();
          return text.includes("MSFT");
        }, { timeout: 60_000 });
        assert.equal(
          await page.evaluate(() => sessionStorage.getItem("perspective-token")),
          READER,
        );
        // The home page in the same tab lists the tables without asking again.
        await page.goto(service.url);
        await page.locator("tr[data-table=prices]").waitFor({ timeout: 30_000 });
        assert.equal(prompts.length, 2);
      });
    });
  },
);

Deno.test("the viewer page reports a refused token without connecting", browserTest, async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("prices", [{ sym: "AAPL", px: 1 }]);
    await withBrowser(async (browser) => {
      const page = await browser.newPage();
      page.on("dialog", (d) => void d.dismiss());
      await page.goto(`${service.url}view/prices`);
      await page.waitForSelector("body[data-ready=error]", { timeout: 60_000 });
      assert.match(await page.locator("#status").first().innerText(), /access token is required/);
      assert.equal(service.host.sessionCount, 0);
    });
  });
});
