import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { websocketUrl, withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import type { Service } from "../../src/service.ts";
import { bigColumns } from "../support/export_data.ts";

async function clients(service: Service, n: number) {
  return await Promise.all(
    Array.from({ length: n }, () => perspective.websocket(websocketUrl(service))),
  );
}

Deno.test("SharedViews: viewers with the same view share one engine view and see every update", async () => {
  await withService({ demo: false, shareViews: true }, async (service) => {
    const source = await service.host.createTable("t", { id: "integer", v: "float" }, {
      index: "id",
    });
    await source.update([{ id: 1, v: 1 }, { id: 2, v: 2 }]);
    const cs = await clients(service, 3);
    try {
      const views = await Promise.all(
        cs.map(async (c) => (await c.open_table("t")).view({ sort: [["v", "desc"]] })),
      );
      const other = await (await cs[0].open_table("t")).view({ columns: ["id"] });
      const shared = service.sharedViews!;
      assert.equal(shared.stats.views, 2);
      assert.equal(shared.stats.aliases, 4);
      const seen = views.map(() => 0);
      await Promise.all(views.map((v, i) => v.on_update(() => seen[i]++)));
      // on_update resolves once sent; a round trip makes sure the server has it.
      await Promise.all(views.map((v) => v.num_rows()));
      await source.update([{ id: 3, v: 30 }]);
      await waitFor("every viewer notified", () => seen.every((n) => n >= 1));
      const windows = await Promise.all(
        views.map((v) => v.to_columns({ start_row: 0, end_row: 2 })),
      );
      for (const w of windows) assert.deepEqual(w, { id: [3, 2], v: [30, 2] });
      assert.deepEqual(await other.to_columns(), { id: [1, 2, 3] });
      assert(shared.stats.cachedReads >= 2, JSON.stringify(shared.stats));
      await source.remove([3]);
      await waitFor("the removal to reach every viewer", async () => {
        const ws = await Promise.all(views.map((v) => v.to_columns()));
        return ws.every((w) => JSON.stringify(w) === JSON.stringify({ id: [2, 1], v: [2, 1] }));
      });
      await views[0].delete();
      assert.equal(shared.stats.aliases, 3);
      assert.deepEqual(await views[1].num_rows(), 2);
    } finally {
      await Promise.all(cs.map((c) => c.terminate()));
    }
    await waitFor("closed sessions to release their views", () => {
      const s = service.sharedViews!.stats;
      return s.views === 0 && s.aliases === 0;
    });
  });
});

Deno.test("SharedViews: expanding a shared group-by view gives that viewer a private view", async () => {
  await withService({ demo: false, shareViews: true }, async (service) => {
    const source = await service.host.createTable("t", { g: "string", h: "string", v: "integer" });
    await source.update([
      { g: "a", h: "x", v: 1 },
      { g: "a", h: "y", v: 2 },
      { g: "b", h: "x", v: 3 },
    ]);
    const [c1, c2] = await clients(service, 2);
    try {
      const config = { group_by: ["g", "h"], columns: ["v"] };
      const v1 = await (await c1.open_table("t")).view(config);
      const v2 = await (await c2.open_table("t")).view(config);
      const before = await v2.to_json();
      await v1.set_depth(0);
      const own = await source.view(config);
      await own.set_depth(0);
      assert.deepEqual(await v1.to_json(), await own.to_json());
      assert.deepEqual(await v2.to_json(), before, "the other viewer is unaffected");
      let notified = 0;
      await v1.on_update(() => notified++);
      await v1.num_rows();
      await source.update([{ g: "c", h: "z", v: 4 }]);
      await waitFor("the private view's notification", () => notified > 0);
      assert.deepEqual(await v1.to_json(), await own.to_json());
      await own.delete();
    } finally {
      await c1.terminate();
      await c2.terminate();
    }
  });
});

Deno.test("SharedViews: an invalid view config is refused for that viewer only", async () => {
  await withService({ demo: false, shareViews: true }, async (service) => {
    await service.host.createTable("t", { v: "integer" });
    const [c] = await clients(service, 1);
    try {
      const table = await c.open_table("t");
      await assert.rejects(table.view({ columns: ["nope"] }));
      assert.equal(await (await table.view()).num_rows(), 0);
    } finally {
      await c.terminate();
    }
  });
});

Deno.test("SharedViews: remove_update stops one viewer's notifications only", async () => {
  await withService({ demo: false, shareViews: true }, async (service) => {
    const source = await service.host.createTable("t", { v: "integer" });
    const [c1, c2] = await clients(service, 2);
    try {
      const v1 = await (await c1.open_table("t")).view();
      const v2 = await (await c2.open_table("t")).view();
      let first = 0;
      let second = 0;
      const id = await v1.on_update(() => first++);
      await v2.on_update(() => second++);
      await v1.remove_update(id);
      await v2.num_rows();
      await source.update([{ v: 1 }]);
      await waitFor("the remaining listener", () => second > 0);
      await v1.num_rows();
      assert.equal(first, 0);
      assert.equal(service.sharedViews!.stats.views, 1);
    } finally {
      await c1.terminate();
      await c2.terminate();
    }
  });
});

Deno.test("SharedViews: when the last viewer leaves, no engine session or view is left", async () => {
  await withService({ demo: false, shareViews: true }, async (service) => {
    await service.host.createTable("t", { v: "integer" });
    const baseline = service.host.clientMapSize;
    const cs = await clients(service, 3);
    try {
      for (const c of cs) await (await c.open_table("t")).view();
      assert.equal(service.sharedViews!.stats.views, 1);
    } finally {
      await Promise.all(cs.map((c) => c.terminate()));
    }
    await waitFor(
      "the client map to return to its baseline",
      () => service.host.sessionCount === 0 && service.host.clientMapSize === baseline,
    );
    assert.equal(service.sharedViews!.stats.views, 0);
  });
});

Deno.test("SharedViews: a large read is shared while it runs but not kept for later viewers", async () => {
  await withService({ demo: false, shareViews: true }, async (service) => {
    await service.host.createTable("big", bigColumns(100_000));
    const cs = await clients(service, 2);
    try {
      const views = await Promise.all(cs.map(async (c) => (await c.open_table("big")).view()));
      const shared = service.sharedViews!;
      assert.equal(shared.stats.views, 1);
      const small = { start_row: 0, end_row: 2 };
      const before = shared.stats;
      const first = await views[0].to_columns(small);
      assert.deepEqual(await views[1].to_columns(small), first);
      // No update came between them: the second small read is the first one's answer.
      assert.equal(shared.stats.engineReads - before.engineReads, 1);
      assert.equal(shared.stats.cachedReads - before.cachedReads, 1);

      const a = new Uint8Array(await views[0].to_arrow());
      assert(a.byteLength > 1024 * 1024, `${a.byteLength} bytes`);
      const b = new Uint8Array(await views[1].to_arrow());
      assert.deepEqual(b, a);
      assert.equal(shared.stats.engineReads - before.engineReads, 3);
      assert.equal(shared.stats.cachedReads - before.cachedReads, 1);
    } finally {
      await Promise.all(cs.map((c) => c.terminate()));
    }
  });
});
