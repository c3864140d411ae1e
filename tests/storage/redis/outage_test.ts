import assert from "node:assert/strict";
import { startRedis } from "./redis_server.ts";
import { exportAll, postRows, startReplica } from "./support.ts";
import { waitFor } from "../../support/wait.ts";
import { compareIds } from "../../../src/storage/redis/ids.ts";

Deno.test("with Redis stopped, writes answer 503 and are never acknowledged, reads go on; after its restart (AOF) replicas continue", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url);
  const b = await startReplica(redis.url);
  try {
    const acked: number[] = [];
    let last = "0-0";
    const write = async (base: string, uid: number) => {
      const w = await postRows(base, "t", [{ uid }]);
      if (w.status === 200 || w.status === 201) {
        acked.push(uid);
        if (compareIds(w.position!, last) > 0) last = w.position!;
      }
      return w;
    };
    for (let i = 0; i < 10; i++) await write(i % 2 ? a.url : b.url, i);
    assert.equal(acked.length, 10);
    await (await fetch(new URL(`api/tables/t?position=${last}`, a.url))).body?.cancel();
    const before = await exportAll(a.url);

    await redis.stop();
    await waitFor(
      "both replicas see Redis gone",
      () => !a.shared!.connected && !b.shared!.connected,
    );
    for (let i = 100; i < 106; i++) {
      const w = await write(i % 2 ? a.url : b.url, i);
      assert.equal(w.status, 503, JSON.stringify(w.body));
      assert.equal(w.position, null);
      assert.match(String(w.body.detail), /not acknowledged/);
    }
    const refused = await fetch(new URL("api/tables/t/rows", a.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '[{"uid": 107}]',
    });
    assert.equal(refused.headers.get("retry-after"), "1");
    await refused.body?.cancel();
    // Reads and the last applied state go on.
    assert.equal(await exportAll(a.url), before);
    assert.equal(await exportAll(b.url), before);
    const ready = await fetch(new URL("readyz", a.url));
    const report = await ready.json();
    assert.equal(ready.status, 200);
    assert.match(report.checks.redis.detail, /Redis is unreachable/);
    const metrics = await (await fetch(new URL("metrics", a.url))).text();
    assert.match(metrics, /perspective_redis_connected 0/);
    assert.match(metrics, /perspective_redis_append_errors_total [1-9]/);

    await redis.start();
    await waitFor("both replicas reconnected", () => a.shared!.connected && b.shared!.connected, {
      timeout: 30_000,
    });
    for (let i = 200; i < 210; i++) {
      const w = await waitFor(`write ${i} after the restart`, async () => {
        const w = await write(i % 2 ? a.url : b.url, i);
        return w.status === 200 ? w : undefined;
      });
      assert.ok(w.position);
    }
    for (const r of [a, b]) {
      await (await fetch(new URL(`api/tables/t?position=${last}`, r.url))).body?.cancel();
    }
    const final = await exportAll(a.url);
    assert.equal(await exportAll(b.url), final);
    const uids = (JSON.parse(final).t as { uid: number }[]).map((r) => r.uid).sort((x, y) => x - y);
    // Every acknowledged batch is there, and nothing refused during the outage.
    assert.deepEqual(uids, [...acked].sort((x, y) => x - y));
    assert.equal(uids.filter((u) => u >= 100 && u < 200).length, 0);
    const metricsAfter = await (await fetch(new URL("metrics", a.url))).text();
    assert.match(metricsAfter, /perspective_redis_connected 1/);
  } finally {
    await a.close();
    await b.close();
    await redis.dispose();
  }
});
