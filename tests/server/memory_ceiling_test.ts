import assert from "node:assert/strict";
import { withService } from "../support/service.ts";
import { floatBatch } from "../support/arrow_batches.ts";
import type { Service } from "../../src/service.ts";

const MIB = 1024 ** 2;
const ARROW = "application/vnd.apache.arrow.stream";

/** A budget this much above what the engine uses now, so a fill ends in seconds. */
async function smallBudget(service: Service, room: number): Promise<void> {
  const { used } = await service.host.memory.read();
  service.host.memory.budget = used + room;
}

function post(service: Service, table: string, body: Uint8Array): Promise<Response> {
  return fetch(new URL(`api/tables/${table}/rows`, service.url), {
    method: "POST",
    headers: { "content-type": ARROW },
    body: body as BodyInit,
  });
}

async function sizeOf(service: Service, table: string): Promise<number> {
  const res = await fetch(new URL(`api/tables/${table}`, service.url));
  assert.equal(res.status, 200);
  return (await res.json()).size;
}

/** Posts batches until one is refused; returns the rows acknowledged and the refusal. */
async function fill(service: Service, table: string, rows: number, max = 400) {
  let acknowledged = 0;
  for (let i = 0; i < max; i++) {
    const res = await post(service, table, floatBatch(rows, 4, acknowledged));
    if (res.status !== 200 && res.status !== 201) return { acknowledged, refusal: res };
    const body = await res.json();
    assert.equal(body.rows, rows);
    acknowledged += rows;
  }
  throw new Error(`no refusal after ${max} batches`);
}

Deno.test("a table filled to the memory budget holds every acknowledged row and refuses the next batch with 507", async () => {
  await withService({ demo: false }, async (service) => {
    // A second table that must stay readable at the ceiling.
    assert.equal((await post(service, "small", floatBatch(100, 2))).status, 201);
    await smallBudget(service, 48 * MIB);
    const { acknowledged, refusal } = await fill(service, "big", 50_000);
    assert(acknowledged > 0, "some batches fit under the budget");

    assert.equal(refusal.status, 507);
    assert.equal(refusal.headers.get("content-type"), "application/problem+json");
    const problem = await refusal.json();
    assert.equal(problem.status, 507);
    assert.equal(problem.title, "Insufficient Storage");
    assert.match(problem.detail, /uses [\d.]+ [MG]iB of its [\d.]+ [MG]iB memory budget/);
    assert.match(problem.detail, /drop or clear tables/);
    assert.match(problem.detail, /row limit/);
    assert.match(problem.detail, /MAX_ENGINE_MEMORY/);

    // Every acknowledged row is there, and the refused batch left nothing.
    assert.equal(await sizeOf(service, "big"), acknowledged);
    const again = await post(service, "big", floatBatch(50_000));
    assert.equal(again.status, 507);
    await again.body?.cancel();
    assert.equal(await sizeOf(service, "big"), acknowledged);

    // The service stays useful: health, other tables, the full table's export.
    assert.equal((await fetch(new URL("healthz", service.url))).status, 200);
    const small = await fetch(new URL("api/tables/small/rows?format=json", service.url));
    assert.equal(small.status, 200);
    assert.equal((await small.json()).length, 100);
    const exported = await fetch(new URL("api/tables/big/rows?format=arrow", service.url));
    assert.notEqual(exported.status, 404);
    if (exported.status === 200) {
      assert.equal(exported.headers.get("content-type"), ARROW);
      await exported.body?.cancel();
    } else {
      assert.equal(exported.status, 507);
      assert.equal(exported.headers.get("content-type"), "application/problem+json");
      assert.match((await exported.json()).detail, /export/);
    }

    // A new table is refused the same way while there is no room.
    const created = await fetch(new URL("api/tables/other", service.url), {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ schema: { x: "float" } }),
    });
    assert.equal(created.status, 507);
    assert.equal(created.headers.get("content-type"), "application/problem+json");
    await created.body?.cancel();
    assert.equal((await fetch(new URL("api/tables/other", service.url))).status, 404);

    // Dropping the big table gives its memory back to the engine's allocator.
    const dropped = await fetch(new URL("api/tables/big", service.url), { method: "DELETE" });
    assert.equal(dropped.status, 204);
    const res = await post(service, "big2", floatBatch(50_000));
    assert.equal(res.status, 201);
    assert.equal((await res.json()).size, 50_000);
  });
});

Deno.test("a clear or a row removal is never refused for want of memory", async () => {
  await withService({ demo: false }, async (service) => {
    assert.equal((await post(service, "t", floatBatch(1000))).status, 201);
    service.host.memory.budget = 0;
    const clear = await fetch(new URL("api/tables/t/rows", service.url), { method: "DELETE" });
    assert.equal(clear.status, 200);
    await clear.body?.cancel();
    assert.equal(await sizeOf(service, "t"), 0);
    const refused = await post(service, "t", floatBatch(10));
    assert.equal(refused.status, 507);
    await refused.body?.cancel();
    assert.equal(await sizeOf(service, "t"), 0);
  });
});

Deno.test("a batch that would take a table past the engine's row ceiling is refused with 507; a table with a lower row limit is not", async () => {
  await withService({ demo: false }, async (service) => {
    service.host.memory.maxTableRows = 120_000;
    assert.equal((await post(service, "t", floatBatch(50_000))).status, 201);
    assert.equal((await post(service, "t", floatBatch(50_000))).status, 200);
    const refused = await post(service, "t", floatBatch(50_000));
    assert.equal(refused.status, 507);
    assert.equal(refused.headers.get("content-type"), "application/problem+json");
    assert.match((await refused.json()).detail, /would hold 150000 rows, past the 120000/);
    assert.equal(await sizeOf(service, "t"), 100_000);

    const created = await fetch(new URL("api/tables/rolling", service.url), {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ schema: { f0: "float", f1: "float" }, limit: 60_000 }),
    });
    assert.equal(created.status, 201);
    await created.body?.cancel();
    for (let i = 0; i < 4; i++) {
      const res = await post(service, "rolling", floatBatch(50_000, 2));
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    assert.equal(await sizeOf(service, "rolling"), 60_000);
  });
});

Deno.test("a batch refused for want of memory is never logged, so a restart does not replay it", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    await withService({ demo: false, dataDir }, async (service) => {
      assert.equal((await post(service, "kept", floatBatch(1000))).status, 201);
      service.host.memory.budget = 0;
      const refused = await post(service, "kept", floatBatch(500, 4, 1000));
      assert.equal(refused.status, 507);
      await refused.body?.cancel();
      assert.equal(await sizeOf(service, "kept"), 1000);
    });
    await withService({ demo: false, dataDir }, async (service) => {
      assert.equal(await sizeOf(service, "kept"), 1000);
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
