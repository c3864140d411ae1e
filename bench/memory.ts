/**
 * Memory benchmark: where the engine starts to drop writes, and what the
 * service acknowledges when a table is filled to its memory budget.
 *
 * 1. Probes (`bench/memory/probe.ts`, one child process at a time, each up
 *    to about 3-4 GB and a minute or more of CPU): fill one table of a given
 *    shape with 500k-row Arrow batches straight into the engine until the
 *    table grows by less than a batch; prints the last whole batch and the
 *    first short one (rows, engine heap and used bytes).
 * 2. HTTP fill: starts the service (`main.ts`, tables in memory, or with
 *    `DURABLE=1` in a temporary `DATA_DIR`; default budget unless
 *    `MAX_ENGINE_MEMORY` is set) and POSTs 500k-row Arrow batches of four
 *    float64 columns until one is refused; prints the rows acknowledged,
 *    the rows in the table, the refusal, and whether a full export answers.
 *
 * Run: `deno task bench:memory` (`SHAPES=float64x4,mixed` picks probes,
 * `SHAPES=` skips them; `HTTP=0` skips the fill; `MAX_BATCHES` bounds it).
 *
 * @module
 */

import { floatBatch } from "../tests/support/arrow_batches.ts";
import { startServer as startIngestServer } from "./ingest.ts";

interface Point {
  sent: number;
  size?: number;
  heap?: number;
  used?: number;
  error?: string;
}

const GB = 1e9;
const fmt = (n?: number) => n === undefined ? "-" : `${(n / GB).toFixed(2)} GB`;

async function probe(shape: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("./memory/probe.ts", import.meta.url).pathname,
      shape,
      "500000",
      "40000000",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const points: Point[] = new TextDecoder().decode(out.stdout).split("\n").filter(Boolean)
    .map((l) => JSON.parse(l));
  const firstShort = points.findIndex((p) => p.error || p.size !== p.sent);
  const last = points[firstShort > 0 ? firstShort - 1 : points.length - 1];
  const short = firstShort >= 0 ? points[firstShort] : undefined;
  console.log(
    `${shape.padEnd(10)} last whole batch: ${last?.sent} rows, heap ${fmt(last?.heap)}, ` +
      `used ${fmt(last?.used)}; first short batch: ` +
      (short
        ? short.error
          ? `engine error after ${short.sent} rows: ${short.error}`
          : `sent ${short.sent}, table holds ${short.size} (heap ${fmt(short.heap)}, used ${
            fmt(short.used)
          })`
        : `none up to ${last?.sent} rows${out.success ? "" : ` (child exit ${out.code})`}`),
  );
}

/**
 * The service as a subprocess (bench/ingest.ts's `startServer`): in memory
 * by default; DURABLE=1 keeps tables in a temporary data directory, as
 * `deno task start` does in ./data.
 */
async function startServer(): Promise<{ base: string; stop: () => Promise<void> }> {
  const dataDir = await Deno.makeTempDir({ prefix: "bench-memory-" });
  const env: Record<string, string> = {
    DATA_DIR: Deno.env.get("DURABLE") === "1" ? dataDir : "",
  };
  const budget = Deno.env.get("MAX_ENGINE_MEMORY");
  if (budget) env.MAX_ENGINE_MEMORY = budget;
  const server = await startIngestServer(env);
  return {
    base: server.base,
    stop: async () => {
      await server.stop();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

async function metric(base: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${base}metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

async function httpFill(maxBatches: number): Promise<void> {
  const server = await startServer();
  try {
    const budget = await metric(server.base, "perspective_engine_memory_budget_bytes");
    console.log(`\nHTTP fill, budget ${fmt(budget)}, 500k-row batches of four float64 columns:`);
    const body = floatBatch(500_000, 4);
    let acknowledged = 0;
    let refusal = "";
    const statuses = new Map<number, number>();
    for (let i = 0; i < maxBatches; i++) {
      const res = await fetch(`${server.base}api/tables/big/rows`, {
        method: "POST",
        headers: { "content-type": "application/vnd.apache.arrow.stream" },
        body: body as BodyInit,
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const text = await res.text();
      if (res.status === 200 || res.status === 201) acknowledged += JSON.parse(text).rows;
      else if (!refusal) refusal = `${res.status} ${JSON.parse(text).detail}`;
      if (res.status === 507 && (statuses.get(507) ?? 0) >= 3) break;
    }
    const info = await (await fetch(`${server.base}api/tables/big`)).json();
    const used = await metric(server.base, 'perspective_engine_memory_bytes{kind="used"}');
    const heap = await metric(server.base, 'perspective_engine_memory_bytes{kind="heap"}');
    console.log(`  statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    console.log(`  rows acknowledged: ${acknowledged}; rows in the table: ${info.size}`);
    console.log(`  engine used ${fmt(used)}, heap ${fmt(heap)}`);
    console.log(`  first refusal: ${refusal || "none"}`);
    const exported = await fetch(`${server.base}api/tables/big/rows?format=arrow`);
    const bytes = exported.ok ? (await exported.arrayBuffer()).byteLength : 0;
    if (!exported.ok) await exported.body?.cancel();
    console.log(`  full export: ${exported.status}${exported.ok ? `, ${bytes} bytes` : ""}`);
    const health = await fetch(`${server.base}healthz`);
    await health.body?.cancel();
    console.log(`  /healthz: ${health.status}`);
  } finally {
    await server.stop();
  }
}

if (import.meta.main) {
  console.log(`load: ${Deno.loadavg().map((n) => n.toFixed(2)).join(" ")}`);
  const shapes = (Deno.env.get("SHAPES") ?? "float64x4,float64x1,mixed,indexed").split(",")
    .map((s) => s.trim()).filter(Boolean);
  if (shapes.length) console.log("Probes (in-process engine, 500k-row Arrow batches):");
  for (const shape of shapes) await probe(shape);
  if (Deno.env.get("HTTP") !== "0") {
    await httpFill(Number(Deno.env.get("MAX_BATCHES") ?? 100));
  }
}
