import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { applyFrame, type BroadcastHello } from "../../src/fanout/broadcast_protocol.ts";
import type { Table } from "../../src/engine/perspective.ts";
import { withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import { DEFAULT_LIMITS, securityConfig } from "../../src/security/mod.ts";

async function rows(table: Table): Promise<string> {
  const view = await table.view();
  const json = (await view.to_json()) as Record<string, unknown>[];
  await view.delete();
  return JSON.stringify(json.map((r) => JSON.stringify(Object.entries(r).sort())).sort());
}

Deno.test("GET /websocket/broadcast/{table} streams a snapshot then deltas that converge", async () => {
  await withService({ demo: false }, async (service) => {
    const source = await service.host.createTable("items", { id: "integer", v: "string" }, {
      index: "id",
    });
    await source.update(Array.from({ length: 50 }, (_, i) => ({ id: i, v: `a${i}` })));
    const url = new URL("websocket/broadcast/items", service.url).href.replace(/^http/, "ws");
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    let replica: Table | undefined;
    let hello: BroadcastHello | undefined;
    let chain: Promise<unknown> = Promise.resolve();
    socket.onmessage = (e) => {
      chain = chain.then(async () => {
        if (typeof e.data === "string") {
          hello = JSON.parse(e.data);
          replica = await perspective.table(hello!.schema, { index: hello!.index! });
        } else await applyFrame(replica!, new Uint8Array(e.data));
      });
    };
    try {
      await waitFor("the snapshot", async () => replica && (await replica.size()) === 50);
      assert.equal(hello?.index, "id");
      await source.update([{ id: 3, v: "changed" }, { id: 99, v: "new" }]);
      await source.remove([7, 8]);
      await service.host.flush();
      await source.update([{ id: 7, v: "back" }]);
      const want = async () => await rows(source);
      await waitFor("the replica to converge", async () => (await rows(replica!)) === await want());
    } finally {
      const closed = new Promise((r) => (socket.onclose = r));
      socket.close();
      await closed;
      await chain;
      await replica?.delete();
    }
  });
});

Deno.test("GET /websocket/broadcast/{table} returns 404 for an unknown table and 400 without an upgrade", async () => {
  await withService({ demo: false }, async (service) => {
    const missing = await fetch(new URL("websocket/broadcast/nope", service.url), {
      headers: { upgrade: "websocket", connection: "upgrade" },
    });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("content-type"), "application/problem+json");
    await missing.body?.cancel();
    await service.host.createTable("t", { x: "integer" });
    const plain = await fetch(new URL("websocket/broadcast/t", service.url));
    assert.equal(plain.status, 400);
    await plain.body?.cancel();
  });
});

Deno.test("GET /websocket/broadcast/{table} counts against the connection limit and frees its slot", async () => {
  const security = securityConfig({ limits: { ...DEFAULT_LIMITS, maxConnectionsPerAddress: 1 } });
  await withService({ demo: false, security }, async (service) => {
    await service.host.createTable("t", { x: "integer" });
    const url = new URL("websocket/broadcast/t", service.url).href.replace(/^http/, "ws");
    const first = new WebSocket(url);
    await new Promise((r) => (first.onopen = r));
    const refused = await fetch(new URL("websocket/broadcast/t", service.url), {
      headers: { upgrade: "websocket", connection: "upgrade" },
    });
    assert.equal(refused.status, 429);
    await refused.body?.cancel();
    const closed = new Promise((r) => (first.onclose = r));
    first.close();
    await closed;
    await waitFor("the slot to be freed", async () => {
      const again = new WebSocket(url);
      const ok = await new Promise<boolean>((r) => {
        again.onopen = () => r(true);
        again.onerror = () => r(false);
      });
      const done = new Promise((r) => (again.onclose = r));
      if (again.readyState !== WebSocket.CLOSED) again.close();
      await done;
      return ok;
    });
  });
});
