import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { Req } from "../../src/protocol/messages.ts";
import { waitFor } from "../support/wait.ts";
import { startService } from "../../src/service.ts";
import { createLogger } from "../../src/ops/log.ts";
import {
  CLOSE_BACKLOG,
  MAX_WAITING_MESSAGES_OF_MAX_SIZE,
  MAX_WAITING_REQUESTS,
} from "../../src/security/mod.ts";
import {
  closed,
  closeSocket,
  configFrom,
  openSocket,
  tokensEnv,
  withSecuredService,
  WRITER,
  wsUrl,
} from "./helpers.ts";
import {
  answer,
  apiRows,
  byId,
  counter,
  editEvents,
  holdSink,
  request,
  ROWS,
  updateWith,
  withWriter,
} from "./ws_edits_helpers.ts";

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
