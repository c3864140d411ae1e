import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { websocketUrl, withService } from "../support/service.ts";

const BIG_ROWS = 400_000;

async function post(base: string, table: string, rows: unknown[]): Promise<void> {
  const res = await fetch(new URL(`api/tables/${table}/rows`, base), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(rows),
  });
  const body = await res.text();
  assert.ok(res.ok, body);
}

Deno.test("viewers keep receiving notifications while large tables are exported over HTTP and WebSocket", async () => {
  await withService({ demo: false, maxUpdateRate: 20 }, async (service) => {
    const big = Array.from({ length: BIG_ROWS }, (_, i) => ({
      id: i,
      name: `name ${i % 5000}`,
      value: i * 0.5,
      group: `g${i % 17}`,
    }));
    for (let i = 0; i < big.length; i += 100_000) {
      await post(service.url, "big", big.slice(i, i + 100_000));
    }
    await post(service.url, "live", [{ k: 0, v: 0.5 }]);

    const viewer = await perspective.websocket(websocketUrl(service));
    const live = await viewer.open_table("live");
    const view = await live.view();
    const seen: number[] = [];
    await view.on_update(() => void seen.push(performance.now()));
    const exporter = await perspective.websocket(websocketUrl(service));
    const bigView = await (await exporter.open_table("big")).view();

    let exporting = true;
    const durations: number[] = [];
    const exports = (async () => {
      let done = 0;
      for (let round = 0; round < 3; round++) {
        let t0 = performance.now();
        const res = await fetch(new URL("api/tables/big/rows?format=arrow", service.url));
        assert.equal(res.status, 200);
        await res.arrayBuffer();
        durations.push(performance.now() - t0);
        t0 = performance.now();
        if (!Deno.env.get("NO_WS")) await bigView.to_arrow();
        durations.push(performance.now() - t0);
        done += 2;
      }
      exporting = false;
      return done;
    })();
    // One small write every 50 ms for as long as the exports run.
    const writes: number[] = [];
    for (let i = 1; exporting; i++) {
      writes.push(performance.now());
      await post(service.url, "live", [{ k: i, v: i + 0.5 }]);
      await new Promise((r) => setTimeout(r, 50));
    }
    const finished = performance.now();
    assert.equal(await exports, 6);
    const during = seen.filter((t) => t <= finished);
    // Each write is acknowledged after its poll, so its notification is out
    // by then: the viewer heard of nearly every write while the exports ran.
    assert.ok(
      during.length >= writes.length - 2,
      `${during.length} notifications for ${writes.length} writes during the exports`,
    );
    console.log(`writes ${writes.length}, notifications ${during.length}`);
    let gap = 0;
    for (let i = 1; i < during.length; i++) gap = Math.max(gap, during[i] - during[i - 1]);
    console.log(
      `gap ${gap.toFixed(0)} ms, exports ${durations.map((d) => d.toFixed(0)).join(" ")}`,
    );
    assert.ok(gap < 2000, `the longest wait between two notifications was ${gap.toFixed(0)} ms`);
    await view.delete();
    await bigView.delete();
    await viewer.terminate?.();
    await exporter.terminate?.();
  });
});
