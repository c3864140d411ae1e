/**
 * The replica benchmark's broadcast phase: broadcast viewers split over
 * two replicas, at the fan-out benchmark's settings (10 updates a second of
 * 100 rows into a 1,000-row indexed table, 5 s), every update written to
 * replica A over HTTP, so the viewers on B see it only through the Redis
 * log. Delivery latency runs from the writer's send time, carried in each
 * row, to the viewer's receipt, as in `bench:fanout`.
 *
 * @module
 */

import { Child, sleep } from "./fanout/children.ts";
import { delivery, percentile } from "./fanout/stats.ts";
import { drive, initialRows, SCHEMA } from "./fanout/driver.mjs";

/** What the phase measured. */
export interface BroadcastResult {
  /** Viewers connected, on both replicas together. */
  viewers: number;
  /** Updates sent. */
  updates: number;
  /** Delivery latency percentiles, ms. */
  p50: number;
  p99: number;
  /** Fraction of updates that reached every viewer. */
  reachedAll: number;
  /** Whether a load generator could not keep up (its figures are then too high). */
  saturated: boolean;
}

async function send(url: string, method: string, body: unknown): Promise<void> {
  const res = await fetch(url, {
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${url} answered ${res.status}: ${await res.text()}`);
  await res.body?.cancel();
}

/**
 * Runs the phase against replicas at `a` and `b` (HTTP base URLs), with
 * `viewers` broadcast viewers, half on each.
 */
export async function broadcastPhase(
  a: string,
  b: string,
  viewers: number,
): Promise<BroadcastResult> {
  await send(`${a}api/tables/bench`, "PUT", { schema: SCHEMA, index: "id" });
  await send(`${a}api/tables/bench/rows`, "POST", initialRows());
  for (let i = 0;; i++) {
    const res = await fetch(`${b}api/tables/bench`);
    const info = res.ok ? await res.json() : (await res.body?.cancel(), undefined);
    if (info?.size > 0) break;
    if (i > 100) throw new Error("replica B never saw the benchmark table");
    await sleep(100);
  }
  const bases = [a, b, a, b];
  const loadgens = bases.map(() =>
    new Child(Deno.execPath(), ["run", "-A", "bench/fanout/loadgen.ts"])
  );
  try {
    const share = (i: number) =>
      Math.floor(viewers / loadgens.length) + (i < viewers % loadgens.length ? 1 : 0);
    const connected = await Promise.all(
      loadgens.map((g, i) =>
        g.ask<{ connected: number; failed: number }>({
          cmd: "connect",
          url: `${bases[i].replace(/^http/, "ws")}websocket/broadcast/bench`,
          mode: "replicated",
          transport: "broadcast",
          count: share(i),
          stalled: 0,
        })
      ),
    );
    await sleep(1000);
    await Promise.all(loadgens.map((g) => g.ask({ cmd: "reset" })));
    // Every update goes through replica A's HTTP API, so through the log.
    const writer = { update: (rows: unknown[]) => send(`${a}api/tables/bench/rows`, "POST", rows) };
    const sends = await drive(writer, { rate: 10, count: 100, seconds: 5 }) as [number, number][];
    await sleep(3000);
    const reports = await Promise.all(
      loadgens.map((g) => g.ask<{ logs: number[][]; saturated: boolean }>({ cmd: "report" })),
    );
    const { latencies, reachedAll } = delivery(sends, reports.flatMap((r) => r.logs));
    return {
      viewers: connected.reduce((s, c) => s + c.connected, 0),
      updates: sends.length,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      reachedAll,
      saturated: reports.some((r) => r.saturated),
    };
  } finally {
    await Promise.all(loadgens.map((g) => g.quit()));
  }
}
