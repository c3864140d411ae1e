import assert from "node:assert/strict";
import { EngineHost } from "../../src/engine/host.ts";
import { make_client } from "../../src/engine/perspective.ts";
import type { LocalServer } from "../../src/engine/server.ts";
import { websocketUrl, withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import { decodeEnvelope } from "../../src/engine/envelope.ts";
import { Req } from "../../src/protocol/messages.ts";

Deno.test("1,000 WebSocket connect/close cycles leave no entry in the client map", async () => {
  await withService({ demo: true }, async (service) => {
    const baseline = service.host.clientMapSize;
    const url = websocketUrl(service);
    const cycle = () =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.onopen = () => ws.close();
        ws.onclose = () => resolve();
        ws.onerror = () => reject(new Error("socket error"));
      });
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 50 }, cycle));
    }
    await waitFor("every session to be closed", () => service.host.sessionCount === 0);
    // The Worker reports its client map after each close, a message behind the close itself.
    await waitFor(
      "the client map back to its baseline",
      () => service.host.clientMapSize === baseline,
    );
  });
});

Deno.test("a session whose socket throws on send never breaks another session's call", async () => {
  const host = await EngineHost.create();
  const table = await host.createTable("t", { x: "integer" });
  let open = true;
  let refused = 0;
  const other = host.openSession((bytes) => {
    if (!open) {
      refused++;
      throw new DOMException("socket is closed", "InvalidStateError");
    }
    void otherClient.handle_response(bytes);
  });
  const otherClient = make_client((req: Uint8Array) => other.handle(req));
  const otherTable = await otherClient.open_table("t");
  const view = await otherTable.view();
  await view.on_update(() => {});
  // A round trip on the same session proves the subscription is registered.
  await otherTable.size();
  open = false;
  for (let i = 0; i < 5; i++) {
    const seen = refused;
    await table.update([{ x: i }]);
    await waitFor("the update to be sent to the broken socket", () => refused > seen);
  }
  await host.flush();
  assert.equal(await table.size(), 5);
  other.close();
  await table.update([{ x: 99 }]);
  await host.flush();
  assert.equal(await table.size(), 6);
  assert.equal(host.sessionCount, 0);
  assert.equal(host.clientMapSize, 1);
});

Deno.test("EngineSession copies each outbound message before handing it on", async () => {
  const host = await EngineHost.create();
  await host.createTable("t", [{ x: 1 }, { x: 2 }]);
  const received: Uint8Array[] = [];
  const session = host.openSession((bytes) => received.push(bytes));
  const client = make_client((req: Uint8Array) => session.handle(req));
  const names = client.get_hosted_table_names();
  await waitFor("a response", () => received.length > 0);
  const first = received[0];
  const snapshot = first.slice();
  // Engine memory is reused by later calls; a copy must not change with it.
  const t = await host.table("t");
  for (let i = 0; i < 20; i++) await t!.update([{ x: i }]);
  assert.deepEqual(first, snapshot);
  assert.notEqual(
    first.buffer,
    ((host.server as LocalServer).engine.module as { HEAPU8: Uint8Array }).HEAPU8.buffer,
  );
  await client.handle_response(first);
  assert.deepEqual(await names, ["t"]);
  session.close();
});

Deno.test("EngineSession.deleteViewsOn() deletes the session's views on one table, and its client sees only on_delete", async () => {
  const host = await EngineHost.create();
  await host.createTable("a", [{ x: 1 }]);
  await host.createTable("b", [{ x: 2 }]);
  const kinds: number[] = [];
  const session = host.openSession((bytes) => {
    kinds.push(decodeEnvelope(bytes).kind);
    void client.handle_response(bytes);
  });
  const client = make_client((req: Uint8Array) => session.handle(req));
  const a = await client.open_table("a");
  const [v1, v2] = [await a.view(), await a.view({ columns: ["x"] })];
  await assert.rejects(a.view({ columns: ["nope"] }));
  const vb = await (await client.open_table("b")).view();
  // A refused view is no view.
  assert.equal(session.viewCount, 3);
  let deleted = 0;
  await v1.on_delete(() => deleted++);
  await v1.num_rows();
  kinds.length = 0;

  assert.equal(await session.deleteViewsOn("a"), 2);
  await waitFor("on_delete", () => deleted === 1);
  // The answers to the session's own deletes never reach the client.
  assert.deepEqual(kinds, [Req.VIEW_ON_DELETE]);
  assert.equal(session.viewCount, 1);
  await assert.rejects(v2.num_rows(), /View not found/);
  assert.deepEqual(await vb.to_columns(), { x: [2] });
  await vb.delete();
  assert.equal(session.viewCount, 0);
  session.close();
  assert.equal(host.clientMapSize, 1);
});
