/**
 * Export memory benchmark: how much the service's resident memory grows
 * while it serves a whole table over `GET /api/tables/{table}/rows`.
 *
 * For each case it starts a fresh service (`main.ts` as a subprocess,
 * `DATA_DIR` empty, no demo), loads one table of `ROWS` rows of the demo's
 * schema (datetime, three strings, two floats, an integer) in 100k-row Arrow
 * batches, waits for the process's RSS to settle, then exports the table in
 * one format while sampling the process's RSS (`/proc/<pid>/status`) every
 * 20 ms. The client reads the body at full speed (`fast`) or like a slow
 * network (`slow`: in chunks, pausing after each so it takes at most
 * `SLOW_MIB_S` MiB/s). It prints, per case, the RSS of the empty service and
 * with the table loaded (their difference estimates the table's own size,
 * beside the engine's used bytes), the peak RSS growth above the loaded
 * table while exporting (sampled, and the kernel's peak as a check), time
 * to first body byte, total time and bytes; then a target line per Arrow
 * case.
 *
 * Run: `deno task bench:export` (`ROWS` (1000000), `CASES="arrow fast,csv
 * slow"` picks cases from arrow, csv and ndjson × fast and slow;
 * `SLOW_MIB_S` (8)).
 *
 * @module
 */

import { DEMO_SCHEMA } from "../src/engine/demo.ts";
import { arrow, makeRows, startServer } from "./ingest.ts";
import { peakRssBytes, resetPeakRss, rssBytes } from "./fanout/proc.ts";

const ROWS = Number(Deno.env.get("ROWS") ?? 1_000_000);
const SLOW_MIB_S = Number(Deno.env.get("SLOW_MIB_S") ?? 8);
const FORMATS = ["arrow", "csv", "ndjson"] as const;
const SPEEDS = ["fast", "slow"] as const;
/** Rows a load batch carries: its Arrow stays well under the 16 MiB body limit. */
const BATCH_ROWS = 100_000;
/** The target for an Arrow export's peak growth above the loaded table. */
const ARROW_TARGET = 64 * 2 ** 20;
const SAMPLE_MS = 20;

/** One export: a format, read at full speed or slowly. */
interface Case {
  name: string;
  format: typeof FORMATS[number];
  speed: typeof SPEEDS[number];
}

/** What one case measured; memory in bytes, times in ms. */
interface Result extends Case {
  emptyRss: number;
  tableRss: number;
  engineUsed: number;
  peakGrowth: number;
  /** Growth by the kernel's peak RSS, NaN when it could not be reset. */
  hwmGrowth: number;
  firstByteMs: number;
  totalMs: number;
  bytes: number;
  /**
   * Peak growth of a second export right after the first, above the RSS
   * between them: the export's own memory, with the engine's heap grown by the first.
   */
  repeatGrowth: number;
}

const MIB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS once it stops moving: three readings 300 ms apart within 1 MiB, or after 15 s. */
async function settledRss(pid: number): Promise<number> {
  const readings: number[] = [rssBytes(pid)];
  const deadline = performance.now() + 15_000;
  while (performance.now() < deadline) {
    await sleep(300);
    readings.push(rssBytes(pid));
    const last = readings.slice(-3);
    if (last.length === 3 && Math.max(...last) - Math.min(...last) < MIB) break;
  }
  return readings.at(-1)!;
}

async function engineUsed(base: string): Promise<number> {
  const text = await (await fetch(`${base}metrics`)).text();
  const line = text.split("\n").find((l) =>
    l.startsWith('perspective_engine_memory_bytes{kind="used"}')
  );
  return line === undefined ? NaN : Number(line.split(" ").at(-1));
}

async function load(base: string, batches: Uint8Array[]): Promise<void> {
  const put = await fetch(`${base}api/tables/big`, {
    method: "PUT",
    body: JSON.stringify({ schema: DEMO_SCHEMA }),
    headers: { "content-type": "application/json" },
  });
  if (put.status !== 201) throw new Error(`create: ${put.status} ${await put.text()}`);
  for (const bytes of batches) {
    const res = await fetch(`${base}api/tables/big/rows`, {
      method: "POST",
      body: bytes as BodyInit,
      headers: { "content-type": "application/vnd.apache.arrow.stream" },
    });
    if (res.status !== 200) throw new Error(`load: ${res.status} ${await res.text()}`);
    await res.body?.cancel();
  }
}

/** Reads the export's body, slowly or not, and times it. */
async function download(
  url: string,
  speed: Case["speed"],
): Promise<{ firstByteMs: number; totalMs: number; bytes: number }> {
  const t0 = performance.now();
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`export: ${res.status} ${await res.text()}`);
  const reader = res.body.getReader();
  let firstByteMs = NaN;
  let bytes = 0;
  let started = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (bytes === 0) {
      firstByteMs = performance.now() - t0;
      started = performance.now();
    }
    bytes += value.byteLength;
    if (speed === "slow") {
      const due = started + (bytes / (SLOW_MIB_S * MIB)) * 1000;
      await sleep(Math.max(1, due - performance.now()));
    }
  }
  return { firstByteMs, totalMs: performance.now() - t0, bytes };
}

async function run(c: Case, batches: Uint8Array[]): Promise<Result> {
  const server = await startServer({ DATA_DIR: "", DEMO: "0" });
  try {
    const emptyRss = await settledRss(server.pid);
    await load(server.base, batches);
    const tableRss = await settledRss(server.pid);
    const used = await engineUsed(server.base);
    const hwm = resetPeakRss(server.pid);
    let peak = rssBytes(server.pid);
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssBytes(server.pid));
    }, SAMPLE_MS);
    const url = `${server.base}api/tables/big/rows?format=${c.format}`;
    let timing;
    try {
      timing = await download(url, c.speed);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rssBytes(server.pid));
    // Within the 5 s the exports' view is kept, and the engine's heap has
    // grown for it already: what a second export adds is the export's own.
    const between = rssBytes(server.pid);
    let repeatPeak = between;
    const repeatSampler = setInterval(() => {
      repeatPeak = Math.max(repeatPeak, rssBytes(server.pid));
    }, SAMPLE_MS);
    try {
      await download(url, c.speed);
    } finally {
      clearInterval(repeatSampler);
    }
    repeatPeak = Math.max(repeatPeak, rssBytes(server.pid));
    return {
      repeatGrowth: repeatPeak - between,
      ...c,
      ...timing,
      emptyRss,
      tableRss,
      engineUsed: used,
      peakGrowth: peak - tableRss,
      hwmGrowth: hwm ? peakRssBytes(server.pid) - tableRss : NaN,
    };
  } finally {
    await server.stop();
  }
}

const fmt = (n: number, digits = 1) => Number.isFinite(n) ? n.toFixed(digits) : "-";

if (import.meta.main) {
  const all = FORMATS.flatMap((format) =>
    SPEEDS.map((speed): Case => ({ name: `${format} ${speed}`, format, speed }))
  );
  const only = Deno.env.get("CASES")?.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = only?.filter((n) => !all.some((c) => c.name === n)) ?? [];
  if (unknown.length) {
    console.error(`unknown CASES ${unknown.join(", ")}; from ${all.map((c) => c.name).join(", ")}`);
    Deno.exit(2);
  }
  const cases = all.filter((c) => !only || only.includes(c.name));
  console.log(
    `bench:export: ${ROWS} rows of the demo's schema, a fresh service per case, RSS sampled ` +
      `every ${SAMPLE_MS} ms; slow reads at most ${SLOW_MIB_S} MiB/s; ${Deno.build.os} ` +
      `${navigator.hardwareConcurrency} cores, load ${
        Deno.loadavg().map((n) => n.toFixed(2)).join(" ")
      }`,
  );
  const batches: Uint8Array[] = [];
  for (let done = 0, seed = 1; done < ROWS; done += BATCH_ROWS, seed++) {
    batches.push(arrow(makeRows(Math.min(BATCH_ROWS, ROWS - done), seed)));
  }
  const results: Result[] = [];
  for (const c of cases) {
    const r = await run(c, batches);
    results.push(r);
    console.error(
      `${r.name}: peak growth ${fmt(r.peakGrowth / MIB)} MiB, ` +
        `a second export ${fmt(r.repeatGrowth / MIB)} MiB`,
    );
  }
  console.log(
    "\n| case | empty RSS MiB | table RSS MiB | table growth MiB | engine used MiB | " +
      "peak growth MiB | kernel peak growth MiB | first byte ms | total ms | body MiB | " +
      "second export's growth MiB |",
  );
  console.log("| --- |" + " ---: |".repeat(10));
  for (const r of results) {
    console.log(
      `| ${r.name} | ${fmt(r.emptyRss / MIB, 0)} | ${fmt(r.tableRss / MIB, 0)} | ` +
        `${fmt((r.tableRss - r.emptyRss) / MIB, 0)} | ${fmt(r.engineUsed / MIB, 0)} | ` +
        `${fmt(r.peakGrowth / MIB)} | ${fmt(r.hwmGrowth / MIB)} | ${fmt(r.firstByteMs, 0)} | ` +
        `${fmt(r.totalMs, 0)} | ${fmt(r.bytes / MIB)} | ${fmt(r.repeatGrowth / MIB)} |`,
    );
  }
  const arrows = results.filter((r) => r.format === "arrow");
  if (arrows.length) console.log("\nTargets (peak RSS growth above the loaded table):");
  for (const r of arrows) {
    console.log(
      `- ${r.name}, first export (the engine makes its views): growth ` +
        `${fmt(r.peakGrowth / MIB)} MiB < ${ARROW_TARGET / MIB} MiB: ` +
        (r.peakGrowth < ARROW_TARGET ? "PASS" : "MISS"),
    );
    console.log(
      `- ${r.name}, second export (the engine heap already grown): growth ` +
        `${fmt(r.repeatGrowth / MIB)} MiB < ${ARROW_TARGET / MIB} MiB: ` +
        (r.repeatGrowth < ARROW_TARGET ? "PASS" : "MISS"),
    );
  }
}
