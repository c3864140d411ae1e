import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import type { Service } from "../../src/service.ts";
import type { IngestEvent } from "../../src/ingest/sink.ts";
import type { Client } from "../../src/engine/perspective.ts";
import { Req } from "../../src/protocol/messages.ts";
import { waitFor } from "../support/wait.ts";
import { fields, pushBytes, pushVarintField } from "../../src/protocol/wire.ts";
import { startService } from "../../src/service.ts";
import { createLogger } from "../../src/ops/log.ts";
import {
  CLOSE_BACKLOG,
  MAX_WAITING_MESSAGES_OF_MAX_SIZE,
  MAX_WAITING_REQUESTS,
} from "../../src/security/mod.ts";
import {
  ADMIN,
  closed,
  closeSocket,
  configFrom,
  openSocket,
  READER,
  tokensEnv,
  withSecuredService,
  WRITER,
  wsUrl,
} from "./helpers.ts";

const ROWS = [{ id: 1, name: "a", x: 1.5 }, { id: 2, name: "b", x: 2.5 }, {
  id: 3,
  name: "c",
  x: 3.5,
}];

/** The table's rows as the HTTP API exports them. */
async function apiRows(service: Service, table: string): Promise<unknown[]> {
  const res = await fetch(new URL(`api/tables/${table}/rows?format=json`, service.url), {
    headers: { authorization: `Bearer ${READER}` },
  });
  assert.equal(res.status, 200, await res.clone().text());
  return await res.json();
}

function byId(rows: unknown[]): unknown[] {
  return [...rows].sort((a, b) => (a as { id: number }).id - (b as { id: number }).id);
}

/** Records the sink's events from WebSocket edits. */
function editEvents(service: Service): IngestEvent[] {
  const events: IngestEvent[] = [];
  service.sink.listen((e) => e.source === "websocket" && events.push(e));
  return events;
}

async function withWriter(
  fn: (service: Service, client: Client) => Promise<void>,
): Promise<void> {
  await withSecuredService({}, async (service) => {
    const client = await perspective.websocket(wsUrl(service, WRITER));
    try {
      await fn(service, client);
    } finally {
      await client.terminate();
    }
  });
}

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

/** Encodes a `Request` whose `client_req` member `kind` holds `body`. */
function request(msgId: number, entityId: string, kind: number, body: number[]): Uint8Array {
  const out: number[] = [];
  pushVarintField(out, 1, msgId);
  pushBytes(out, 2, new TextEncoder().encode(entityId));
  pushBytes(out, kind, body);
  return new Uint8Array(out);
}

/** `TableUpdateReq { data: MakeTableData { <member>: bytes } }`. */
function updateWith(member: number, bytes: Uint8Array): number[] {
  const data: number[] = [];
  pushBytes(data, member, bytes);
  const body: number[] = [];
  pushBytes(body, 1, data);
  return body;
}

function nextMessage(ws: WebSocket): Promise<Uint8Array> {
  return new Promise((resolve) => {
    ws.addEventListener("message", (e) => resolve(new Uint8Array(e.data)), { once: true });
  });
}

async function answer(ws: WebSocket, bytes: Uint8Array): Promise<Map<number, Uint8Array>> {
  const reply = nextMessage(ws);
  ws.send(bytes);
  const out = new Map<number, Uint8Array>();
  for (const f of fields(await reply)) {
    out.set(f.no, f.bytes.length ? f.bytes : new Uint8Array([f.int]));
  }
  return out;
}

Deno.test("edits the service does not take over the protocol get a server error naming why", async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("sales_raw", ROWS, { index: "id" });
    const ws = await openSocket(wsUrl(service, WRITER));
    try {
      const text = (s: string) => new TextEncoder().encode(s);
      const cases: [number[], RegExp][] = [
        [updateWith(6, text("some_view")), /an edit from a view is not supported/],
        [updateWith(1, new Uint8Array()), /an edit from a schema is not supported/],
        [[], /the edit carries no data/],
        [updateWith(4, text('[{"x":' + "[".repeat(40) + "]".repeat(40) + "}]")), /deeper than/],
        [
          updateWith(4, text(`[{"__INDEX__":1,"x":${"[".repeat(40)}${"]".repeat(40)}}]`)),
          /deeper than/,
        ],
      ];
      let id = 1;
      for (const [body, message] of cases) {
        const reply = await answer(ws, request(id, "sales_raw", Req.TABLE_UPDATE, body));
        assert.equal(reply.get(1)?.[0], id);
        assert.equal(new TextDecoder().decode(reply.get(2)), "sales_raw");
        const error = reply.get(50);
        assert(error, "a server error");
        assert.match(new TextDecoder().decode(error), message);
        id++;
      }
      // A good one is answered with the update response, same msg_id and entity_id.
      const ok = await answer(
        ws,
        request(id, "sales_raw", Req.TABLE_UPDATE, updateWith(4, text('[{"id":1,"x":0}]'))),
      );
      assert.equal(ok.get(1)?.[0], id);
      assert(ok.has(Req.TABLE_UPDATE));
      assert(!ok.has(50));
      assert.deepEqual((await apiRows(service, "sales_raw"))[0], { id: 1, name: "a", x: 0 });
      // An edit of a missing table is a not-found server error.
      const missing = await answer(
        ws,
        request(id + 1, "sales_none", Req.TABLE_UPDATE, updateWith(4, text('[{"id":1}]'))),
      );
      assert.match(new TextDecoder().decode(missing.get(50)), /no table named "sales_none".*404/);
    } finally {
      await closeSocket(ws);
    }
  });
});

Deno.test("an edit's data past the ingest decoded-size limit is refused with 413 and changes nothing", async () => {
  await withWriter(async (service, client) => {
    await service.host.createTable("sales_big", ROWS, { index: "id" });
    const events = editEvents(service);
    const table = await client.open_table("sales_big");
    const row = JSON.stringify([{ id: 4, name: "d".repeat(200), x: 4.5 }]);
    // Each service copies the limits, so this changes only the one under test.
    service.sink.limits.maxDecodedBytes = row.length - 1;
    await assert.rejects(
      () => table.update(row, { format: "json" }),
      new RegExp(
        `refused: the edit's data is larger than the ${row.length - 1}-byte limit \\(status 413\\)`,
      ),
    );
    assert.deepEqual(byId(await apiRows(service, "sales_big")), ROWS);
    service.sink.limits.maxDecodedBytes = row.length;
    await table.update(row, { format: "json" });
    assert.equal((await apiRows(service, "sales_big")).length, 4);
    assert.deepEqual(events.map((e) => e.status), [200]);
  });
});

Deno.test("edits share the token's ingest rate limit with HTTP batches", async () => {
  await withSecuredService(
    { limits: { ingestRequestsPerSecond: 0.001, ingestBurst: 2 } },
    async (service) => {
      await service.host.createTable("sales_rate", ROWS, { index: "id" });
      const client = await perspective.websocket(wsUrl(service, WRITER));
      try {
        const table = await client.open_table("sales_rate");
        await table.update([{ id: 4, name: "d", x: 4.5 }]);
        await table.update([{ id: 5, name: "e", x: 5.5 }]);
        await assert.rejects(
          () => table.update([{ id: 6, name: "f", x: 6.5 }]),
          /refused: ingest rate limit reached; retry in \d+ s \(status 429\)/,
        );
        assert.deepEqual(
          (await apiRows(service, "sales_rate")).map((r) => (r as { id: number }).id).sort(),
          [1, 2, 3, 4, 5],
        );
        // The same bucket: the token's next HTTP batch is refused too.
        const res = await fetch(new URL("api/tables/sales_rate/rows", service.url), {
          method: "POST",
          headers: { authorization: `Bearer ${WRITER}`, "content-type": "application/json" },
          body: JSON.stringify([{ id: 7, name: "g", x: 7.5 }]),
        });
        assert.equal(res.status, 429);
        await res.body?.cancel();
        // A session's own table is not ingest and is not limited.
        const mine = await client.table(ROWS, { name: "sales_own", index: "id" });
        await mine.update([{ id: 4, name: "d", x: 4.5 }]);
        assert.equal((await apiRows(service, "sales_own")).length, 4);
      } finally {
        await client.terminate();
      }
    },
  );
});

Deno.test("an edit the sink fails on rejects in the client without the server's details, and the session goes on", async () => {
  const logged: string[] = [];
  const log = createLogger("warn", (line) => void logged.push(line));
  const security = await configFrom({ TOKENS: await tokensEnv() });
  const service = await startService({ port: 0, demo: false, log, security });
  try {
    await service.host.createTable("sales_fault", ROWS, { index: "id" });
    // The seam: the service's own sink, failing as a broken batch log would.
    let failing = false;
    const submit = service.sink.submit.bind(service.sink);
    service.sink.submit = (batch, source) =>
      failing
        ? Promise.reject(new Error("disk on fire at /var/secret/path"))
        : submit(batch, source);
    const client = await perspective.websocket(wsUrl(service, WRITER));
    try {
      const table = await client.open_table("sales_fault");
      failing = true;
      const error = await table.update([{ id: 4, name: "d", x: 4.5 }]).then(
        () => assert.fail("the edit was acknowledged"),
        (err: Error) => err.message,
      );
      assert.match(error, /the edit failed on the server \(status 500\)/);
      assert.doesNotMatch(error, /secret/);
      assert(logged.some((l) => l.includes("disk on fire")), "the cause is logged");
      assert.deepEqual(byId(await apiRows(service, "sales_fault")), ROWS);
      failing = false;
      await table.update([{ id: 4, name: "d", x: 4.5 }]);
      assert.equal(await table.size(), 4);
    } finally {
      await client.terminate();
    }
  } finally {
    await service.close();
  }
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

/** Holds every sink submission until released: a seam for a slow log. */
function holdSink(service: Service): { hold(): void; release(): void } {
  let held: PromiseWithResolvers<void> | undefined;
  const submit = service.sink.submit.bind(service.sink);
  service.sink.submit = async (batch, source) => {
    await held?.promise;
    return await submit(batch, source);
  };
  return {
    hold: () => void (held = Promise.withResolvers()),
    release: () => held?.resolve(),
  };
}

/** Counts the messages a socket receives. */
function counter(ws: WebSocket): { count: number } {
  const c = { count: 0 };
  ws.addEventListener("message", () => c.count++);
  return c;
}

Deno.test(`requests waiting behind an unanswered edit are capped at ${MAX_WAITING_REQUESTS}; one more closes the socket with 1013`, async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("sales_wait", ROWS, { index: "id" });
    const sink = holdSink(service);
    const edit = (id: number) =>
      request(id, "sales_wait", Req.TABLE_UPDATE, updateWith(4, new TextEncoder().encode("[]")));
    const size = (id: number) => request(id, "sales_wait", Req.TABLE_SIZE, []);
    // At the cap: everything waits, then everything is answered.
    const ws = await openSocket(wsUrl(service, WRITER));
    const got = counter(ws);
    sink.hold();
    ws.send(edit(1));
    for (let i = 2; i <= MAX_WAITING_REQUESTS; i++) ws.send(size(i));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(got.count, 0);
    sink.release();
    await waitFor("every answer", () => got.count === MAX_WAITING_REQUESTS);
    assert.equal(ws.readyState, WebSocket.OPEN);
    // One past it: the socket is closed, and the held edit still applies.
    sink.hold();
    const shut = closed(ws);
    ws.send(edit(1));
    for (let i = 2; i <= MAX_WAITING_REQUESTS + 1; i++) ws.send(size(i));
    assert.equal((await shut).code, CLOSE_BACKLOG);
    sink.release();
  });
});

Deno.test("bytes waiting behind an unanswered edit are capped at four messages of the largest size; more close the socket with 1013", async () => {
  const maxMessageBytes = 2000;
  await withSecuredService({ limits: { maxMessageBytes } }, async (service) => {
    await service.host.createTable("sales_bytes", [{ id: 1, s: "" }], { index: "id" });
    const sink = holdSink(service);
    const edit = (id: number) => {
      const body = JSON.stringify([{ id, s: "x".repeat(1850) }]);
      return request(
        id,
        "sales_bytes",
        Req.TABLE_UPDATE,
        updateWith(4, new TextEncoder().encode(body)),
      );
    };
    const n = Math.floor((maxMessageBytes * MAX_WAITING_MESSAGES_OF_MAX_SIZE) / edit(1).byteLength);
    assert(
      n >= 4 && edit(1).byteLength * (n + 1) > maxMessageBytes * MAX_WAITING_MESSAGES_OF_MAX_SIZE,
    );
    const ws = await openSocket(wsUrl(service, WRITER));
    const got = counter(ws);
    sink.hold();
    for (let i = 1; i <= n; i++) ws.send(edit(i));
    await new Promise((r) => setTimeout(r, 500));
    sink.release();
    await waitFor("every answer", () => got.count === n);
    assert.equal(await (await service.host.table("sales_bytes"))!.size(), n);
    sink.hold();
    const shut = closed(ws);
    for (let i = 1; i <= n + 1; i++) ws.send(edit(100 + i));
    assert.equal((await shut).code, CLOSE_BACKLOG);
    sink.release();
  });
});
