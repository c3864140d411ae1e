import assert from "node:assert/strict";
import { withService } from "../support/service.ts";
import { floatBatch } from "../support/arrow_batches.ts";
import { checkExposition, sampleValue } from "./prometheus_rules.ts";
import { ServiceMetrics } from "../../src/ops/service_metrics.ts";
import { readEngineMemory } from "../../src/engine/memory.ts";
import { engineUsedBytes } from "../../src/engine/memory.ts";

Deno.test("engine memory metrics are non-negative and match the engine's own figures", async () => {
  await withService({ demo: false, maxEngineMemory: 256 * 1024 ** 2 }, async (service) => {
    const res = await fetch(new URL("api/tables/t/rows", service.url), {
      method: "POST",
      headers: { "content-type": "application/vnd.apache.arrow.stream" },
      body: floatBatch(20_000) as BodyInit,
    });
    assert.equal(res.status, 201);
    await res.body?.cancel();
    const scrape = await fetch(new URL("metrics", service.url));
    const families = checkExposition(await scrape.text());
    // Nothing runs between the scrape and this read: no demo, no clients.
    const engine = await readEngineMemory(service.host.client);
    const value = (name: string, labels?: Record<string, string>) => {
      const v = sampleValue(families, name, labels);
      assert(v !== undefined, `${name} ${JSON.stringify(labels ?? {})} is exported`);
      assert(v >= 0, `${name} is non-negative`);
      return v;
    };
    const heap = value("perspective_engine_memory_bytes", { kind: "heap" });
    const used = value("perspective_engine_memory_bytes", { kind: "used" });
    const reserved = value("perspective_engine_memory_bytes", { kind: "reserved" });
    const budget = value("perspective_engine_memory_budget_bytes");
    const headroom = value("perspective_engine_memory_headroom_bytes");
    assert.equal(heap, engine.heap);
    // Asking the engine for its figures allocates a few bytes itself.
    assert(Math.abs(used - engine.used) < 64 * 1024, `${used} is near the engine's ${engine.used}`);
    assert(used > 20_000 * 4 * 8, "the table's rows are counted as used");
    assert(used <= heap);
    assert.equal(budget, 256 * 1024 ** 2);
    assert.equal(reserved, 0);
    assert.equal(headroom, budget - used - reserved);
    value("perspective_engine_memory_refusals_total");
    value("perspective_engine_apply_discrepancies_total");
  });
});

Deno.test("perspective_engine_memory_bytes{kind=used} undoes the engine's 32-bit wrap past 2 GiB", async () => {
  const metrics = new ServiceMetrics();
  // The figure the issue reported, read from a 2.6 GB engine: a seam for the
  // engine's system info, since filling 2 GiB takes minutes.
  const wrapped = 18446744072204673000;
  metrics.watchHost({
    sessionCount: 0,
    listTables: () => Promise.resolve([]),
    engineMemory: () => Promise.resolve({ heap: 3177447424, used: engineUsedBytes(wrapped) }),
    memory: { budget: 1.5 * 1024 ** 3, reserved: 0 },
  });
  const families = checkExposition(await metrics.registry.render());
  const used = sampleValue(families, "perspective_engine_memory_bytes", { kind: "used" })!;
  assert(Math.abs(used - (2 ** 32 - (2 ** 64 - wrapped))) < 8192);
  assert(used > 2 * 1024 ** 3 && used < 3177447424, `used ${used} lies between 2 GiB and the heap`);
  assert.equal(sampleValue(families, "perspective_engine_memory_headroom_bytes"), 0);
});
