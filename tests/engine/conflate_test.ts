import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { EngineHost } from "../../src/engine/host.ts";
import { Conflator } from "../../src/engine/conflate.ts";
import { websocketUrl, withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";

Deno.test("Conflator turns a burst of batches into one notification per viewer", async () => {
  const host = await EngineHost.create({ maxUpdateRate: 5 });
  try {
    const table = await host.createTable("t", { id: "integer", v: "float" }, { index: "id" });
    const view = await table.view();
    let notifications = 0;
    await view.on_update(() => notifications++);
    // Sent in one tick, so all of them are queued before the next poll.
    await Promise.all(Array.from({ length: 50 }, (_, i) => table.update([{ id: i % 10, v: i }])));
    await host.flush();
    assert.equal(notifications, 1);
    const rows = (await view.to_columns()) as { id: number[]; v: number[] };
    assert.deepEqual(rows.id, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(rows.v, [40, 41, 42, 43, 44, 45, 46, 47, 48, 49]);
    assert(host.conflator.requests > host.conflator.polls);
    await view.delete();
  } finally {
    host.close();
  }
});

Deno.test("Conflator: a remote viewer reaches the final state of a burst", async () => {
  await withService({ demo: false, maxUpdateRate: 4 }, async (service) => {
    const source = await service.host.createTable("t", { id: "integer", v: "integer" }, {
      index: "id",
    });
    const client = await perspective.websocket(websocketUrl(service));
    try {
      const view = await (await client.open_table("t")).view();
      let notifications = 0;
      await view.on_update(() => notifications++);
      for (let i = 0; i < 200; i++) void source.update([{ id: i % 7, v: i }]);
      await waitFor("the viewer to see the last batch", async () => {
        const cols = (await view.to_columns()) as { v: number[] };
        return cols.v.length === 7 && cols.v.includes(199);
      });
      assert(notifications < 200, `${notifications} notifications for 200 batches`);
      await view.delete();
    } finally {
      await client.terminate();
    }
  });
});

Deno.test("EngineHost.flush() resolves after earlier updates are applied", async () => {
  const host = await EngineHost.create({ maxUpdateRate: 2 });
  try {
    const table = await host.createTable("t", { x: "integer" });
    await table.update([{ x: 1 }, { x: 2 }]);
    await host.flush();
    assert.equal(await table.size(), 2);
    assert.equal((await host.tableInfo("t"))?.size, 2);
  } finally {
    host.close();
  }
});

Deno.test("Conflator rejects a non-positive maxUpdateRate", () => {
  assert.throws(() => new Conflator(() => Promise.resolve(), { maxUpdateRate: 0 }), RangeError);
});

Deno.test("Conflator.close() releases pending flush() callers and stops polling", async () => {
  let polls = 0;
  const c = new Conflator(() => {
    polls++;
    return Promise.resolve();
  }, { maxUpdateRate: 1 });
  await c.flush();
  const pending = c.flush();
  c.close();
  await pending;
  void c.request();
  assert.equal(polls, 1);
});

Deno.test("Conflator keeps polling after a poll fails", async () => {
  const errors: unknown[] = [];
  let n = 0;
  const c = new Conflator(() => {
    n++;
    return n === 1 ? Promise.reject(new Error("boom")) : Promise.resolve();
  }, { maxUpdateRate: 1000, onError: (e) => errors.push(e) });
  try {
    await c.flush();
    await c.flush();
    assert.equal(n, 2);
    assert.equal(errors.length, 1);
  } finally {
    c.close();
  }
});

Deno.test("Conflator: a poll that found nothing leaves the schedule idle", async () => {
  let productive = false;
  const c = new Conflator(() => Promise.resolve(productive), { maxUpdateRate: 0.01 });
  try {
    await c.flush();
    // With a 100 s interval, this second flush returns at once only if the first poll left it idle.
    await c.flush();
    assert.equal(c.polls, 2);
    productive = true;
    await c.flush();
    const next = c.flush();
    let done = false;
    void next.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false, "a productive poll keeps the interval");
    c.close();
    await next;
  } finally {
    c.close();
  }
});

Deno.test("Conflator.observe() reports each poll's duration and whether it sent anything", async () => {
  const seen: { productive: boolean; ms: number; waitedMs: number }[] = [];
  let productive = true;
  const c = new Conflator(() => Promise.resolve(productive), { maxUpdateRate: 1000 });
  const stop = c.observe((o) => seen.push(o));
  try {
    await c.flush();
    productive = false;
    await c.flush();
    stop();
    await c.flush();
    assert.deepEqual(seen.map((o) => o.productive), [true, false]);
    assert(seen.every((o) => o.ms >= 0 && o.waitedMs >= 0));
  } finally {
    c.close();
  }
});
