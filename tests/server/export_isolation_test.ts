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

/**
 * Exports a 400k-row table back to back, over HTTP and with a WebSocket
 * view's `to_arrow()`, while a steady stream of small writes goes to another
 * table that a viewer watches, and returns the 90th percentile wait between
 * two of the viewer's notifications once the exports' view exists.
 */
async function longestWait(windowed: boolean): Promise<{ gap: number; notifications: number }> {
  return await withService({
    demo: false,
    maxUpdateRate: 20,
    windowedReads: windowed,
    // One window of the whole table: the export in one engine call.
    handler: windowed ? undefined : { exports: { windowRows: 10_000_000 } },
  }, async (service) => {
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
    const view = await (await viewer.open_table("live")).view();
    const seen: number[] = [];
    await view.on_update(() => void seen.push(performance.now()));
    const exporter = await perspective.websocket(websocketUrl(service));
    const bigView = await (await exporter.open_table("big")).view();

    let exporting = true;
    let warm = Infinity;
    const exports = (async () => {
      for (let round = 0; round < 4; round++) {
        const res = await fetch(new URL("api/tables/big/rows?format=arrow", service.url));
        assert.equal(res.status, 200);
        await res.arrayBuffer();
        await bigView.to_arrow();
        // The first export made the exports' view, the one engine call no
        // window splits.
        if (warm === Infinity) warm = performance.now();
      }
      exporting = false;
    })();
    // A write every 50 ms, each sent without waiting for the last.
    const writes: Promise<void>[] = [];
    for (let i = 1; exporting; i++) {
      writes.push(post(service.url, "live", [{ k: i, v: i + 0.5 }]));
      await new Promise((r) => setTimeout(r, 50));
    }
    const finished = performance.now();
    await exports;
    await Promise.all(writes);
    const settled = seen.filter((t) => t >= warm && t <= finished);
    const gaps = settled.slice(1).map((t, i) => t - settled[i]).sort((a, b) => a - b);
    // The 90th percentile: a single stall of a busy machine moves the
    // longest gap, not this.
    const gap = gaps.length === 0 ? Infinity : gaps[Math.floor(gaps.length * 0.9)];
    await view.delete();
    await bigView.delete();
    await viewer.terminate?.();
    await exporter.terminate?.();
    return { gap, notifications: settled.length };
  });
}

Deno.test("viewers keep receiving notifications while large tables are exported over HTTP and WebSocket", async () => {
  const windowed = await longestWait(true);
  const whole = await longestWait(false);
  assert.ok(
    windowed.notifications >= 5 && windowed.notifications > 1.5 * whole.notifications,
    `${windowed.notifications} notifications with windows, ${whole.notifications} without`,
  );
  // With every export one engine call, notifications wait for each one.
  assert.ok(
    windowed.gap < whole.gap,
    `the 90th percentile wait between notifications was ${windowed.gap.toFixed(0)} ms with ` +
      `windows, ${whole.gap.toFixed(0)} ms with each export in one engine call`,
  );
});
