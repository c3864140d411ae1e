import assert from "node:assert/strict";
import { type Service, startService } from "../../src/service.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { EngineHost } from "../../src/engine/host.ts";
import { createHandler } from "../../src/server/handler.ts";
import { BatchSink } from "../../src/ingest/sink.ts";
import { handleSignals, InFlight } from "../../src/ops/shutdown.ts";
import { CLOSE_GOING_AWAY } from "../../src/ops/connections.ts";
import { waitFor } from "../support/wait.ts";
import { columnsOf } from "../support/columns.ts";

const ROWS_PER_BATCH = 20_000;

/**
 * The engine stays on this thread: these tests read the tables after the
 * drain, and an engine in a Worker stops with the drain.
 */
function start(drainSeconds = 20): Promise<Service> {
  return startService({
    port: 0,
    demo: false,
    log: silentLogger,
    drainSeconds,
    engineWorker: false,
  });
}

type Outcome = { batch: number; result: "acked" | "refused" | "failed" };

/** Posts batches in a loop until one is refused or fails, or `stop` says so. */
async function writer(
  url: string,
  first: number,
  step: number,
  outcomes: Outcome[],
  stop: () => boolean,
): Promise<void> {
  for (let batch = first; !stop(); batch += step) {
    const rows = Array.from({ length: ROWS_PER_BATCH }, (_, i) => ({ batch, i }));
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(rows),
      });
      const body = await res.text();
      if (res.status === 200) {
        assert.equal(JSON.parse(body).rows, ROWS_PER_BATCH);
        outcomes.push({ batch, result: "acked" });
      } else {
        assert.equal(res.status, 503, body);
        assert.equal(res.headers.get("retry-after"), "1");
        outcomes.push({ batch, result: "refused" });
        return;
      }
    } catch {
      // The connection closed under the request: its outcome is unknown to the client.
      outcomes.push({ batch, result: "failed" });
      return;
    }
  }
}

Deno.test("drain() under ingest load closes sockets with 1001, finishes in-flight batches and leaves none half-applied", async () => {
  const service = await start();
  const table = await service.host.createTable("load", { batch: "integer", i: "integer" });
  const wsUrl = new URL("websocket", service.url).href.replace(/^http/, "ws");
  const codes: number[] = [];
  const urls = [wsUrl, wsUrl, wsUrl];
  const sockets = await Promise.all(
    urls.map((url) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.onopen = () => resolve(ws);
        ws.onerror = () => reject(new Error("socket failed"));
        ws.onclose = (e) => codes.push(e.code);
      })
    ),
  );
  const outcomes: Outcome[] = [];
  let drained = false;
  const url = new URL("api/tables/load/rows", service.url).href;
  const writers = [0, 1, 2, 3].map((k) => writer(url, k, 4, outcomes, () => drained));
  await waitFor("some batches acknowledged", () => outcomes.length >= 12);
  const ready = await fetch(new URL("readyz", service.url));
  assert.equal(ready.status, 200);
  await ready.body?.cancel();
  // Drain while batches are in flight, which is the point of the test.
  await waitFor("a batch in flight", () => service.metrics.requestsInFlight > 0, { interval: 1 });
  const inflightAtStart = service.metrics.requestsInFlight;
  const ackedBefore = outcomes.length;
  const result = await service.drain(20_000);
  drained = true;
  await Promise.all(writers);
  console.log(
    `drain under ingest load: ${result.ms} ms; batches in flight at the signal: ${inflightAtStart}, ` +
      `acked before the drain: ${ackedBefore}, ` +
      `after: ${outcomes.filter((o) => o.result === "acked").length - ackedBefore}`,
  );

  assert.equal(result.clean, true);
  assert.equal(result.inflight, 0);
  assert.equal(result.socketsLeft, 0);
  await waitFor("every socket closed", () => codes.length === sockets.length);
  assert.deepEqual(codes, [CLOSE_GOING_AWAY, CLOSE_GOING_AWAY, CLOSE_GOING_AWAY]);

  // Every batch in the table is whole; every acknowledged batch is there.
  const view = await table.view({
    group_by: ["batch"],
    columns: ["i"],
    aggregates: { i: "count" },
  });
  const cols = await view.to_columns() as Record<string, unknown[]>;
  await view.delete();
  const counts = new Map<number, number>();
  (cols.__ROW_PATH__ as unknown[][]).forEach((path, k) => {
    if (path.length === 1) counts.set(path[0] as number, cols.i[k] as number);
  });
  for (const [batch, n] of counts) assert.equal(n, ROWS_PER_BATCH, `batch ${batch} is partial`);
  const acked = outcomes.filter((o) => o.result === "acked");
  for (const o of acked) assert.equal(counts.get(o.batch), ROWS_PER_BATCH, `acked ${o.batch}`);
  for (const o of outcomes.filter((o) => o.result === "refused")) {
    assert.equal(counts.has(o.batch), false, `refused batch ${o.batch} was applied`);
  }
  assert.equal(await table.size(), counts.size * ROWS_PER_BATCH);
  assert.ok(acked.length >= 12);

  // The listener is gone: new connections are refused.
  await assert.rejects(fetch(new URL("healthz", service.url)));
  await service.close();
});

Deno.test("drain() closes protocol sessions and broadcast subscribers with 1001", async () => {
  const service = await start();
  await service.host.createTable("t", { x: "integer" });
  const wsUrl = new URL("websocket", service.url).href.replace(/^http/, "ws");
  const codes = new Map<string, number>();
  const open = (name: string, url: string) =>
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`${name} failed`));
      ws.onclose = (e) => codes.set(name, e.code);
    });
  await open("session", wsUrl);
  await open("broadcast", `${wsUrl}/broadcast/t`);
  await waitFor("both sockets counted", () => service.metrics.connections.size === 2);
  const result = await service.drain(20_000);
  assert.equal(result.socketsLeft, 0);
  await waitFor("both sockets closed", () => codes.size === 2);
  assert.deepEqual(Object.fromEntries(codes), {
    session: CLOSE_GOING_AWAY,
    broadcast: CLOSE_GOING_AWAY,
  });
});

Deno.test("InFlight refuses writes and upgrades with 503 while draining and still serves reads", async () => {
  const host = await EngineHost.create();
  const sink = new BatchSink(host);
  try {
    const inflight = new InFlight();
    const handler = createHandler({ host, inflight, sink });
    await host.createTable("t", { x: "integer" });
    inflight.startDraining();
    const post = await handler(
      new Request("http://localhost/api/tables/t/rows", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '[{"x": 1}]',
      }),
    );
    assert.equal(post.status, 503);
    assert.equal(post.headers.get("content-type"), "application/problem+json");
    assert.equal(post.headers.get("retry-after"), "1");
    assert.equal(post.headers.get("connection"), "close");
    assert.equal((await post.json()).status, 503);
    const upgrade = await handler(
      new Request("http://localhost/websocket", { headers: { upgrade: "websocket" } }),
    );
    assert.equal(upgrade.status, 503);
    await upgrade.body?.cancel();
    const read = await handler(new Request("http://localhost/api/tables/t"));
    assert.equal(read.status, 200);
    assert.equal((await read.json()).size, 0);
  } finally {
    await sink.close();
    host.close();
  }
});

Deno.test("InFlight refuses every write with 503 while draining, leaving the tables as they were", async () => {
  const host = await EngineHost.create();
  const sink = new BatchSink(host);
  try {
    const inflight = new InFlight();
    const handler = createHandler({ host, inflight, sink });
    const send = (method: string, path: string, body?: string) =>
      handler(
        new Request(`http://localhost${path}`, {
          method,
          headers: body === undefined ? {} : { "content-type": "application/json" },
          body,
        }),
      );
    const table = await host.createTable("t", [{ id: 1, x: 10 }, { id: 2, x: 20 }], {
      index: "id",
    });
    const snapshot = () => columnsOf(host, table);
    const before = await snapshot();
    assert.deepEqual(before, { id: [1, 2], x: [10, 20] });
    inflight.startDraining();
    const writes: [string, string, string?][] = [
      ["POST", "/api/tables/t/rows", '[{"id": 1, "x": 99}, {"id": 3, "x": 30}]'],
      ["PUT", "/api/tables/t/rows", '[{"id": 4, "x": 40}]'],
      ["DELETE", "/api/tables/t/rows", "[1, 2]"],
      ["DELETE", "/api/tables/t/rows"],
      ["POST", "/api/tables/fresh/rows", '[{"id": 1}]'],
      ["PUT", "/api/tables/fresh", '{"schema": {"id": "integer"}}'],
      ["DELETE", "/api/tables/t"],
    ];
    for (const [method, path, body] of writes) {
      const res = await send(method, path, body);
      assert.equal(res.status, 503, `${method} ${path}`);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      assert.equal((await res.json()).status, 503);
      assert.deepEqual(await snapshot(), before, `${method} ${path} changed t`);
      assert.deepEqual(await host.tableNames(), ["t"], `${method} ${path}`);
    }
  } finally {
    await sink.close();
    host.close();
  }
});

/** Starts a POST whose body is sent in two parts; `finish()` sends the second. */
function slowUpload(url: string, first: string, rest: string) {
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      ctl = c;
      c.enqueue(new TextEncoder().encode(first));
    },
  });
  const client = new AbortController();
  const response = fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    signal: client.signal,
  }).then(
    async (r) => ({
      status: r.status,
      connection: r.headers.get("connection"),
      body: await r.text(),
    }),
    () => undefined,
  );
  return {
    response,
    finish() {
      ctl.enqueue(new TextEncoder().encode(rest));
      ctl.close();
    },
    abort: () => client.abort(),
  };
}

function inflightIs(service: Service, n: number): boolean {
  return service.metrics.requestsInFlight === n;
}

Deno.test("drain() waits for a batch still uploading, applies and acknowledges it", async () => {
  const service = await start();
  const table = await service.host.createTable("t", { x: "integer" });
  const upload = slowUpload(
    new URL("api/tables/t/rows", service.url).href,
    '[{"x": 1},',
    '{"x": 2}]',
  );
  await waitFor("the upload in flight", () => inflightIs(service, 1));
  const drained = service.drain(20_000);
  await waitFor("not ready", async () => {
    const res = await fetch(new URL("readyz", service.url));
    await res.body?.cancel();
    return res.status === 503;
  });
  upload.finish();
  const res = await upload.response;
  assert.equal(res?.status, 200);
  assert.equal(res?.connection, "close");
  assert.equal(JSON.parse(res!.body).rows, 2);
  const result = await drained;
  assert.equal(result.clean, true);
  assert.equal(await table.size(), 2);
});

Deno.test("drain() gives up at its bound when a request never finishes, and the batch fails whole", async () => {
  const service = await start();
  const table = await service.host.createTable("t", { x: "integer" });
  const upload = slowUpload(new URL("api/tables/t/rows", service.url).href, '[{"x": 1},', "");
  await waitFor("the upload in flight", () => inflightIs(service, 1));
  const result = await service.drain(600);
  assert.equal(result.clean, false);
  assert.equal(result.inflight, 1);
  assert.ok(result.ms >= 550 && result.ms < 5000, `${result.ms} ms`);
  upload.abort();
  const res = await upload.response;
  assert.notEqual(res?.status, 200);
  assert.equal(await table.size(), 0);
});

Deno.test("drain() keeps the listener open until writes stop arriving, refusing them with 503", async () => {
  const service = await start();
  await service.host.createTable("t", { x: "integer" });
  const url = new URL("api/tables/t/rows", service.url);
  const write = () =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '[{"x": 1}]',
    });
  // A write just before the signal, as from a busy client.
  const before = await write();
  assert.equal(before.status, 200);
  await before.body?.cancel();
  let done = false;
  // A long quiet period keeps the test clear of a loaded machine's delays.
  const drained = service.drain(20_000, 2000).then((r) => {
    done = true;
    return r;
  });
  // Each refused write restarts the quiet period, so the listener stays open.
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await write();
    statuses.push(res.status);
    assert.equal(res.headers.get("connection"), "close");
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(statuses, [503, 503, 503, 503, 503]);
  assert.equal(done, false);
  const t0 = performance.now();
  const result = await drained;
  assert.equal(result.clean, true);
  assert.ok(performance.now() - t0 < 5000);
  assert.equal(await service.host.table("t").then((t) => t!.size()), 1);
});

Deno.test("handleSignals() drains on the first signal and exits 0; a second exits at once", async () => {
  const listeners = new Map<string, () => void>();
  const exits: number[] = [];
  let finish!: (r: { clean: boolean; ms: number; inflight: number; socketsLeft: number }) => void;
  let drains = 0;
  handleSignals({
    drain: () => {
      drains++;
      return new Promise((r) => finish = r);
    },
    log: silentLogger,
    exit: (code) => void exits.push(code),
    listen: (signal, fn) => void listeners.set(signal, fn),
  });
  assert.deepEqual([...listeners.keys()], ["SIGTERM", "SIGINT"]);
  listeners.get("SIGTERM")!();
  assert.equal(drains, 1);
  assert.deepEqual(exits, []);
  listeners.get("SIGINT")!();
  assert.deepEqual(exits, [130]);
  assert.equal(drains, 1);
  finish({ clean: true, ms: 5, inflight: 0, socketsLeft: 0 });
  await waitFor("the exit after the drain", () => exits.length === 2);
  assert.deepEqual(exits, [130, 0]);
});

Deno.test("handleSignals() exits 1 when the drain hits its bound", async () => {
  const listeners = new Map<string, () => void>();
  const exits: number[] = [];
  handleSignals({
    drain: () => Promise.resolve({ clean: false, ms: 10_000, inflight: 2, socketsLeft: 0 }),
    log: silentLogger,
    exit: (code) => void exits.push(code),
    listen: (signal, fn) => void listeners.set(signal, fn),
  });
  listeners.get("SIGINT")!();
  await waitFor("the exit", () => exits.length === 1);
  assert.deepEqual(exits, [1]);
});
