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
 * - server-only+quiet, server-only+heavy (the heavy group): 100 server-only
 *   viewers on a server that also hosts a 200k-row table; under +heavy, one
 *   client exports that table back to back (ours: alternately over HTTP,
 *   `GET /api/tables/big/rows?format=arrow`, and with a WebSocket view's
 *   `to_arrow()`; the reference: `to_arrow()`, the only way it serves a
 *   table). Target lines compare ours heavy with ours quiet and with the
 *   reference heavy, give `/healthz`'s p99 under the export, the exports
 *   each server finished, and notifications per viewer.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ensureReference } from "./fanout/children.ts";
import { type Phase, runPhase } from "./fanout/phase.ts";
import { type PhaseResult, ratios, table } from "./fanout/stats.ts";
import { generalTargets, heavyTargets } from "./fanout/targets.ts";

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
const drive = {
  seconds: Number(args.seconds ?? (quick ? 3 : 5)),
  rate: Number(args.rate),
  rows: Number(args.rows),
  procs: Number(args.procs),
};
const pick = (counts: number[]) =>
  args.viewers ? args.viewers.split(",").map(Number).filter((n) => counts.includes(n)) : counts;
const SERVER_ONLY_N = pick(quick ? [1, 10, 100] : [1, 10, 50, 100, 200, 500, 1000]);
const REPLICATED_N = pick(quick ? [1, 10, 100] : [1, 10, 100, 500, 1000, 2000]);
const REFERENCE_REPLICATED_N = pick(quick ? [1, 10, 100] : [1, 10, 100, 500, 1000]);
const STALL_N = quick ? 100 : 500;
/** Viewers alongside one client exporting a 200k-row table back to back. */
const HEAVY_N = 100;
const GROUPS = ["server-only", "replicated", "stalled", "heavy"];
if (args.only && !GROUPS.includes(args.only)) {
  console.error(`--only takes one of ${GROUPS.join(", ")}`);
  Deno.exit(2);
}
/** `--only server-only|replicated|stalled|heavy` runs one group. */
const only = (group: string) => !args.only || args.only === group;

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
  for (const server of ["ours", "reference"] as const) {
    phases.push({ server, mode: "server-only+quiet", viewers: HEAVY_N });
    phases.push({ server, mode: "server-only+heavy", viewers: HEAVY_N });
  }
}

const started = performance.now();
console.log(
  `bench:fanout: ${drive.rate} updates/s of ${drive.rows} rows for ${drive.seconds} s per run, ` +
    `up to ${drive.procs} load-generator processes, ${Deno.build.os} ${navigator.hardwareConcurrency} cores, ` +
    `load ${Deno.loadavg().map((n) => n.toFixed(2)).join(" ")}`,
);
const results: PhaseResult[] = [];
for (const phase of phases) {
  const r = await runPhase(phase, drive);
  results.push(r);
  console.error(
    `${r.server} ${r.mode} n=${r.viewers}: p99 ${r.p99.toFixed(1)} ms, ` +
      `reached ${(r.reachedAll * 100).toFixed(0)}%, cpu ${r.cpu.toFixed(2)}` +
      (r.saturated ? " (load generator saturated)" : ""),
  );
}

console.log("\n" + table(results));
console.log("\nOurs / reference:\n\n" + ratios(results));

const lines = results.some((r) => !r.mode.endsWith("+quiet") && !r.mode.endsWith("+heavy"))
  ? generalTargets(results, { replicated: REPLICATED_N, stall: STALL_N })
  : [];
console.log(`
Targets:
${lines.map((l) => l + "\n").join("")}- a load generator was saturated in: ${
  results.filter((r) => r.saturated).map((r) => `${r.server} ${r.mode} ${r.viewers}`).join(", ") ||
  "none"
}`);
if (only("heavy")) {
  console.log(
    `\nHeavy export, ${HEAVY_N} server-only viewers beside one client exporting a 200k-row ` +
      `table back to back (ours: HTTP and WebSocket alternately; reference: WebSocket):\n` +
      heavyTargets(results, HEAVY_N).join("\n"),
  );
}
console.log(`\nTotal time ${((performance.now() - started) / 1000).toFixed(0)} s.`);
