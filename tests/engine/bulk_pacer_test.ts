import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { ACTIVE_MS, BulkPacer } from "../../src/engine/bulk_pacer.ts";
import { websocketUrl, withService } from "../support/service.ts";
import { bigColumns } from "../support/export_data.ts";

/** A clock the test moves; reads "take" the time they add to it. */
function fakeClock() {
  const clock = { t: 0, now: () => clock.t };
  return clock;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("BulkPacer: with no other work, windows follow each other at once", async () => {
  const clock = fakeClock();
  const pacer = new BulkPacer(clock.now);
  for (let i = 0; i < 3; i++) {
    assert.equal(await pacer.window(() => Promise.resolve((clock.t += 100, i))), i);
  }
  assert.deepEqual(pacer.stats, { windows: 3, rested: 0, restMs: 0 });
});

Deno.test("BulkPacer: while other work is active, the next window waits as long as the last one took", async () => {
  const clock = fakeClock();
  const pacer = new BulkPacer(clock.now);
  pacer.noteOther();
  assert(pacer.active);
  const started: number[] = [];
  const read = () => {
    started.push(performance.now());
    clock.t += 60;
    return Promise.resolve(started.length);
  };
  const t0 = performance.now();
  assert.equal(await pacer.window(read), 1);
  // The window's own result is not held back by its rest.
  assert(performance.now() - t0 < 40, `${performance.now() - t0} ms`);
  clock.t = 0;
  pacer.noteOther();
  assert.equal(await pacer.window(read), 2);
  assert(started[1] - started[0] >= 55, `${started[1] - started[0]} ms between windows`);
  assert.deepEqual(pacer.stats, { windows: 2, rested: 2, restMs: 120 });
});

Deno.test("BulkPacer: other work older than ACTIVE_MS no longer paces", async () => {
  const clock = fakeClock();
  const pacer = new BulkPacer(clock.now);
  pacer.noteOther();
  clock.t += ACTIVE_MS;
  assert(!pacer.active);
  await pacer.window(() => Promise.resolve(clock.t += 50));
  assert.equal(pacer.stats.rested, 0);
});

Deno.test("BulkPacer: windows of concurrent bulk reads run one at a time, in turn, and a failed one frees the turn", async () => {
  const pacer = new BulkPacer();
  let running = 0;
  let most = 0;
  const order: string[] = [];
  const read = (name: string, fail = false) => async () => {
    running++;
    most = Math.max(most, running);
    await sleep(5);
    running--;
    order.push(name);
    if (fail) throw new Error(`${name} failed`);
    return name;
  };
  const a = (async () => {
    for (let i = 0; i < 3; i++) await pacer.window(read(`a${i}`));
  })();
  const b = (async () => {
    await assert.rejects(pacer.window(read("b0", true)), /b0 failed/);
    for (let i = 1; i < 3; i++) await pacer.window(read(`b${i}`));
  })();
  await Promise.all([a, b]);
  assert.equal(most, 1);
  assert.deepEqual(order, ["a0", "b0", "a1", "b1", "a2", "b2"]);
});

Deno.test("an HTTP export runs unpaced alone, and paced while a client's requests come, as /metrics counts", async () => {
  await withService({ demo: false }, async (service) => {
    const rows = 100_000;
    await service.host.createTable("big", bigColumns(rows));
    await service.host.createTable("small", [{ x: 1 }]);
    const base = `http://127.0.0.1:${service.addr.port}`;
    const text = async () => {
      const res = await fetch(`${base}/api/tables/big/rows?format=csv`);
      assert.equal(res.status, 200);
      return await res.text();
    };
    const pacer = service.host.pacer;
    // Other work started the table; let it age out.
    await sleep(ACTIVE_MS + 50);
    const alone = await text();
    const lone = pacer.stats;
    assert(lone.windows >= 3, JSON.stringify(lone));
    assert.equal(lone.rested, 0);

    const client = await perspective.websocket(websocketUrl(service));
    try {
      const small = await client.open_table("small");
      let done = false;
      const paced = text().finally(() => done = true);
      let answered = 0;
      while (!done) {
        assert.equal(await small.size(), 1);
        answered++;
      }
      assert.equal(await paced, alone);
      const after = pacer.stats;
      assert.equal(after.windows - lone.windows, lone.windows);
      assert(after.rested - lone.rested >= lone.windows - 1, JSON.stringify(after));
      assert(answered > 0);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      const sample = (labels: string) =>
        Number(
          metrics.match(new RegExp(`^perspective_bulk_windows_total\\{${labels}\\} (\\d+)$`, "m"))
            ?.[1],
        );
      assert.equal(sample('rested="true"'), after.rested);
      assert.equal(sample('rested="false"'), after.windows - after.rested);
      assert.match(metrics, /^perspective_bulk_rest_seconds_total 0\.\d*[1-9]/m);
    } finally {
      await client.terminate();
    }
  });
});
