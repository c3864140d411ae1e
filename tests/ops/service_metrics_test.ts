import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { websocketUrl, withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import { checkExposition, type ParsedFamily, sampleValue } from "./prometheus_rules.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../src/ops/metrics.ts";
import { ServiceMetrics } from "../../src/ops/service_metrics.ts";
import { engineUsedBytes } from "../../src/engine/memory.ts";

async function scrape(url: string): Promise<{ text: string; families: ParsedFamily[] }> {
  const res = await fetch(new URL("metrics", url));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
  const text = await res.text();
  return { text, families: checkExposition(text) };
}

function post(url: string, path: string, type: string, body: string) {
  return fetch(new URL(path, url), {
    method: "POST",
    headers: { "content-type": type },
    body,
  }).then(async (r) => ({ status: r.status, body: await r.text() }));
}

Deno.test("/metrics reflects the sessions, tables, ingest and delivery a test produced", async () => {
  await withService({ demo: false }, async (service) => {
    const url = service.url;
    const created = await fetch(new URL("api/tables/trades", url), {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ schema: { id: "integer", px: "float" } }),
    });
    assert.equal(created.status, 201);
    await created.body?.cancel();

    const clients = await Promise.all(
      [1, 2].map(() => perspective.websocket(websocketUrl(service))),
    );
    let updates = 0;
    const views = [];
    for (const c of clients) {
      const view = await (await c.open_table("trades")).view();
      await view.on_update(() => updates++);
      // A round trip proves the server registered the subscription.
      await view.num_rows();
      views.push(view);
    }

    const json = [{ id: 1, px: 1.5 }, { id: 2, px: 2.5 }, { id: 3, px: 3.5 }];
    const jsonBody = JSON.stringify(json);
    const csvBody = "id,px\n4,4.5\n5,5.5\n";
    const ndjsonBody = '{"id": 6, "px": 6.5}\n';
    const sent = [
      await post(url, "api/tables/trades/rows", "application/json", jsonBody),
      await post(url, "api/tables/trades/rows", "application/json", jsonBody),
      await post(url, "api/tables/trades/rows", "text/csv", csvBody),
      await post(url, "api/tables/trades/rows", "application/x-ndjson", ndjsonBody),
    ];
    assert.deepEqual(sent.map((r) => r.status), [200, 200, 200, 200]);
    const bad = await post(url, "api/tables/trades/rows", "application/json", '[{"id": "x"}]');
    assert.ok(bad.status >= 400 && bad.status < 500, bad.body);
    const unsupported = await post(url, "api/tables/trades/rows", "application/xml", "<a/>");
    assert.equal(unsupported.status, 415);
    await waitFor("viewers to see the batches", () => updates >= 2);

    const { text, families } = await scrape(url);
    const v = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(families, name, labels);
    assert.equal(v("perspective_ingest_requests_total", { format: "json", status: "200" }), 2);
    assert.equal(v("perspective_ingest_requests_total", { format: "csv", status: "200" }), 1);
    assert.equal(v("perspective_ingest_requests_total", { format: "ndjson", status: "200" }), 1);
    assert.equal(v("perspective_ingest_rows_total", { format: "json" }), 6);
    assert.equal(v("perspective_ingest_rows_total", { format: "csv" }), 2);
    assert.equal(v("perspective_ingest_rows_total", { format: "ndjson" }), 1);
    const badBytes = new TextEncoder().encode('[{"id": "x"}]').byteLength;
    assert.equal(
      v("perspective_ingest_bytes_total", { format: "json" }),
      2 * new TextEncoder().encode(jsonBody).byteLength + badBytes,
    );
    assert.equal(v("perspective_ingest_bytes_total", { format: "csv" }), csvBody.length);
    const errors = families.find((f) => f.name === "perspective_ingest_errors_total")!.metrics;
    assert.deepEqual(errors.map((m) => [m.labels?.format, m.labels?.status, m.value]), [
      ["json", String(bad.status), "1"],
    ]);
    assert.match(text, /^perspective_ingest_duration_seconds_count\{format="json"\} 3$/m);
    assert.match(text, /^perspective_delivery_latency_seconds_count [1-9]\d*$/m);
    assert.equal(v("perspective_http_requests_total", { method: "POST", status: "415" }), 1);
    assert.equal(v("perspective_http_requests_total", { method: "POST", status: "200" }), 4);
    assert.equal(v("perspective_http_requests_total", { method: "PUT", status: "201" }), 1);

    assert.equal(v("perspective_websocket_connections"), 2);
    assert.equal(v("perspective_websocket_connections_opened_total"), 2);
    assert.ok(v("perspective_websocket_sent_bytes_total")! > 0);
    assert.equal(v("perspective_sessions"), 2);
    assert.equal(v("perspective_tables"), 1);
    assert.equal(v("perspective_table_rows", { table: "trades" }), 9);
    assert.equal(v("perspective_rows"), 9);
    assert.ok(v("perspective_outbound_queue_bytes")! >= 0);
    assert.ok(v("perspective_engine_memory_bytes", { kind: "used" })! > 0);
    assert.ok(
      v("perspective_engine_memory_bytes", { kind: "heap" })! >=
        v("perspective_engine_memory_bytes", { kind: "used" })!,
    );
    assert.ok(v("perspective_process_memory_bytes", { kind: "rss" })! > 0);
    assert.ok(v("perspective_engine_polls_total", { productive: "true" })! >= 4);
    assert.match(text, /^perspective_engine_poll_duration_seconds_count [1-9]\d*$/m);
    assert.match(text, /^perspective_engine_poll_wait_seconds_count [1-9]\d*$/m);
    // No label carries a request's own text: only the fixed label sets appear.
    const labelNames = new Set(
      families.flatMap((f) => f.metrics.flatMap((m) => Object.keys(m.labels ?? {}))),
    );
    assert.deepEqual([...labelNames].sort(), [
      "format",
      "kind",
      "method",
      "productive",
      "rested",
      "status",
      "table",
    ]);

    for (const view of views) await view.delete();
    for (const c of clients) await c.terminate();
    await waitFor("sockets to close", async () => {
      const { families } = await scrape(url);
      return sampleValue(families, "perspective_websocket_connections") === 0 &&
        sampleValue(families, "perspective_sessions") === 0;
    });
  });
});

Deno.test("ServiceMetrics caps per-table series and folds unknown formats and methods", async () => {
  const metrics = new ServiceMetrics();
  const tables = Array.from(
    { length: 250 },
    (_, i) => ({ name: `t${String(i).padStart(3, "0")}`, size: 1 }),
  );
  metrics.watchHost({
    sessionCount: 0,
    listTables: () => Promise.resolve(tables),
    engineMemory: () => Promise.resolve({ heap: 10, used: engineUsedBytes(5) }),
  });
  metrics.observeIngest({ format: 'xml; evil="1"', status: 415, seconds: 0.001 });
  metrics.observeHttp("BREW", 418, 0.001);
  const text = await metrics.registry.render();
  const families = checkExposition(text);
  assert.equal(families.find((f) => f.name === "perspective_table_rows")!.metrics.length, 200);
  assert.equal(sampleValue(families, "perspective_rows"), 250);
  assert.equal(sampleValue(families, "perspective_tables"), 250);
  assert.equal(
    sampleValue(families, "perspective_ingest_errors_total", { format: "other", status: "415" }),
    1,
  );
  assert.equal(
    sampleValue(families, "perspective_http_requests_total", { method: "OTHER", status: "418" }),
    1,
  );
  assert.ok(!text.includes("evil"));
});
