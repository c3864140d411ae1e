import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import type { Service } from "../../src/service.ts";
import { Req } from "../../src/protocol/messages.ts";
import { waitFor } from "../support/wait.ts";
import {
  ADMIN,
  closeSocket,
  openSocket,
  READER,
  withSecuredService,
  WRITER,
  wsUrl,
} from "./helpers.ts";
import {
  answer,
  apiRows,
  byId,
  editEvents,
  request,
  ROWS,
  withWriter,
} from "./ws_edits_helpers.ts";

async function metric(service: Service, line: RegExp): Promise<number> {
  const text = await (await fetch(new URL("metrics", service.url))).text();
  const found = text.split("\n").find((l) => line.test(l));
  return found ? Number(found.split(" ").at(-1)) : 0;
}

Deno.test("update, replace, remove and clear from the stock client reach a shared table through the sink and show in the rows API", async () => {
  await withWriter(async (service, client) => {
    await service.host.createTable("sales_edit", ROWS, { index: "id" });
    const events = editEvents(service);
    const counted = /^perspective_ingest_requests_total\{format="json",status="200"\}/;
    const before = await metric(service, counted);
    const table = await client.open_table("sales_edit");

    await table.update([{ id: 2, name: "B" }, { id: 4, name: "d", x: 4.5 }]);
    assert.deepEqual(byId(await apiRows(service, "sales_edit")), [
      ROWS[0],
      { id: 2, name: "B", x: 2.5 },
      ROWS[2],
      { id: 4, name: "d", x: 4.5 },
    ]);
    await table.update({ id: [5], name: ["e"], x: [5.5] });
    await table.update("id,name,x\n6,f,6.5");
    await table.update('{"id":7,"name":"g","x":7.5}\n{"id":8,"name":"h","x":8.5}', {
      format: "ndjson",
    });
    const arrowSource = await perspective.table([{ id: 9, name: "i", x: 9.5 }]);
    const arrowView = await arrowSource.view();
    await table.update(await arrowView.to_arrow());
    await arrowView.delete();
    await arrowSource.delete();
    assert.deepEqual(
      (await apiRows(service, "sales_edit")).map((r) => (r as { id: number }).id).sort(),
      [1, 2, 3, 4, 5, 6, 7, 8, 9],
    );

    await table.remove([1, 3, 5]);
    assert.deepEqual(
      (await apiRows(service, "sales_edit")).map((r) => (r as { id: number }).id).sort(),
      [2, 4, 6, 7, 8, 9],
    );

    await table.replace([{ id: 10, name: "j", x: 10.5 }]);
    assert.deepEqual(await apiRows(service, "sales_edit"), [{ id: 10, name: "j", x: 10.5 }]);

    await table.clear();
    assert.deepEqual(await apiRows(service, "sales_edit"), []);
    assert.equal(await table.size(), 0);

    assert.deepEqual(events.map((e) => [e.op, e.format, e.status]), [
      ["update", "json", 200],
      ["update", "columns", 200],
      ["update", "csv", 200],
      ["update", "ndjson", 200],
      ["update", "arrow", 200],
      ["remove", "json", 200],
      ["replace", "json", 200],
      ["clear", "json", 200],
    ]);
    assert(events.every((e) => e.table === "sales_edit"));
    assert.equal(await metric(service, counted), before + 4);
  });
});

Deno.test("an edit that does not fit the table rejects in the client with the problem, changes nothing and leaves the session usable", async () => {
  await withWriter(async (service, client) => {
    await service.host.createTable("sales_strict", ROWS, { index: "id" });
    const events = editEvents(service);
    const table = await client.open_table("sales_strict");
    const cases: [() => Promise<unknown>, RegExp][] = [
      [
        () => table.update([{ id: 4, name: "d", x: 4.5 }, { id: 5, x: "five" }]),
        /refused: .*row 1.*"x".*\(status 422\)/,
      ],
      [() => table.update([{ id: 4, colour: "red" }]), /refused: .*colour.*\(status 422\)/],
      [() => table.update({ id: [4], x: ["nope"] }), /refused: .*"x".*\(status 422\)/],
      [() => table.update("id,name,x\n4,d,not a number"), /refused: .*\(status 422\)/],
      [() => table.update("id,colour\n4,red"), /refused: .*colour.*\(status 422\)/],
      [
        () => table.update("{not json", { format: "ndjson" }),
        /refused: line 1: malformed JSON.*\(status 400\)/,
      ],
      [() => table.remove(["one"]), /refused: key 0: expected an integer.*\(status 422\)/],
      [
        () => table.replace([{ id: 9, name: "z", x: 1 }, { id: 10, x: "ten" }]),
        /refused: .*row 1.*\(status 422\)/,
      ],
      [
        () => table.update([{ __INDEX__: 1, id: 2, name: "moved" }]),
        /refused: row 0: the index column "id" cannot be edited in place \(status 422\)/,
      ],
    ];
    for (const [edit, message] of cases) {
      await assert.rejects(edit, message);
      assert.deepEqual(byId(await apiRows(service, "sales_strict")), ROWS);
    }
    // The last case is refused before the sink, while the datagrid's key is mapped to the index.
    assert.equal(events.length, cases.length - 1);
    assert(events.every((e) => e.status >= 400 && e.rows === 0 && e.error));
    // The session goes on: a good edit after the refusals applies.
    await table.update([{ id: 1, name: "ok" }]);
    assert.deepEqual((await apiRows(service, "sales_strict"))[0], { ...ROWS[0], name: "ok" });
  });
});

Deno.test("a read-only session's edits are still refused before the sink", async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("sales_ro", ROWS, { index: "id" });
    const events = editEvents(service);
    const client = await perspective.websocket(wsUrl(service, READER));
    try {
      const table = await client.open_table("sales_ro");
      const refused = /refused: no write access to table "sales_ro"/;
      await assert.rejects(() => table.update([{ id: 4, name: "d", x: 4.5 }]), refused);
      await assert.rejects(() => table.clear(), refused);
      assert.deepEqual(byId(await apiRows(service, "sales_ro")), ROWS);
      assert.equal(events.length, 0);
    } finally {
      await client.terminate();
    }
  });
});

Deno.test("a writer's edit of a table outside its patterns is refused before the sink", async () => {
  await withWriter(async (service, client) => {
    await service.host.createTable("other", ROWS, { index: "id" });
    const events = editEvents(service);
    const table = await client.open_table("other");
    await assert.rejects(
      () => table.update([{ id: 1, name: "no" }]),
      /refused: no write access to table "other"/,
    );
    assert.deepEqual(byId(await apiRows(service, "other")), ROWS);
    assert.equal(events.length, 0);
  });
});

Deno.test("a table the session created for itself is edited in the engine directly, outside the sink", async () => {
  await withWriter(async (service, client) => {
    const events = editEvents(service);
    const mine = await client.table(ROWS, { name: "sales_mine", index: "id" });
    await mine.update([{ id: 4, name: "d", x: 4.5 }]);
    await mine.remove([1]);
    // The engine holds updates until its next poll, but a replace acts at once; reading
    // the rows (which flushes) keeps this test about the route, not that ordering.
    assert.deepEqual(byId(await apiRows(service, "sales_mine")), [ROWS[1], ROWS[2], {
      id: 4,
      name: "d",
      x: 4.5,
    }]);
    await mine.replace([{ id: 7, name: "g", x: 7.5 }]);
    await mine.update([{ id: 8, name: "h", x: 8.5 }]);
    assert.deepEqual(byId(await apiRows(service, "sales_mine")), [
      { id: 7, name: "g", x: 7.5 },
      { id: 8, name: "h", x: 8.5 },
    ]);
    await mine.clear();
    assert.equal(await mine.size(), 0);
    assert.equal(events.length, 0);
    // Another writer's session edits it in the engine too: it is not a durable table.
    const other = await perspective.websocket(wsUrl(service, WRITER));
    try {
      const theirs = await other.open_table("sales_mine");
      await theirs.update([{ id: 9, name: "i", x: 9.5 }]);
      assert.deepEqual(await apiRows(service, "sales_mine"), [{ id: 9, name: "i", x: 9.5 }]);
    } finally {
      await other.terminate();
    }
    assert.equal(events.length, 0);
  });
});

Deno.test("pipelined edits apply in the order sent, and a read sent after an edit sees it", async () => {
  await withWriter(async (service, client) => {
    await service.host.createTable("sales_order", [{ id: 1, v: -1 }], { index: "id" });
    const plain = await service.host.createTable("sales_log", { seq: "integer" });
    const table = await client.open_table("sales_order");
    const log = await client.open_table("sales_log");
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      sent.push(table.update([{ id: 1, v: i }]));
      sent.push(log.update([{ seq: i }]));
    }
    // Sent before any edit is answered: the client pipelines them on the socket.
    const size = log.size();
    const view = await table.view();
    const seen = await view.to_json();
    await Promise.all(sent);
    assert.equal(await size, 40);
    assert.deepEqual(seen, [{ id: 1, v: 39 }]);
    await view.delete();
    const logView = await plain.view();
    const order = (await logView.to_columns() as Record<string, unknown[]>).seq;
    await logView.delete();
    assert.deepEqual(order, Array.from({ length: 40 }, (_, i) => i));
    // An edit then a replace then an update, unawaited: the replace lands between them.
    const a = table.update([{ id: 2, v: 2 }]);
    const b = table.replace([{ id: 3, v: 3 }]);
    const c = table.update([{ id: 4, v: 4 }]);
    const after = table.size();
    await Promise.all([a, b, c]);
    assert.equal(await after, 2);
    assert.deepEqual(byId(await apiRows(service, "sales_order")), [{ id: 3, v: 3 }, {
      id: 4,
      v: 4,
    }]);
  });
});

Deno.test("a viewer's cell edit (datagrid style: __INDEX__ on its edit port) updates the row by its index", async () => {
  await withWriter(async (service, client) => {
    await service.host.createTable("sales_grid", ROWS, { index: "id" });
    await service.host.createTable("sales_noindex", [{ name: "a", x: 1 }]);
    const events = editEvents(service);
    const table = await client.open_table("sales_grid");
    const view = await table.view();
    const ports: number[] = [];
    view.on_update(({ port_id }: { port_id: number }) => void ports.push(port_id));
    // What perspective-viewer-datagrid 3.8 sends for an edited cell.
    const port = await table.make_port();
    assert(port > 0);
    await table.update([{ __INDEX__: 2, name: "edited" }], { port_id: port });
    await table.update([{ __INDEX__: 3, x: 0.25 }], { port_id: port });
    assert.deepEqual(byId(await apiRows(service, "sales_grid")), [
      ROWS[0],
      { id: 2, name: "edited", x: 2.5 },
      { id: 3, name: "c", x: 0.25 },
    ]);
    assert.equal(await table.size(), 3);
    // Applied through the sink on the default port.
    await table.size();
    assert(ports.length >= 1 && ports.every((p) => p === 0), JSON.stringify(ports));
    await view.delete();
    assert.deepEqual(events.map((e) => [e.op, e.status]), [["update", 200], ["update", 200]]);
    // Without an index, __INDEX__ is the engine's row number, which a logged batch cannot name.
    const unindexed = await client.open_table("sales_noindex");
    await assert.rejects(
      () => unindexed.update([{ __INDEX__: 0, name: "edited" }], { port_id: port }),
      /refused: table "sales_noindex" has no index, so rows cannot be edited in place by __INDEX__.*\(status 422\)/,
    );
    assert.deepEqual(await apiRows(service, "sales_noindex"), [{ name: "a", x: 1 }]);
  });
});

Deno.test("an admin's table.delete() over the WebSocket drops a shared table through the sink; others' views are told", async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("sales_drop", ROWS, { index: "id" });
    const admin = await perspective.websocket(wsUrl(service, ADMIN));
    const reader = await perspective.websocket(wsUrl(service, READER));
    try {
      const watched = await reader.open_table("sales_drop");
      const view = await watched.view();
      let told = false;
      await watched.on_delete(() => void (told = true));
      const table = await admin.open_table("sales_drop");
      await table.delete();
      assert.deepEqual(await service.host.tableNames(), []);
      const res = await fetch(new URL("api/tables/sales_drop", service.url), {
        headers: { authorization: `Bearer ${READER}` },
      });
      assert.equal(res.status, 404);
      await res.body?.cancel();
      await waitFor("the reader's on_delete", () => told);
      await assert.rejects(() => view.to_json());
      // A session's own table is still dropped in the engine by its session.
      const mine = await admin.table(ROWS, { name: "sales_own_drop", index: "id" });
      await mine.delete();
      assert.deepEqual(await service.host.tableNames(), []);
    } finally {
      await reader.terminate();
      await admin.terminate();
    }
    // A drop of a table that is not there is a not-found server error.
    const ws = await openSocket(wsUrl(service, ADMIN));
    try {
      const reply = await answer(ws, request(7, "sales_drop", Req.TABLE_DELETE, []));
      assert.match(new TextDecoder().decode(reply.get(50)), /no table named "sales_drop".*404/);
    } finally {
      await closeSocket(ws);
    }
  });
});
