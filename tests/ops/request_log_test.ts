import assert from "node:assert/strict";
import { createLogger, type LogLevel } from "../../src/ops/log.ts";
import { withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";

function capture(level: LogLevel = "info") {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const log = createLogger(level, (line) => {
    raw.push(line);
    lines.push(JSON.parse(line));
  });
  return { log, lines, raw, requests: () => lines.filter((l) => l.msg === "request") };
}

Deno.test("withRequestLog() writes one line per request with method, path, status, duration and bytes", async () => {
  const out = capture();
  await withService({ demo: false, log: out.log }, async (service) => {
    const page = await fetch(new URL("static/style.css", service.url), {
      headers: { "accept-encoding": "identity" },
    });
    const pageBytes = (await page.arrayBuffer()).byteLength;
    const api = await fetch(new URL("api/tables", service.url));
    const apiBytes = (await api.arrayBuffer()).byteLength;
    const missing = await fetch(new URL("api/tables/nope", service.url));
    const missingBytes = (await missing.arrayBuffer()).byteLength;
    await waitFor("three request lines", () => out.requests().length >= 3);
    const [a, b, c] = out.requests();
    assert.deepEqual({ ...a, time: 0, duration_ms: 0 }, {
      time: 0,
      level: "info",
      msg: "request",
      method: "GET",
      path: "/static/style.css",
      status: 200,
      duration_ms: 0,
      bytes: pageBytes,
    });
    assert.equal(typeof a.duration_ms, "number");
    assert.ok((a.duration_ms as number) >= 0);
    assert.deepEqual([b.path, b.status, b.bytes], ["/api/tables", 200, apiBytes]);
    assert.deepEqual([c.path, c.status, c.bytes], ["/api/tables/nope", 404, missingBytes]);
    assert.equal(out.requests().length, 3);
  });
});

Deno.test("withRequestLog() never logs the query string, which may carry a token", async () => {
  const out = capture("debug");
  await withService({ demo: false, log: out.log }, async (service) => {
    const secret = "s3cr3t-token-value";
    for (const path of [`api/tables?token=${secret}`, `healthz?access_token=${secret}`]) {
      const res = await fetch(new URL(path, service.url));
      await res.body?.cancel();
    }
    const ws = new WebSocket(
      new URL(`websocket?token=${secret}`, service.url).href.replace(/^http/, "ws"),
    );
    await new Promise((r) => ws.onopen = r);
    ws.close();
    await new Promise((r) => ws.onclose = r);
    await waitFor("three request lines", () => out.requests().length >= 3);
    assert.deepEqual(out.requests().map((l) => l.path), ["/api/tables", "/healthz", "/websocket"]);
    assert.equal(out.requests()[2].status, 101);
    assert.ok(out.raw.every((line) => !line.includes(secret)));
  });
});

Deno.test("withRequestLog() logs probes and scrapes at debug, their failures at info", async () => {
  const out = capture("info");
  await withService({ demo: false, log: out.log }, async (service) => {
    for (const path of ["healthz", "readyz", "metrics"]) {
      const res = await fetch(new URL(path, service.url));
      await res.body?.cancel();
    }
    service.readiness.markDraining();
    const res = await fetch(new URL("readyz", service.url));
    await res.body?.cancel();
    const head = await fetch(new URL("api/tables", service.url), { method: "HEAD" });
    await head.body?.cancel();
    await waitFor("two request lines", () => out.requests().length >= 2);
    assert.deepEqual(
      out.requests().map((l) => [l.method, l.path, l.status, l.bytes]),
      [["GET", "/readyz", 503, out.requests()[0].bytes as number], ["HEAD", "/api/tables", 200, 0]],
    );
    assert.ok((out.requests()[0].bytes as number) > 0);
  });
});
