import assert from "node:assert/strict";
import { EngineHost } from "../../src/engine/host.ts";
import { createHandler } from "../../src/server/handler.ts";
import { Readiness } from "../../src/ops/health.ts";
import { InFlight } from "../../src/ops/shutdown.ts";
import { withService } from "../support/service.ts";

async function probe(handler: ReturnType<typeof createHandler>, path: string) {
  const res = await handler(new Request(`http://localhost${path}`));
  return { status: res.status, type: res.headers.get("content-type"), body: await res.json() };
}

Deno.test("/readyz follows start-up: sources, then the config's tables, then draining", async () => {
  const host = await EngineHost.create();
  try {
    const readiness = new Readiness(host);
    readiness.expectTables(["orders"]);
    const handler = createHandler({ host, readiness, inflight: new InFlight() });

    let r = await probe(handler, "/readyz");
    assert.equal(r.status, 503);
    assert.equal(r.type, "application/json");
    assert.equal(r.body.status, "not ready");
    assert.equal(r.body.checks.sources.ok, false);
    assert.match(r.body.checks.tables.detail, /missing tables: orders/);

    readiness.markSourcesStarted();
    r = await probe(handler, "/readyz");
    assert.equal(r.status, 503);
    assert.equal(r.body.checks.sources.ok, true);
    assert.equal(r.body.checks.tables.ok, false);

    await host.createTable("orders", { id: "integer" });
    r = await probe(handler, "/readyz");
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      status: "ready",
      checks: { tables: { ok: true }, sources: { ok: true }, draining: { ok: true } },
    });

    readiness.markDraining();
    r = await probe(handler, "/readyz");
    assert.equal(r.status, 503);
    assert.deepEqual(r.body.checks.draining, { ok: false, detail: "shutting down" });

    // Liveness does not depend on readiness: the process still answers.
    const h = await probe(handler, "/healthz");
    assert.equal(h.status, 200);
    assert.equal(h.body.status, "ok");
    assert.equal(typeof h.body.uptime_seconds, "number");
  } finally {
    host.close();
  }
});

Deno.test("/readyz turns 503 when an expected table is dropped", async () => {
  const host = await EngineHost.create();
  try {
    await host.createTable("t", { x: "float" });
    const readiness = new Readiness(host);
    readiness.expectTables(["t"]);
    readiness.markSourcesStarted();
    const handler = createHandler({ host, readiness });
    assert.equal((await probe(handler, "/readyz")).status, 200);
    await host.dropTable("t");
    assert.equal((await probe(handler, "/readyz")).status, 503);
  } finally {
    host.close();
  }
});

Deno.test("/healthz and /readyz answer under the base path, with no-store, and refuse POST", async () => {
  await withService({ demo: false, basePath: "/user/alice/proxy/8080" }, async (service) => {
    for (const path of ["healthz", "readyz"]) {
      const res = await fetch(new URL(path, service.url));
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("cache-control"), "no-store");
      await res.body?.cancel();
      const post = await fetch(new URL(path, service.url), { method: "POST" });
      assert.equal(post.status, 405);
      await post.body?.cancel();
    }
    const outside = await fetch(new URL("/healthz", service.url));
    assert.equal(outside.status, 404);
    await outside.body?.cancel();
  });
});

Deno.test("a running service is ready once it listens and not ready while it drains", async () => {
  await withService({ demo: true }, async (service) => {
    const ready = await fetch(new URL("readyz", service.url));
    assert.equal(ready.status, 200);
    assert.equal((await ready.json()).status, "ready");
    service.readiness.markDraining();
    const draining = await fetch(new URL("readyz", service.url));
    assert.equal(draining.status, 503);
    assert.equal((await draining.json()).checks.draining.ok, false);
    const live = await fetch(new URL("healthz", service.url));
    assert.equal(live.status, 200);
    await live.body?.cancel();
  });
});
