import assert from "node:assert/strict";
import { startRedis } from "./redis_server.ts";
import { exportAll, postRows, startReplica } from "./support.ts";
import { StatusError } from "../../../src/engine/batch_types.ts";
import { waitFor } from "../../support/wait.ts";

async function readiness(base: string): Promise<{ status: number; text: string }> {
  const res = await fetch(new URL("readyz", base));
  return { status: res.status, text: await res.text() };
}

async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(new URL("metrics", base))).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ")[1]) : NaN;
}

Deno.test("a replica that cannot apply an entry others applied stops being ready, then rebuilds and matches them", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url);
  const b = await startReplica(redis.url);
  try {
    const first = await postRows(a.url, "t", [{ id: 1, v: 0.5 }]);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    await waitFor(
      "b to apply the first batch",
      async () => (await exportAll(b.url)) === (await exportAll(a.url)),
    );

    // B's engine alone has no room for the next batches.
    let faulty = true;
    b.applier.faultBeforeStage = (batch) =>
      faulty && batch.table === "t" ? new StatusError(507, "no room (injected)") : undefined;
    const second = await postRows(a.url, "t", [{ id: 2, v: 1.5 }]);
    assert.equal(second.status, 200, JSON.stringify(second.body));

    await waitFor("b to stop being ready", async () => (await readiness(b.url)).status === 503);
    const ready = await readiness(b.url);
    assert.match(ready.text, /could not apply log entry/);
    assert.match(ready.text, /no room \(injected\)/);
    assert.ok(await metric(b.url, "perspective_replica_apply_failures_total") >= 1);
    // While the entry keeps failing, B rebuilds and fails again, and is never ready between.
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      assert.equal((await readiness(b.url)).status, 503);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(await metric(b.url, "perspective_replica_rebuilds_total") >= 1);
    // B does not claim the position it could not reach.
    const read = await fetch(new URL(`api/tables/t?position=${second.position}`, b.url));
    assert.equal(read.status, 503);
    await read.body?.cancel();
    // Writes through B are refused while it is not ready.
    const refused = await postRows(b.url, "t", [{ id: 3, v: 2.5 }]);
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal((await readiness(a.url)).status, 200);

    // Room again: B rebuilds, applies the entry, and holds what A holds.
    faulty = false;
    await waitFor("b to be ready again", async () => (await readiness(b.url)).status === 200, {
      timeout: 30_000,
    });
    const after = await fetch(new URL(`api/tables/t?position=${second.position}`, b.url));
    assert.equal(after.status, 200);
    await after.body?.cancel();
    assert.equal(await exportAll(b.url), await exportAll(a.url));
    const rows = JSON.parse(await exportAll(b.url)).t as { id: number }[];
    assert.deepEqual(rows.map((r) => r.id).sort(), [1, 2]);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await redis.dispose();
  }
});
