import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { websocketUrl, withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";

const post = (url: string, rows: unknown) =>
  fetch(url, {
    method: "POST",
    body: JSON.stringify(rows),
    headers: { "content-type": "application/json" },
  }).then(async (r) => {
    assert.equal(r.status < 300, true, await r.text());
  });

Deno.test("viewers see ingested rows live, and see them go when the table is dropped", async () => {
  await withService({ demo: false }, async (service) => {
    const rows = new URL("api/tables/live/rows?index=id", service.url).href;
    await post(rows, [{ id: 1, v: 1 }]);
    const client = await perspective.websocket(websocketUrl(service));
    try {
      const table = await client.open_table("live");
      const view = await table.view();
      let updates = 0;
      await view.on_update(() => updates++);
      // The client sends the subscription without waiting for an answer; a
      // round trip on the same socket proves the server has it before the
      // batch arrives on another connection.
      await view.num_rows();
      await post(rows, [{ id: 2, v: 2 }, { id: 1, v: 10 }]);
      await waitFor("an update notification", () => updates > 0, { timeout: 60_000 });
      assert.deepEqual(await view.to_columns(), { id: [1, 2], v: [10, 2] });
      const drop = await fetch(new URL("api/tables/live", service.url), { method: "DELETE" });
      assert.equal(drop.status, 204);
      // The engine deletes lazily: the name is gone at once, the viewer's open
      // view shows no rows until it is closed, and the session carries on.
      await waitFor("the viewer to see the rows go", async () => (await view.num_rows()) === 0);
      assert.deepEqual(await client.get_hosted_table_names(), []);
      // While the old view is open the engine would hand back the dropped
      // table for a new one by that name; the service refuses instead.
      const again = await fetch(rows, {
        method: "POST",
        body: '[{"id": 3, "v": 3}]',
        headers: { "content-type": "application/json" },
      });
      assert.equal(again.status, 409);
      await again.body?.cancel();
      await view.delete();
      await post(rows, [{ id: 3, v: 3 }]);
      const info = await (await fetch(new URL("api/tables/live", service.url))).json();
      assert.equal(info.size, 1);
    } finally {
      await client.terminate();
    }
  });
});
