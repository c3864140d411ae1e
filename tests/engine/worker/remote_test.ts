import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { EngineHost } from "../../../src/engine/host.ts";
import { EngineWorkerError, RemoteServer } from "../../../src/engine/worker/remote.ts";
import { websocketUrl, withService } from "../../support/service.ts";
import { waitFor } from "../../support/wait.ts";

Deno.test("EngineHost with a Worker serves tables, views and updates like the engine on this thread", async () => {
  const host = await EngineHost.create({ worker: true });
  try {
    assert.ok(host.server instanceof RemoteServer);
    const table = await host.createTable("t", { x: "integer", s: "string" }, { index: "x" });
    const view = await table.view({ columns: ["x", "s"] });
    let updates = 0;
    await view.on_update(() => void updates++);
    await table.update([{ x: 1, s: "a" }, { x: 2, s: "b" }]);
    await table.update([{ x: 1, s: "c" }]);
    await host.flush();
    assert.deepEqual(await view.to_json(), [{ x: 1, s: "c" }, { x: 2, s: "b" }]);
    await waitFor("the update notifications", () => updates >= 1);
    await view.delete();
  } finally {
    host.close();
  }
});

Deno.test("a Worker's failure fails calls in flight and later ones at once, and is reported once", async () => {
  const failures: Error[] = [];
  const host = await EngineHost.create({ worker: true, onEngineFailure: (e) => failures.push(e) });
  try {
    const table = await host.createTable("t", { x: "integer" });
    await table.update(Array.from({ length: 100_000 }, (_, x) => ({ x })));
    const server = host.server as RemoteServer;
    // A read queued behind the fault never gets its answer from the Worker.
    server.injectFault();
    const inFlight = table.view().then((v) => v.to_json());
    await assert.rejects(inFlight);
    await waitFor("the failure reported", () => failures.length === 1);
    assert.ok(failures[0] instanceof EngineWorkerError);
    assert.match(failures[0].message, /engine worker failed/);
    assert.ok(server.failure);
    const t0 = performance.now();
    await assert.rejects(host.tableNames());
    await assert.rejects(table.size());
    assert.ok(performance.now() - t0 < 1000, "later calls fail at once");
    assert.equal(failures.length, 1);
  } finally {
    host.close();
  }
});

Deno.test("after the engine's Worker fails, the service is not ready, refuses writes with 5xx and reports it", async () => {
  const failures: Error[] = [];
  await withService({ demo: false, onEngineFailure: (e) => failures.push(e) }, async (service) => {
    const url = new URL("api/tables/t/rows", service.url);
    const post = () =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '[{"x": 1}]',
      });
    const first = await post();
    assert.equal(first.status, 201);
    await first.body?.cancel();
    const ws = await perspective.websocket(websocketUrl(service));
    const remote = await ws.open_table("t");
    assert.equal(await remote.size(), 1);

    (service.host.server as RemoteServer).injectFault();
    await waitFor("the failure reported", () => failures.length === 1);
    const ready = await fetch(new URL("readyz", service.url));
    assert.equal(ready.status, 503);
    const checks = (await ready.json()).checks;
    assert.equal(checks.engine.ok, false);
    assert.match(checks.engine.detail, /engine worker failed/);
    const write = await post();
    assert.ok(write.status >= 500, `a write after the failure answered ${write.status}`);
    assert.equal(write.headers.get("content-type"), "application/problem+json");
    await write.body?.cancel();
    // A viewer's call gets an error rather than waiting for ever.
    await assert.rejects(
      Promise.race([
        remote.size(),
        new Promise((_, reject) => setTimeout(() => reject(new Error("timed out")), 5000)),
      ]).then((v) => {
        throw new Error(`answered ${v}`);
      }),
      (err: Error) => !/answered/.test(err.message),
    );
    await ws.terminate?.();
  });
});
