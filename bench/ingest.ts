/**
 * Ingest benchmark: the same batches applied in-process to the engine and
 * POSTed over HTTP to the running service (a subprocess of `main.ts`), in
 * one run, with the HTTP/in-process ratio per case.
 *
 * Tables are unbounded and fresh for each run, so both sides append to the
 * same sizes. Each table is first loaded with one untimed batch: the
 * engine's first load into an empty table takes a fast path (about twice
 * the steady rate when all batches reach it in one poll) that a live table
 * never sees again, so it would measure how batches line up with the first
 * poll rather than ingest. The engine processes updates on its conflation schedule (at
 * most `maxUpdateRate` polls a second) and an HTTP batch is acknowledged
 * only once processed, so HTTP clients keep several requests in flight, as
 * a production sender would; in-process batches are sent back to back and
 * flushed once at the end.
 *
 * Run: `deno task bench:ingest` (`ROUNDS`, `CONCURRENCY` override the
 * defaults; `CASES="arrow 10k,json rows 10k"` picks cases).
 *
 * @module
 */

import {
  Float64,
  Int32,
  Table,
  tableToIPC,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
} from "apache-arrow";
import { EngineHost } from "../src/engine/host.ts";
import { DEMO_SCHEMA, demoBatches } from "../src/engine/demo.ts";
import type { BatchFormat } from "../src/ingest/batch.ts";
import { BatchSink } from "../src/ingest/sink.ts";

const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 5);
const CONCURRENCY = Number(Deno.env.get("CONCURRENCY") ?? 16);

type Row = Record<string, unknown>;

/** One ingest case: a batch in one format, posted `batches` times. */
export interface Case {
  name: string;
  format: BatchFormat;
  type: string;
  rows: number;
  batches: number;
  bytes: Uint8Array;
}

/** `n` rows of the demo's schema, the same for the same seed. */
export function makeRows(n: number, seed: number): Row[] {
  const next = demoBatches(seed);
  const rows: Row[] = [];
  while (rows.length < n) rows.push(...next());
  return rows.slice(0, n);
}

/** The rows as an Arrow IPC stream of the demo's schema. */
export function arrow(rows: Row[]): Uint8Array {
  const col = (k: string) => rows.map((r) => r[k]);
  return tableToIPC(
    new Table({
      time: vectorFromArray(col("time") as number[], new TimestampMillisecond()),
      symbol: vectorFromArray(col("symbol") as string[], new Utf8()),
      exchange: vectorFromArray(col("exchange") as string[], new Utf8()),
      side: vectorFromArray(col("side") as string[], new Utf8()),
      price: vectorFromArray(col("price") as number[], new Float64()),
      change: vectorFromArray(col("change") as number[], new Float64()),
      volume: vectorFromArray(col("volume") as number[], new Int32()),
    }),
    "stream",
  );
}

function csv(rows: Row[]): string {
  const keys = Object.keys(DEMO_SCHEMA);
  const iso = (t: number) => new Date(t).toISOString().replace("T", " ").replace("Z", "");
  return [
    keys.join(","),
    ...rows.map((r) => keys.map((k) => k === "time" ? iso(r[k] as number) : r[k]).join(",")),
  ].join("\n") + "\n";
}

const enc = (s: string) => new TextEncoder().encode(s);

/** The benchmark's cases, each with its batch's bytes. */
export function cases(): Case[] {
  const r1 = makeRows(1_000, 1);
  const r10 = makeRows(10_000, 2);
  const columns = Object.fromEntries(
    Object.keys(DEMO_SCHEMA).map((k) => [k, r10.map((r) => r[k])]),
  );
  const ARROW = "application/vnd.apache.arrow.stream";
  return [
    { name: "arrow 1k", format: "arrow", type: ARROW, rows: 1_000, batches: 300, bytes: arrow(r1) },
    {
      name: "arrow 10k",
      format: "arrow",
      type: ARROW,
      rows: 10_000,
      batches: 120,
      bytes: arrow(r10),
    },
    {
      name: "json rows 10k",
      format: "json",
      type: "application/json",
      rows: 10_000,
      batches: 80,
      bytes: enc(JSON.stringify(r10)),
    },
    {
      name: "json columns 10k",
      format: "columns",
      type: "application/json",
      rows: 10_000,
      batches: 80,
      bytes: enc(JSON.stringify(columns)),
    },
    {
      name: "ndjson 10k",
      format: "ndjson",
      type: "application/x-ndjson",
      rows: 10_000,
      batches: 80,
      bytes: enc(r10.map((r) => JSON.stringify(r)).join("\n") + "\n"),
    },
    {
      name: "csv 10k",
      format: "csv",
      type: "text/csv",
      rows: 10_000,
      batches: 80,
      bytes: enc(csv(r10)),
    },
  ];
}

let tableSeq = 0;

const channel = new MessageChannel();

/**
 * Lets due timers and I/O run, like a timer would, but without the 4 ms
 * clamp nested timers get, so the loop itself adds no idle time.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

/**
 * Rows/s applying the batches straight to an engine in this process, one
 * after another. With `yieldEach`, the loop lets the event loop run between
 * batches, as every source in the running service does, so the engine polls
 * (and would notify viewers) on its schedule meanwhile; without it, one
 * poll processes every batch at the end ("bare"), which no live service
 * with a steady stream does.
 */
async function inProcess(host: EngineHost, c: Case, yieldEach: boolean): Promise<number> {
  const table = await host.createTable(`in-${++tableSeq}`, { ...DEMO_SCHEMA });
  const options = { format: c.format } as Parameters<typeof table.update>[1];
  await table.update(c.bytes.slice().buffer, options);
  await host.flush();
  const start = performance.now();
  for (let i = 0; i < c.batches; i++) {
    await table.update(c.bytes.slice().buffer, options);
    if (yieldEach) await yieldToEventLoop();
  }
  await host.flush();
  const seconds = (performance.now() - start) / 1000;
  await table.delete();
  return (c.rows * c.batches) / seconds;
}

/**
 * Rows/s submitting the batches to an in-process sink, acknowledged per
 * batch like HTTP and with as many in flight: the HTTP figure without HTTP.
 */
async function viaSink(host: EngineHost, sink: BatchSink, c: Case): Promise<number> {
  const name = `sink-${++tableSeq}`;
  const table = await host.createTable(name, { ...DEMO_SCHEMA });
  await sink.submit({ table: name, op: "update", format: c.format, bytes: c.bytes });
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < c.batches) {
      next++;
      await sink.submit({ table: name, op: "update", format: c.format, bytes: c.bytes });
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  await table.delete();
  return (c.rows * c.batches) / seconds;
}

/** POSTs one batch and checks it was accepted. */
export async function post(base: string, name: string, c: Case): Promise<void> {
  const res = await fetch(`${base}api/tables/${name}/rows`, {
    method: "POST",
    body: c.bytes as BodyInit,
    headers: { "content-type": c.type },
  });
  if (res.status !== 200) throw new Error(`${c.name}: ${res.status} ${await res.text()}`);
  await res.body?.cancel();
}

/** Rows/s POSTing the batches to the service, `CONCURRENCY` requests in flight. */
async function overHttp(base: string, c: Case): Promise<number> {
  const name = `http-${++tableSeq}`;
  const put = await fetch(`${base}api/tables/${name}`, {
    method: "PUT",
    body: JSON.stringify({ schema: DEMO_SCHEMA }),
    headers: { "content-type": "application/json" },
  });
  if (put.status !== 201) throw new Error(`create failed: ${put.status} ${await put.text()}`);
  await post(base, name, c);
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < c.batches) {
      next++;
      await post(base, name, c);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  await (await fetch(`${base}api/tables/${name}`, { method: "DELETE" })).body?.cancel();
  return (c.rows * c.batches) / seconds;
}

/**
 * Starts `main.ts` as a subprocess on a free port and waits for `/healthz`;
 * `env` adds to (or overrides) the benchmark's settings. `pid` is the
 * service's own process (no shell in between), for /proc figures.
 */
export async function startServer(
  env: Record<string, string> = {},
): Promise<{ base: string; pid: number; stop: () => Promise<void> }> {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("../main.ts", import.meta.url).pathname],
    // The benchmark measures throughput, not the per-client request rate limit.
    env: {
      PORT: String(port),
      DEMO: "0",
      LOG_LEVEL: "warn",
      // Memory only: this benchmark measures ingest against the engine's own rate.
      DATA_DIR: "",
      INGEST_RPS: "100000",
      INGEST_BURST: "100000",
      ...env,
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const base = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`${base}healthz`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    base,
    pid: child.pid,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** The middle value. */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (import.meta.main) {
  const host = await EngineHost.create();
  const sink = new BatchSink(host);
  const server = await startServer();
  const only = Deno.env.get("CASES")?.split(",").map((s) => s.trim());
  const all = cases().filter((c) => !only || only.includes(c.name));
  const results: { name: string; bare: number; inproc: number; sink: number; http: number }[] = [];
  try {
    for (const c of all) {
      const bp: number[] = [];
      const ip: number[] = [];
      const sp: number[] = [];
      const hp: number[] = [];
      // Round 0 warms both processes' compilers and caches for this case
      // and is discarded. The rest alternate the paths, so a change in
      // machine load hits all alike.
      for (let r = 0; r <= ROUNDS; r++) {
        const keep = <T>(xs: T[], x: T) => r > 0 && xs.push(x);
        keep(bp, await inProcess(host, c, false));
        keep(ip, await inProcess(host, c, true));
        keep(sp, await viaSink(host, sink, c));
        keep(hp, await overHttp(server.base, c));
      }
      results.push({
        name: c.name,
        bare: median(bp),
        inproc: median(ip),
        sink: median(sp),
        http: median(hp),
      });
    }
  } finally {
    channel.port1.close();
    channel.port2.close();
    await sink.close();
    host.close();
    await server.stop();
  }
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US").padStart(11);
  console.log(
    `ingest benchmark: ${ROUNDS} rounds after a warm-up round, median; HTTP with ${CONCURRENCY} requests in flight`,
  );
  console.log(
    "in-process: engine update() one batch after another in this process, the event loop " +
      "running between them; bare: the same without yielding, so one poll processes them " +
      "all at the end; sink: in-process sink, acknowledged per batch like HTTP",
  );
  console.log(
    "| case | batches | bare rows/s | in-process rows/s | sink rows/s | HTTP rows/s | " +
      "HTTP / in-process | HTTP / bare |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const pct = (a: number, b: number) => `${(100 * a / b).toFixed(1)}%`;
  for (const [i, r] of results.entries()) {
    console.log(
      `| ${r.name} | ${all[i].batches} | ${fmt(r.bare)} | ${fmt(r.inproc)} | ${fmt(r.sink)} | ` +
        `${fmt(r.http)} | ${pct(r.http, r.inproc)} | ${pct(r.http, r.bare)} |`,
    );
  }
}
