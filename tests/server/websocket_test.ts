import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { websocketUrl, withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import type { Table } from "../../src/engine/perspective.ts";

async function rowsOf(table: Table): Promise<unknown[]> {
  const view = await table.view();
  try {
    return await view.to_json();
  } finally {
    await view.delete();
  }
}

Deno.test("the stock client opens the demo table over /websocket and sees it grow", async () => {
  await withService({ demo: true }, async (service) => {
    const client = await perspective.websocket(websocketUrl(service));
    try {
      assert((await client.get_hosted_table_names()).includes("demo"));
      const table = await client.open_table("demo");
      const first = await table.size();
      await waitFor("the demo table to grow", async () => (await table.size()) > first);
      const view = await table.view({ columns: ["symbol", "price"] });
      let updates = 0;
      await view.on_update(() => updates++);
      await waitFor("on_update notifications", () => updates >= 2);
      await view.delete();
    } finally {
      await client.terminate();
    }
  });
});

Deno.test("a replicated client's local table converges to the server's rows", async () => {
  await withService({ demo: false }, async (service) => {
    const rows = Array.from({ length: 200 }, (_, i) => ({ id: i, name: `row ${i}`, x: i * 1.5 }));
    const source = await service.host.createTable("items", rows, { index: "id" });
    const client = await perspective.websocket(websocketUrl(service));
    try {
      const remote = await client.open_table("items");
      const remoteView = await remote.view();
      // The module's own in-process engine plays the browser's worker.
      const replica = await perspective.table(remoteView, { index: "id" });
      // The replica's subscription is sent without an acknowledgement; a
      // round trip on the same socket proves the server has it.
      await remote.size();
      // Updates and inserts only: the stock replica follows row deltas,
      // which cannot express a remove.
      await source.update([{ id: 3, name: "changed", x: -1 }, { id: 500, name: "new", x: 2 }]);
      // Applied by the engine's next poll, as the HTTP API waits for.
      await service.host.flush();
      const expected = await rowsOf(source);
      await waitFor("the replica to converge", async () => {
        return JSON.stringify(await rowsOf(replica)) === JSON.stringify(expected);
      });
      assert.equal(await replica.size(), 201);
      await replica.delete();
      await remoteView.delete();
    } finally {
      await client.terminate();
    }
  });
});
