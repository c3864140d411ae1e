import assert from "node:assert/strict";
import { EngineHost } from "../../src/engine/host.ts";
import { createTableChecked } from "../../src/engine/apply.ts";
import { type Client, make_client } from "../../src/engine/perspective.ts";
import { StatusError } from "../../src/engine/batch_types.ts";
import { DEMO_SCHEMA, startDemo } from "../../src/engine/demo.ts";
import { waitFor } from "../support/wait.ts";
import { SharedViews } from "../../src/fanout/shared_views.ts";

Deno.test("EngineHost.tableInfo() reports schema columns in the table's order", async () => {
  const host = await EngineHost.create();
  await host.createTable("t", { zeta: "string", alpha: "float", mid: "integer" }, {
    index: "zeta",
  });
  const info = await host.tableInfo("t");
  assert.deepEqual(Object.keys(info!.schema), ["zeta", "alpha", "mid"]);
  assert.deepEqual(info, {
    name: "t",
    size: 0,
    schema: { zeta: "string", alpha: "float", mid: "integer" },
    index: "zeta",
    limit: null,
  });
  assert.equal(await host.tableInfo("missing"), undefined);
});

Deno.test("EngineHost.dropTable() removes the table from the listing", async () => {
  const host = await EngineHost.create();
  await host.createTable("a", [{ x: 1 }]);
  await host.createTable("b", [{ x: 1 }], { limit: 10 });
  assert.deepEqual((await host.listTables()).map((t) => [t.name, t.limit]), [["a", null], [
    "b",
    10,
  ]]);
  assert.equal(await host.dropTable("a"), true);
  assert.equal(await host.dropTable("a"), false);
  assert.deepEqual((await host.listTables()).map((t) => t.name), ["b"]);
});

Deno.test("startDemo() creates the demo table and keeps appending rows", async () => {
  const host = await EngineHost.create();
  const stop = new AbortController();
  try {
    await startDemo(host, { signal: stop.signal, seed: 42, rate: 50 });
    const info = await host.tableInfo("demo");
    assert.deepEqual(info?.schema, DEMO_SCHEMA);
    const first = info!.size;
    assert.ok(first > 0);
    await waitFor("more demo rows", async () => (await host.tableInfo("demo"))!.size > first);
  } finally {
    stop.abort();
  }
});

/** An in-process client on a host session, as a WebSocket would wire it. */
function connect(open: (send: (bytes: Uint8Array) => void) => { handle(b: Uint8Array): unknown }) {
  const session = open((bytes) => void client.handle_response(bytes));
  const client: Client = make_client(async (req: Uint8Array) => void await session.handle(req));
  return client;
}

Deno.test("EngineHost.dropTable() deletes every session's views on the table, fires their on_delete and frees the name", async () => {
  const host = await EngineHost.create();
  const shared = new SharedViews(host);
  const sessions: { close(): void }[] = [];
  const track = <T extends { close(): void }>(s: T) => (sessions.push(s), s);
  try {
    await host.createTable("a", [{ x: 1 }]);
    const b = await host.createTable("b", { x: "integer" });
    const plain = connect((send) => track(host.openSession(send)));
    const viewer = connect((send) => track(shared.openSession(send)));
    const plainA = await (await plain.open_table("a")).view();
    const viewerA = await (await viewer.open_table("a")).view();
    const localA = await (await host.table("a"))!.view();
    const deleted = { plain: 0, viewer: 0, local: 0 };
    await plainA.on_delete(() => deleted.plain++);
    await viewerA.on_delete(() => deleted.viewer++);
    await localA.on_delete(() => deleted.local++);
    const plainB = await (await plain.open_table("b")).view();
    let updatesB = 0;
    await plainB.on_update(() => updatesB++);
    await Promise.all([plainA.num_rows(), viewerA.num_rows(), plainB.num_rows()]);

    assert.equal(await host.dropTable("a"), true);
    await waitFor("on_delete for every view", () => Object.values(deleted).every((n) => n === 1));
    for (const view of [plainA, viewerA, localA]) {
      await assert.rejects(view.num_rows(), /View not found/);
    }
    assert.deepEqual(await host.tableNames(), ["b"]);

    await b.update([{ x: 7 }]);
    await waitFor("an update on the other table", () => updatesB > 0);
    assert.deepEqual(await plainB.to_columns(), { x: [7] });

    await createTableChecked(host, "a", { y: "string" }, {});
    assert.deepEqual(await host.tableInfo("a"), {
      name: "a",
      size: 0,
      schema: { y: "string" },
      index: null,
      limit: null,
    });
  } finally {
    for (const s of sessions) s.close();
  }
  // Closing a session whose views the drop deleted must not trip the engine.
  assert.equal(host.sessionCount, 0);
  assert.equal(host.clientMapSize, 1);
  host.close();
});

Deno.test("EngineHost.dropTable() falls back to a lazy delete for a view made outside its sessions; createTableChecked() answers 409 until that view is gone", async () => {
  const host = await EngineHost.create();
  await host.createTable("a", { x: "integer" });
  const raw = host.server.make_session(async (bytes: Uint8Array) => {
    await outsider.handle_response(bytes.slice());
  });
  const outsider: Client = make_client((req: Uint8Array) => raw.handle_request(req));
  await (await outsider.open_table("a")).view();

  assert.equal(await host.dropTable("a"), true);
  assert.deepEqual(await host.tableNames(), []);
  // The engine would hand back the unlisted table for a new one by that name.
  await assert.rejects(
    createTableChecked(host, "a", { x: "integer" }, {}),
    (err: unknown) => err instanceof StatusError && err.status === 409,
  );
  // Closing the outsider's session deletes its view but not the table the
  // engine still keeps; the next create deletes that for good.
  raw.close();
  await createTableChecked(host, "a", { z: "float" }, {});
  assert.deepEqual((await host.tableInfo("a"))?.schema, { z: "float" });
  host.close();
});
