import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { websocketUrl, withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import type { Service } from "../../src/service.ts";

const post = (url: string, rows: unknown) =>
  fetch(url, {
    method: "POST",
    body: JSON.stringify(rows),
    headers: { "content-type": "application/json" },
  }).then(async (r) => {
    assert.equal(r.status < 300, true, await r.text());
  });

const api = (service: Service, path: string) => new URL(`api/tables/${path}`, service.url).href;

Deno.test("viewers see ingested rows live", async () => {
  await withService({ demo: false }, async (service) => {
    const rows = api(service, "live/rows?index=id");
    await post(rows, [{ id: 1, v: 1 }]);
    const client = await perspective.websocket(websocketUrl(service));
    try {
      const view = await (await client.open_table("live")).view();
      let updates = 0;
      await view.on_update(() => updates++);
      // The client sends the subscription without waiting for an answer; a
      // round trip on the same socket proves the server has it before the
      // batch arrives on another connection.
      await view.num_rows();
      await post(rows, [{ id: 2, v: 2 }, { id: 1, v: 10 }]);
      await waitFor("an update notification", () => updates > 0, { timeout: 60_000 });
      assert.deepEqual(await view.to_columns(), { id: [1, 2], v: [10, 2] });
    } finally {
      await client.terminate();
    }
  });
});

for (const shareViews of [true, false]) {
  Deno.test(`DELETE /api/tables/{table} deletes its viewers' views and frees the name at once (shareViews: ${shareViews})`, async () => {
    await withService({ demo: false, shareViews }, async (service) => {
      await post(api(service, "a/rows?index=id"), [{ id: 1, v: 1 }, { id: 2, v: 2 }]);
      await post(api(service, "b/rows?index=id"), [{ id: 1, v: 1 }]);
      const [client, other] = await Promise.all([
        perspective.websocket(websocketUrl(service)),
        perspective.websocket(websocketUrl(service)),
      ]);
      try {
        const tableA = await client.open_table("a");
        let tableDeleted = 0;
        await tableA.on_delete(() => tableDeleted++);
        const viewA = await tableA.view();
        const sortedA = await tableA.view({ sort: [["v", "desc"]] });
        // Another socket's identical view: with sharing on, one engine view serves both.
        const otherA = await (await other.open_table("a")).view();
        const deleted = { viewA: 0, sortedA: 0, otherA: 0 };
        await viewA.on_delete(() => deleted.viewA++);
        await sortedA.on_delete(() => deleted.sortedA++);
        await otherA.on_delete(() => deleted.otherA++);
        await viewA.on_update(() => {});
        const viewB = await (await client.open_table("b")).view();
        let updatesB = 0;
        await viewB.on_update(() => updatesB++);
        // Round trips prove the subscriptions reached the server.
        await Promise.all([viewA.num_rows(), otherA.num_rows(), viewB.num_rows()]);
        if (shareViews) assert.equal(service.sharedViews!.stats.views, 3);

        const drop = await fetch(api(service, "a"), { method: "DELETE" });
        assert.equal(drop.status, 204);
        await waitFor(
          "every view of the dropped table to get on_delete",
          () => deleted.viewA && deleted.sortedA && deleted.otherA && tableDeleted,
        );
        assert.deepEqual(deleted, { viewA: 1, sortedA: 1, otherA: 1 });
        assert.equal(tableDeleted, 1);
        for (const view of [viewA, sortedA, otherA]) {
          await assert.rejects(view.num_rows(), /View not found/);
        }
        assert.deepEqual(await client.get_hosted_table_names(), ["b"]);
        if (shareViews) assert.equal(service.sharedViews!.stats.views, 1);

        // The same socket's view on another table carries on.
        await post(api(service, "b/rows"), [{ id: 2, v: 2 }]);
        await waitFor("an update on table b", () => updatesB > 0);
        assert.deepEqual(await viewB.to_columns(), { id: [1, 2], v: [1, 2] });

        // The name is free at once: a new table, with another schema, starts empty.
        const put = await fetch(api(service, "a"), {
          method: "PUT",
          body: JSON.stringify({ schema: { name: "string" } }),
          headers: { "content-type": "application/json" },
        });
        assert.equal(put.status, 201, await put.text());
        const info = await (await fetch(api(service, "a"))).json();
        assert.deepEqual([info.size, info.schema], [0, { name: "string" }]);
        const fresh = await (await client.open_table("a")).view();
        await post(api(service, "a/rows"), [{ name: "x" }]);
        assert.deepEqual(await fresh.to_columns(), { name: ["x"] });

        // The old view stays gone; deleting it reports so, as the engine does.
        await assert.rejects(viewA.delete(), /View not found/);
        await assert.rejects(otherA.to_columns(), /View not found/);
      } finally {
        await Promise.all([client.terminate(), other.terminate()]);
      }
      await waitFor("closed sockets to leave no session", () => service.host.sessionCount === 0);
      if (shareViews) {
        await waitFor("no shared view left", () => {
          const s = service.sharedViews!.stats;
          return s.views === 0 && s.aliases === 0;
        });
      }
    });
  });
}

Deno.test("POST rows recreates a dropped table while its old viewers stay connected", async () => {
  await withService({ demo: false }, async (service) => {
    const rows = api(service, "live/rows?index=id");
    await post(rows, [{ id: 1, v: 1 }]);
    const client = await perspective.websocket(websocketUrl(service));
    try {
      const view = await (await client.open_table("live")).view();
      await view.num_rows();
      const drop = await fetch(api(service, "live"), { method: "DELETE" });
      assert.equal(drop.status, 204);
      await post(rows, [{ id: 3, v: 3 }]);
      const info = await (await fetch(api(service, "live"))).json();
      assert.equal(info.size, 1);
      const again = await (await client.open_table("live")).view();
      assert.deepEqual(await again.to_columns(), { id: [3], v: [3] });
      await assert.rejects(view.num_rows(), /View not found/);
    } finally {
      await client.terminate();
    }
  });
});
