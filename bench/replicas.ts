/**
 * Replica benchmark, against a real redis-server (append-only file fsynced
 * before each answer) that this script starts in a temporary directory:
 *
 * - lag: batches of 1k rows POSTed to replica A at 10 a second; for each,
 *   the time from A's acknowledgement to the batch being readable on
 *   replica B (a read naming the acknowledged position answers), p50/p99;
 * - throughput: the same 1k-row batches, several in flight, through the
 *   Redis log, the local write-ahead log and memory only, rows/s each and
 *   the ratio to memory measured in the same run.
 *
 * Each replica is `main.ts` in its own process, as deployed.
 *
 * Run: `deno task bench:replicas` (`SECONDS` for the lag phase, default 20;
 * `BATCHES` for the throughput phase, default 200; `CONCURRENCY`, default 8).
 *
 * @module
 */

import { freePort, startRedis } from "../tests/storage/redis/redis_server.ts";
import { broadcastPhase } from "./replicas_broadcast.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A replica: `main.ts` in its own process, as deployed. */
interface Replica {
  url: string;
  close(): Promise<void>;
}

async function spawn(env: Record<string, string>): Promise<Replica> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN],
    env: {
      HOST: "127.0.0.1",
      PORT: String(port),
      DEMO: "0",
      LOG_LEVEL: "error",
      // The benchmark measures throughput, not the per-client request rate limit.
      INGEST_RPS: "100000",
      INGEST_BURST: "100000",
      // The broadcast phase connects thousands of viewers from one address.
      MAX_CONNECTIONS: "100000",
      MAX_CONNECTIONS_PER_ADDRESS: "100000",
      ...env,
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0;; i++) {
    const res = await fetch(`${url}readyz`).catch(() => undefined);
    await res?.body?.cancel();
    if (res?.status === 200) break;
    if (i > 600) throw new Error("replica did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async close() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

const SECONDS = Number(Deno.env.get("SECONDS") ?? 20);
const BATCHES = Number(Deno.env.get("BATCHES") ?? 200);
const CONCURRENCY = Number(Deno.env.get("CONCURRENCY") ?? 8);
const ROWS = 1000;
/** Broadcast viewers over both replicas: the fan-out benchmark's largest broadcast run. */
const VIEWERS = Number(Deno.env.get("VIEWERS") ?? 2000);

function batch(n: number): string {
  const rows = [];
  for (let i = 0; i < ROWS; i++) {
    rows.push({
      id: n * ROWS + i,
      symbol: ["AAPL", "MSFT", "GOOG", "AMZN"][i % 4],
      price: 100 + (i % 97) / 7,
      qty: i % 500,
      time: 1_700_000_000_000 + n * 1000 + i,
    });
  }
  return JSON.stringify(rows);
}

async function post(base: string, table: string, body: string): Promise<string> {
  const res = await fetch(new URL(`api/tables/${table}/rows`, base), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  if (!res.ok) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
  await res.body?.cancel();
  return res.headers.get("log-position") ?? "";
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function lag(a: Replica, b: Replica): Promise<number[]> {
  const bodies = Array.from({ length: 20 }, (_, i) => batch(i));
  await post(a.url, "lag", bodies[0]);
  const lags: number[] = [];
  const refused: string[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < SECONDS * 10; i++) {
    const due = start + i * 100;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push((async () => {
      const position = await post(a.url, "lag", bodies[i % bodies.length]).catch((err) => {
        // An overloaded machine times out reading bodies; say how often, keep measuring.
        refused.push(String(err.message).slice(0, 120));
        return undefined;
      });
      if (position === undefined) return;
      const acked = performance.now();
      const res = await fetch(new URL(`api/tables/lag?position=${position}`, b.url));
      await res.body?.cancel();
      if (res.status !== 200) throw new Error(`read on B answered ${res.status}`);
      lags.push(performance.now() - acked);
    })());
  }
  await Promise.all(pending);
  if (refused.length > 0) console.log(`${refused.length} writes refused, e.g. ${refused[0]}`);
  return lags;
}

async function throughput(base: string, table: string): Promise<number> {
  const bodies = Array.from({ length: 20 }, (_, i) => batch(i));
  await post(base, table, bodies[0]);
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < BATCHES) {
      const i = next++;
      await post(base, table, bodies[i % bodies.length]);
    }
  }));
  return (BATCHES * ROWS) / ((performance.now() - started) / 1000);
}

const redis = await startRedis();
const dataDir = await Deno.makeTempDir({ prefix: "bench-replicas-" });
try {
  console.log(`load: ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")} (1/5/15 min)`);
  const a = await spawn({ REDIS_URL: redis.url });
  const b = await spawn({ REDIS_URL: redis.url });
  const lags = await lag(a, b);
  console.log(
    `replica lag, ack on A to readable on B, ${lags.length} batches of ${ROWS} rows at 10/s: ` +
      `p50 ${percentile(lags, 50).toFixed(1)} ms, p99 ${percentile(lags, 99).toFixed(1)} ms, ` +
      `max ${Math.max(...lags).toFixed(1)} ms (target p99 <= 100 ms)`,
  );
  const viaRedis = await throughput(a.url, "through");
  const cast = await broadcastPhase(a.url, b.url, VIEWERS);
  console.log(
    `broadcast, ${cast.viewers.toLocaleString("en")} viewers on two replicas (half each), ` +
      `${cast.updates} updates of 100 rows at 10/s written to A: p50 ${cast.p50.toFixed(1)} ms, ` +
      `p99 ${cast.p99.toFixed(1)} ms, ${(cast.reachedAll * 100).toFixed(1)}% reached every ` +
      `viewer${cast.saturated ? " (a load generator was saturated: figures too high)" : ""}`,
  );
  await a.close();
  await b.close();
  const local = await spawn({ DATA_DIR: dataDir });
  const viaLocal = await throughput(local.url, "through");
  await local.close();
  const memory = await spawn({ DATA_DIR: "" });
  const viaMemory = await throughput(memory.url, "through");
  await memory.close();
  console.log(`ingest, ${BATCHES} batches of ${ROWS} JSON rows, ${CONCURRENCY} in flight:`);
  for (
    const [name, rate] of [["redis", viaRedis], ["local log", viaLocal], ["memory", viaMemory]]
  ) {
    console.log(
      `  ${String(name).padEnd(10)} ${Math.round(rate as number).toLocaleString("en")} rows/s ` +
        `(${((rate as number) / viaMemory).toFixed(2)}x memory)`,
    );
  }
} finally {
  await redis.dispose();
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});
}
