/**
 * `deno task bench:fanout [--quick] [--seconds S] [--rate R] [--rows B] [--procs P]
 *   [--only server-only|replicated|stalled|heavy] [--viewers 500,1000]`
 *
 * Fan-out benchmark: this service against Perspective's own Node
 * `WebSocketServer` (bench/reference, the same package version, run with
 * Node). For each server, mode and viewer count it starts a fresh server,
 * connects the viewers from several load-generator processes, drives R
 * updates a second of B rows (each row carries its send time), and prints
 * delivery latency, the fraction of updates that reached every viewer,
 * server CPU and memory, and ours / reference.
 *
 * - server-only: each viewer refetches its visible window on each
 *   notification, like `<perspective-viewer>` against a remote table.
 * - replicated: ours streams one shared delta per poll over
 *   `/websocket/broadcast/{table}`; the reference's viewers each hold a
 *   server-side view with `on_update({mode: "row"})`, as the stock client's
 *   `table(view)` does.
 * - replicated+stalled: ours with one more subscriber that never reads.
 * - server-only+heavy: server-only viewers beside one client exporting a
 *   200k-row table back to back; the HTTP probe column shows how long
 *   `/healthz` waits meanwhile.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { cpuSeconds, rssBytes } from "./fanout/proc.ts";
import { Child, ensureReference, freePort, probeHttp, refDir, sleep } from "./fanout/children.ts";
import { capacity, delivery, percentile, type PhaseResult, ratios, table } from "./fanout/stats.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    seconds: { type: "string" },
    rate: { type: "string", default: "10" },
    rows: { type: "string", default: "100" },
    procs: { type: "string", default: "3" },
    only: { type: "string" },
    viewers: { type: "string" },
  },
});
const quick = args.quick;
const SECONDS = Number(args.seconds ?? (quick ? 3 : 5));
const RATE = Number(args.rate);
const ROWS = Number(args.rows);
const PROCS = Number(args.procs);
const pick = (counts: number[]) =>
  args.viewers ? args.viewers.split(",").map(Number).filter((n) => counts.includes(n)) : counts;
const SERVER_ONLY_N = pick(quick ? [1, 10, 100] : [1, 10, 50, 100, 200, 500, 1000]);
const REPLICATED_N = pick(quick ? [1, 10, 100] : [1, 10, 100, 500, 1000, 2000]);
const REFERENCE_REPLICATED_N = pick(quick ? [1, 10, 100] : [1, 10, 100, 500, 1000]);
const STALL_N = quick ? 100 : 500;
/** Viewers alongside one client exporting a 200k-row table back to back. */
const HEAVY_N = 100;
/** `--only server-only|replicated|stalled|heavy` runs one group. */
const only = (group: string) => !args.only || args.only === group;
/** How long to wait after the last update for stragglers. */
const GRACE_MS = 3000;
/** The bench server's outbound bound: small, so a stalled subscriber is dropped within the run. */
const BENCH_BOUND = 1024 * 1024;

interface Phase {
  server: "ours" | "reference";
  mode: "server-only" | "server-only+heavy" | "replicated" | "replicated+stalled";
  viewers: number;
}

async function runPhase(phase: Phase): Promise<PhaseResult> {
  const port = freePort();
  const heavy = phase.mode === "server-only+heavy";
  const server = phase.server === "ours"
    ? new Child(Deno.execPath(), [
      "run",
      "-A",
      "bench/fanout/our_server.ts",
      String(port),
      "0",
      String(BENCH_BOUND),
      heavy ? "heavy" : "",
    ])
    : new Child("node", [`${refDir}/server.mjs`, String(port), heavy ? "heavy" : ""]);
  const loadgens: Child[] = [];
  try {
    const { pid } = await server.next<{ pid: number }>();
    const base = `ws://127.0.0.1:${port}`;
    const broadcast = phase.server === "ours" && phase.mode.startsWith("replicated");
    const url = phase.server === "reference"
      ? `${base}/`
      : broadcast
      ? `${base}/websocket/broadcast/bench`
      : `${base}/websocket`;
    const procs = Math.max(1, Math.min(PROCS, Math.ceil(phase.viewers / 50)));
    for (let i = 0; i < procs; i++) {
      loadgens.push(new Child(Deno.execPath(), ["run", "-A", "bench/fanout/loadgen.ts"]));
    }
    await sleep(300);
    const rss0 = rssBytes(pid);
    const share = (i: number) =>
      Math.floor(phase.viewers / procs) + (i < phase.viewers % procs ? 1 : 0);
    const connected = await Promise.all(
      loadgens.map((g, i) =>
        g.ask<{ connected: number; failed: number }>({
          cmd: "connect",
          url,
          mode: phase.mode.startsWith("server-only") ? "server" : "replicated",
          transport: broadcast ? "broadcast" : "protocol",
          count: share(i),
          stalled: phase.mode === "replicated+stalled" && i === 0 ? 1 : 0,
          heavy: heavy && i === 0,
        })
      ),
    );
    await sleep(1000);
    const viewers = connected.reduce((s, c) => s + c.connected, 0);
    const failed = connected.reduce((s, c) => s + c.failed, 0);
    const idlePerViewer = (rssBytes(pid) - rss0) / Math.max(1, viewers);
    await Promise.all(loadgens.map((g) => g.ask({ cmd: "reset" })));
    const cpu0 = cpuSeconds(pid);
    const t0 = performance.now();
    // Event-loop responsiveness: an HTTP probe every 100 ms while driving.
    const probe = probeHttp(
      `http://127.0.0.1:${port}${phase.server === "ours" ? "/healthz" : "/deno.json"}`,
    );
    const { sends } = await server.ask<{ sends: [number, number][] }>({
      cmd: "drive",
      rate: RATE,
      count: ROWS,
      seconds: SECONDS,
    });
    const driveSeconds = (performance.now() - t0) / 1000;
    const probes = await probe.stop();
    const cpu = (cpuSeconds(pid) - cpu0) / driveSeconds;
    await sleep(GRACE_MS);
    const reports = await Promise.all(
      loadgens.map((g) =>
        g.ask<{
          logs: number[][];
          lagP99: number;
          cpu: number;
          saturated: boolean;
          heavyExports?: number;
        }>({
          cmd: "report",
        })
      ),
    );
    let stalledCodes: (number | null)[] | undefined;
    if (phase.mode === "replicated+stalled") {
      stalledCodes = (await loadgens[0].ask<{ codes: (number | null)[] }>({ cmd: "stalled" }))
        .codes;
    }
    const heavyExports = reports.reduce((s, r) => s + (r.heavyExports ?? 0), 0);
    const { latencies, reachedAll } = delivery(sends, reports.flatMap((r) => r.logs));
    return {
      ...phase,
      viewers,
      failed,
      updates: sends.length,
      rate: sends.length / driveSeconds,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      reachedAll,
      cpu,
      rss: rssBytes(pid),
      idlePerViewer,
      saturated: reports.some((r) => r.saturated),
      loadLagP99: Math.max(...reports.map((r) => r.lagP99)),
      stalledCodes,
      httpP99: percentile(probes, 0.99),
      heavyExports,
    };
  } finally {
    await Promise.all(loadgens.map((g) => g.quit()));
    await server.quit();
  }
}

await ensureReference();
const phases: Phase[] = [];
for (const n of only("server-only") ? SERVER_ONLY_N : []) {
  phases.push({ server: "ours", mode: "server-only", viewers: n });
  phases.push({ server: "reference", mode: "server-only", viewers: n });
}
for (const n of only("replicated") ? REPLICATED_N : []) {
  phases.push({ server: "ours", mode: "replicated", viewers: n });
  if (REFERENCE_REPLICATED_N.includes(n)) {
    phases.push({ server: "reference", mode: "replicated", viewers: n });
  }
}
if (only("stalled")) phases.push({ server: "ours", mode: "replicated+stalled", viewers: STALL_N });
if (only("heavy")) {
  phases.push({ server: "ours", mode: "server-only+heavy", viewers: HEAVY_N });
  phases.push({ server: "reference", mode: "server-only+heavy", viewers: HEAVY_N });
}

const started = performance.now();
console.log(
  `bench:fanout: ${RATE} updates/s of ${ROWS} rows for ${SECONDS} s per run, ` +
    `up to ${PROCS} load-generator processes, ${Deno.build.os} ${navigator.hardwareConcurrency} cores`,
);
const results: PhaseResult[] = [];
for (const phase of phases) {
  const r = await runPhase(phase);
  results.push(r);
  console.error(
    `${r.server} ${r.mode} n=${r.viewers}: p99 ${r.p99.toFixed(1)} ms, ` +
      `reached ${(r.reachedAll * 100).toFixed(0)}%, cpu ${r.cpu.toFixed(2)}` +
      (r.saturated ? " (load generator saturated)" : ""),
  );
}

console.log("\n" + table(results));
console.log("\nOurs / reference:\n\n" + ratios(results));

/** The heavy-query lines: viewers' and /healthz's p99 beside an exporting client, per server. */
function heavyLines(): string {
  let out = "";
  for (const server of ["ours", "reference"]) {
    const h = results.find((r) => r.server === server && r.mode === "server-only+heavy");
    const base = results.find((r) =>
      r.server === server && r.mode === "server-only" && r.viewers === HEAVY_N
    );
    if (!h) continue;
    out += `- ${server}, ${HEAVY_N} viewers beside a client exporting 200k rows back to back ` +
      `(${h.heavyExports ?? 0} exports): viewers p99 ${h.p99.toFixed(1)} ms` +
      (base ? ` (${base.p99.toFixed(1)} ms without)` : "") +
      `, HTTP probe p99 ${h.httpP99.toFixed(1)} ms\n`;
  }
  return out;
}

const ms = 250;
const oursCap = capacity(results, "ours", "server-only", ms);
const refCap = capacity(results, "reference", "server-only", ms);
const rep = (n: number) =>
  results.find((r) => r.server === "ours" && r.mode === "replicated" && r.viewers === n);
const stall = results.find((r) => r.mode === "replicated+stalled");
const calm = rep(STALL_N);
const big = rep(Math.max(...REPLICATED_N));
const one = rep(1);
const thousand = rep(1000);
const idle = results.filter((r) => r.server === "ours" && r.viewers >= 100);
console.log(`
Targets:
- server-only, most viewers with p99 <= ${ms} ms and every update delivered: ours ${oursCap}, reference ${refCap} (ratio ${
  refCap ? (oursCap / refCap).toFixed(1) : "-"
}, target >= 5; bounded by the counts run)
- replicated broadcast at ${big?.viewers} viewers: p99 ${big?.p99.toFixed(1)} ms, reached all ${
  ((big?.reachedAll ?? 0) * 100).toFixed(0)
}% (target: 2000 viewers, p99 <= 250 ms, 100%)
- broadcast CPU at 1000 viewers / at 1 viewer: ${
  thousand && one ? (thousand.cpu / one.cpu).toFixed(2) : "not run"
} (target <= 3)
- idle viewer memory (ours, >= 100 viewers): ${
  idle.map((r) => `${r.mode} ${r.viewers}: ${(r.idlePerViewer / 1024).toFixed(0)} KiB`).join(", ")
} (target <= 64 KiB)
- one stalled among ${STALL_N}: healthy p99 ${stall?.p99.toFixed(1)} ms vs ${
  calm?.p99.toFixed(1)
} ms without (ratio ${
  stall && calm ? (stall.p99 / calm.p99).toFixed(2) : "-"
}, target <= 1.2); stalled socket close code: ${
  stall?.stalledCodes?.map((c) => c ?? "none (backlog under the bound)").join(", ")
}
${heavyLines()}- a load generator was saturated in: ${
  results.filter((r) => r.saturated).map((r) => `${r.server} ${r.mode} ${r.viewers}`).join(", ") ||
  "none"
}
Total time ${((performance.now() - started) / 1000).toFixed(0)} s.`);
