/**
 * A viewer's notifications belong to its own view: nothing done to another
 * view with the same configuration, on the same connection or another, may
 * remove them.
 */

import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { websocketUrl, withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import type { Service } from "../../src/service.ts";

type Client = Awaited<ReturnType<typeof perspective.websocket>>;
type View = Awaited<ReturnType<Awaited<ReturnType<Client["open_table"]>>["view"]>>;
type Source = Awaited<ReturnType<Service["host"]["createTable"]>>;

const GROUPED = { group_by: ["cat"], columns: ["v"] };

/**
 * Runs `act` with a seeded indexed table and a stock client, then checks
 * that the kept view `a` is notified of one more update and reads right.
 */
async function keepsNotifying(
  config: Record<string, unknown>,
  act: (ctx: { service: Service; c1: Client; a: View; source: Source }) => Promise<
    void
  >,
): Promise<void> {
  await withService({ demo: false, shareViews: true }, async (service) => {
    const source = await service.host.createTable(
      "t",
      { id: "integer", cat: "string", v: "float" },
      { index: "id" },
    );
    await source.update([{ id: 1, cat: "x", v: 1 }, { id: 2, cat: "y", v: 2 }]);
    const c1 = await perspective.websocket(websocketUrl(service));
    try {
      const a = await (await c1.open_table("t")).view(config);
      let seen = 0;
      await a.on_update(() => seen++);
      await act({ service, c1, a, source });
      // A round trip makes sure every request before it has reached the server.
      await a.num_rows();
      const before = seen;
      await source.update([{ id: 3, cat: "z", v: 3 }]);
      await waitFor("the kept view's notification", () => seen > before, { timeout: 5000 });
      const fresh = await source.view(config);
      assert.deepEqual(await a.to_columns(), await fresh.to_columns());
      await fresh.delete();
    } finally {
      await c1.terminate();
    }
  });
}

/** A second view like `a` on the same connection, subscribed too. */
async function sibling(client: Client, config: Record<string, unknown>): Promise<View> {
  const b = await (await client.open_table("t")).view(config);
  await b.on_update(() => {});
  await b.num_rows();
  return b;
}

Deno.test("SharedViews: deleting a sibling view on the same connection keeps the other's notifications", async () => {
  await keepsNotifying({}, async ({ c1 }) => {
    const b = await sibling(c1, {});
    await b.delete();
  });
});

Deno.test("SharedViews: expanding a sibling view on the same connection keeps the other's notifications", async () => {
  await keepsNotifying(GROUPED, async ({ c1 }) => {
    const b = await sibling(c1, GROUPED);
    await b.expand(1);
  });
});

Deno.test("SharedViews: collapsing a sibling view on the same connection keeps the other's notifications", async () => {
  await keepsNotifying(GROUPED, async ({ c1 }) => {
    const b = await sibling(c1, GROUPED);
    await b.collapse(1);
  });
});

Deno.test("SharedViews: set_depth on a sibling view on the same connection keeps the other's notifications", async () => {
  await keepsNotifying(GROUPED, async ({ c1 }) => {
    const b = await sibling(c1, GROUPED);
    await b.set_depth(0);
  });
});

Deno.test("SharedViews: closing another connection with the same view keeps this one's notifications", async () => {
  await keepsNotifying({}, async ({ service, c1 }) => {
    await sibling(c1, {});
    const c3 = await perspective.websocket(websocketUrl(service));
    await sibling(c3, {});
    await c3.terminate();
    await waitFor("the closed connection's session to end", () => service.host.sessionCount === 2);
  });
});

Deno.test("SharedViews: dropping another table keeps notifications of views with the same configuration", async () => {
  await keepsNotifying({}, async ({ service, c1 }) => {
    await service.host.createTable("u", { id: "integer", cat: "string", v: "float" }, {
      index: "id",
    });
    await sibling(c1, {});
    // A view with the same configuration on the table being dropped.
    const c3 = await perspective.websocket(websocketUrl(service));
    const onU = await (await c3.open_table("u")).view({});
    let dropped = false;
    await onU.on_delete(() => {
      dropped = true;
    });
    await onU.num_rows();
    assert.equal(await service.host.dropTable("u"), true);
    await waitFor("the dropped table's view to be told", () => dropped);
    await c3.terminate();
  });
});

Deno.test("SharedViews: a view made again, subscribed, then the old one deleted, keeps notifying", async () => {
  // What a viewer does when it re-applies a configuration it had before.
  await withService({ demo: false, shareViews: true }, async (service) => {
    const source = await service.host.createTable("t", { id: "integer", v: "float" }, {
      index: "id",
    });
    const client = await perspective.websocket(websocketUrl(service));
    try {
      const table = await client.open_table("t");
      const old = await table.view({ sort: [["v", "desc"]] });
      await old.on_update(() => {});
      const next = await table.view({ sort: [["v", "desc"]] });
      let seen = 0;
      await next.on_update(() => seen++);
      await old.delete();
      await next.num_rows();
      await source.update([{ id: 1, v: 1 }]);
      await waitFor("the new view's notification", () => seen > 0, { timeout: 5000 });
      assert.deepEqual(await next.to_columns(), { id: [1], v: [1] });
    } finally {
      await client.terminate();
    }
  });
});

Deno.test("SharedViews: requests sent right behind set_depth are answered by the viewer's moved view", async () => {
  await withService({ demo: false, shareViews: true }, async (service) => {
    const source = await service.host.createTable("t", { cat: "string", v: "float" });
    await source.update([{ cat: "x", v: 1 }, { cat: "y", v: 2 }]);
    const client = await perspective.websocket(websocketUrl(service));
    try {
      const table = await client.open_table("t");
      await table.view(GROUPED);
      const b = await table.view(GROUPED);
      const [, json, rows] = await Promise.all([b.set_depth(0), b.to_columns(), b.num_rows()]);
      const own = await source.view(GROUPED);
      await own.set_depth(0);
      assert.deepEqual(json, await own.to_columns());
      assert.equal(rows, await own.num_rows());
      await own.delete();
    } finally {
      await client.terminate();
    }
  });
});
