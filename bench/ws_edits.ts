/**
 * WebSocket edit benchmark: what going through the ingest sink (validation
 * and the batch log) costs a stock client's edits, against the same edits of
 * a table the session created for itself, which go straight to the engine.
 * One run, in one process (service and client share it), three modes:
 *
 * - `engine`: the session's own table, no sink (the reference);
 * - `sink, memory`: a shared table, memory-only log;
 * - `sink, durable`: a shared table, write-ahead log in a temporary
 *   `DATA_DIR` with its default sync (one `fdatasync` per group).
 *
 * Cases: a datagrid-style cell edit (one row, awaited before the next, as a
 * person editing does) and 10k-row Arrow updates, awaited one at a time (a
 * lone producer). Prints p50 and p99 acknowledgement times, the rate, and
 * the ratio of each mode's rate to the engine's.
 *
 * Run: `deno task bench:ws-edits` (`EDITS`, `BATCHES` override the counts).
 *
 * @module
 */

import perspective from "@finos/perspective";
import { type Service, startService } from "../src/service.ts";
import { silentLogger } from "../src/ops/log.ts";
import { readSecurityConfig } from "../src/security/mod.ts";
import type { Client, Table } from "../src/engine/perspective.ts";

const EDITS = Number(Deno.env.get("EDITS") ?? 400);
const BATCHES = Number(Deno.env.get("BATCHES") ?? 30);
const SCHEMA = { id: "integer", name: "string", x: "float" } as const;

interface Figures {
  p50: number;
  p99: number;
  perSecond: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function timed(n: number, one: (i: number) => Promise<unknown>): Promise<Figures> {
  const times: number[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await one(i);
    times.push(performance.now() - t);
  }
  const total = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99), perSecond: n / total };
}

async function arrowBatch(rows: number, offset: number): Promise<ArrayBuffer> {
  const source = await perspective.table({
    id: Array.from({ length: rows }, (_, i) => offset + i),
    name: Array.from({ length: rows }, (_, i) => `row ${i}`),
    x: Array.from({ length: rows }, (_, i) => i * 0.5),
  });
  const view = await source.view();
  const bytes = await view.to_arrow();
  await view.delete();
  await source.delete();
  return bytes;
}

async function openService(dataDir: string): Promise<Service> {
  const security = await readSecurityConfig((k) => (k === "ALLOW_EDIT" ? "1" : undefined));
  // Edits share the HTTP ingest rate limit, which would measure the limit rather than the path.
  security.limits = { ...security.limits, ingestRequestsPerSecond: 1e9, ingestBurst: 1e9 };
  return await startService({ port: 0, demo: false, log: silentLogger, security, dataDir });
}

async function shared(service: Service, client: Client, name: string): Promise<Table> {
  await service.sink.createTable(name, { schema: { ...SCHEMA }, index: "id", limit: null });
  return await client.open_table(name);
}

type Mode = "engine" | "sink, memory" | "sink, durable";

async function run(mode: Mode, batches: ArrayBuffer[]): Promise<[Figures, Figures]> {
  const dataDir = mode === "sink, durable" ? await Deno.makeTempDir({ prefix: "bench-ws-" }) : "";
  const service = await openService(dataDir);
  const url = new URL("websocket", service.url).href.replace(/^http/, "ws");
  const client = await perspective.websocket(url);
  try {
    const table = (name: string) =>
      mode === "engine"
        ? client.table({ ...SCHEMA } as unknown as Record<string, unknown[]>, { name, index: "id" })
        : shared(service, client, name);
    const cells = await table("cells");
    await cells.update([{ id: 0, name: "warm", x: 0 }]);
    const cell = await timed(EDITS, (i) => cells.update([{ __INDEX__: i % 100, name: `v${i}` }]));
    const bulk = await table("bulk");
    await bulk.update(batches[0]);
    const arrow = await timed(BATCHES, (i) => bulk.update(batches[1 + (i % (batches.length - 1))]));
    return [cell, { ...arrow, perSecond: arrow.perSecond * 10_000 }];
  } finally {
    await client.terminate();
    await service.close();
    if (dataDir) await Deno.remove(dataDir, { recursive: true });
  }
}

const batches = await Promise.all(
  Array.from({ length: 6 }, (_, i) => arrowBatch(10_000, i * 10_000)),
);
const modes: Mode[] = ["engine", "sink, memory", "sink, durable"];
const results = new Map<Mode, [Figures, Figures]>();
for (const mode of modes) results.set(mode, await run(mode, batches));
const [cellRef, arrowRef] = results.get("engine")!;
const ms = (n: number) => n.toFixed(2).padStart(7);
console.log(`load: ${Deno.loadavg().map((n) => n.toFixed(2)).join(" ")}`);
console.log(
  "mode            | cell edit p50 ms | p99 ms  | edits/s | ratio | arrow 10k p50 ms | p99 ms  | rows/s    | ratio",
);
for (const mode of modes) {
  const [cell, arrow] = results.get(mode)!;
  console.log(
    `${mode.padEnd(15)} | ${ms(cell.p50).padStart(16)} | ${ms(cell.p99)} | ` +
      `${cell.perSecond.toFixed(0).padStart(7)} | ${
        (cell.perSecond / cellRef.perSecond).toFixed(2)
      }  | ` +
      `${ms(arrow.p50).padStart(16)} | ${ms(arrow.p99)} | ${
        arrow.perSecond.toFixed(0).padStart(9)
      } | ` +
      `${(arrow.perSecond / arrowRef.perSecond).toFixed(2)}`,
  );
}
