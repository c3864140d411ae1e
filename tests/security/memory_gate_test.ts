import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { websocketUrl, withService } from "../support/service.ts";
import { DEFAULT_ENGINE_MEMORY } from "../../src/engine/memory.ts";

const MIB = 1024 ** 2;

Deno.test("WebSocket requests that allocate are refused with a 507 Perspective error when the engine has no room", async () => {
  await withService({ demo: false }, async (service) => {
    const put = await fetch(new URL("api/tables/t", service.url), {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ schema: { x: "float" } }),
    });
    assert.equal(put.status, 201);
    await put.body?.cancel();
    const client = await perspective.websocket(websocketUrl(service));
    try {
      const table = await client.open_table("t");
      const open = await table.view();
      // A budget the engine is already past, the reads' allowance included.
      service.host.memory.budget = -64 * MIB;
      await assert.rejects(table.view(), /507 Insufficient Storage: the engine has no room/);
      await assert.rejects(open.to_arrow(), /507 Insufficient Storage/);
      await assert.rejects(open.to_csv(), /507 Insufficient Storage/);
      // Requests that allocate nothing still answer, on the same session.
      assert.equal(await table.size(), 0);
      assert.equal(await open.num_rows(), 0);

      // With room again, the same session makes views and exports.
      service.host.memory.budget = DEFAULT_ENGINE_MEMORY;
      const res = await fetch(new URL("api/tables/t/rows", service.url), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([{ x: 1 }, { x: 2 }]),
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
      const view = await table.view();
      assert.equal(((await view.to_columns()) as { x: number[] }).x.length, 2);
      assert((await open.to_arrow()).byteLength > 0);
      await view.delete();
      await open.delete();
    } finally {
      await client.terminate();
    }
  });
});
