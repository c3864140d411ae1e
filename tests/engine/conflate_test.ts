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

Deno.test("Conflator.flush() needs no new poll when no request reached the engine since the last one began", async () => {
  let requests = 0;
  let release = () => {};
  let polls = 0;
  const c = new Conflator(async () => {
    polls++;
    // The first poll is held open, so that a flush can arrive while it runs.
    if (polls === 1) await new Promise<void>((r) => release = r);
    return true;
  }, { maxUpdateRate: 0.01, requestCount: () => requests });
  try {
    requests = 1;
    const first = c.flush();
    await waitFor("the first poll to start", () => c.running);
    // Nothing new since that poll began: this flush rides on it.
    let joined = false;
    const second = c.flush().then(() => (joined = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(joined, false, "a flush joining a running poll waits for its end");
    release();
    await first;
    await second;
    assert.equal(polls, 1);
    // Still nothing new: the finished poll is enough, although the 100 s interval holds the next.
    await c.flush();
    assert.equal(polls, 1);
    // A new request needs a poll of its own, which the interval holds back.
    requests = 2;
    let waited = false;
    const third = c.flush().then(() => (waited = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(waited, false, "a flush after a new request waits for the next poll");
    c.close();
    await third;
  } finally {
    c.close();
  }
});

for (const engineWorker of [false, true]) {
  Deno.test(`a lone producer's batches are not held for the update interval (engine worker: ${engineWorker})`, async () => {
    // A 1 s interval: a producer held for it would take 10 s for ten batches.
    await withService({ demo: false, maxUpdateRate: 1, engineWorker }, async (service) => {
      const url = (path: string) => new URL(path, service.url);
      const put = await fetch(url("api/tables/t"), {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ schema: { x: "integer" } }),
      });
      assert.equal(put.status, 201, await put.text());
      const started = performance.now();
      for (let i = 0; i < 10; i++) {
        const res = await fetch(url("api/tables/t/rows"), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify([{ x: i }]),
        });
        assert.equal(res.status, 200, await res.text());
      }
      const ms = performance.now() - started;
      assert.equal((await service.host.tableInfo("t"))?.size, 10);
      assert(ms < 3000, `ten lone batches took ${ms.toFixed(0)} ms`);
    });
  });
}

Deno.test("EngineHost: an update with a viewer keeps the interval between notifications", async () => {
  const host = await EngineHost.create({ maxUpdateRate: 4 });
  try {
    const table = await host.createTable("t", { x: "integer" });
    const view = await table.view();
    const at: number[] = [];
    await view.on_update(() => at.push(performance.now()));
    for (let i = 0; i < 6; i++) {
      await table.update([{ x: i }]);
      await host.flush();
    }
    assert.equal(await table.size(), 6);
    const gaps = at.slice(1).map((t, i) => t - at[i]);
    assert(gaps.every((g) => g >= 240), `gaps between notifications: ${gaps.map(Math.round)}`);
    await view.delete();
  } finally {
    host.close();
  }
});
