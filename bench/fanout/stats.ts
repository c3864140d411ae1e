/**
 * Delivery statistics for `bench:fanout`: from the updates' send times and
 * each viewer's record of when it first held a state, latency percentiles
 * and the fraction of updates whose state reached every viewer.
 *
 * @module
 */

/** Figures for one server, mode and viewer count. */
export interface PhaseResult {
  /** `ours` or `reference`. */
  server: string;
  /** `server-only`, `server-only+quiet`, `server-only+heavy`, `replicated` or `replicated+stalled`. */
  mode: string;
  /** Healthy viewers connected. */
  viewers: number;
  /** Viewers that failed to connect. */
  failed: number;
  /** Updates sent, and the rate achieved. */
  updates: number;
  rate: number;
  /** Delivery latency percentiles, ms. */
  p50: number;
  p99: number;
  /** Fraction of updates whose state reached every viewer. */
  reachedAll: number;
  /** Server CPU seconds per second while driving. */
  cpu: number;
  /** Server RSS at the end, bytes. */
  rss: number;
  /** Server memory per idle viewer, bytes (RSS growth while connecting / viewers). */
  idlePerViewer: number;
  /** Whether any load generator was saturated, and its worst lag p99 (ms). */
  saturated: boolean;
  loadLagP99: number;
  /** p99 of an HTTP probe (ours: /healthz) while driving, ms. */
  httpP99: number;
  /** The slowest of those probes, ms. */
  httpMax: number;
  /** How many probes were made. */
  httpProbes: number;
  /** Seconds the updates took to send. */
  driveSeconds: number;
  /** Mean notifications (server-only) or frames (replicated) a viewer received while driving. */
  notesPerViewer: number;
  /** For a heavy run: per kind, the exports the heavy client finished while driving. */
  exports?: ExportSummary[];
  /** For a stalled run: close codes the stalled sockets saw. */
  stalledCodes?: (number | null)[];
}

/** Exports of one kind that ended while updates were being sent. */
export interface ExportSummary {
  /** `http` or `ws`. */
  kind: string;
  /** Exports that succeeded, and those that failed. */
  done: number;
  failed: number;
  /** Median time of a successful export, ms. */
  medianMs: number;
  /** Bytes of one successful export. */
  bytes: number;
}

/** Nearest-rank percentile of a sorted array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/**
 * Latencies of every (viewer, update) pair that was delivered, sorted, and
 * the fraction of updates every viewer reached. A viewer reaches update k
 * the first time it holds a state at or past k: with conflation, a later
 * state carries the earlier updates with it.
 */
export function delivery(
  sends: [number, number][],
  logs: number[][],
): { latencies: Float64Array; reachedAll: number } {
  const sentAt = new Map(sends);
  const out: number[] = [];
  const reachedBy = new Map<number, number>();
  for (const log of logs) {
    let i = 0;
    for (const [seq, sent] of sends) {
      while (i < log.length && log[i] < seq) i += 2;
      if (i >= log.length) break;
      const at = log[i + 1];
      out.push(Math.max(0, at - (sentAt.get(seq) ?? sent)));
      reachedBy.set(seq, (reachedBy.get(seq) ?? 0) + 1);
    }
  }
  let all = 0;
  for (const [seq] of sends) if ((reachedBy.get(seq) ?? 0) === logs.length) all++;
  const latencies = Float64Array.from(out).sort();
  return { latencies, reachedAll: sends.length ? all / sends.length : 0 };
}

const fmt = (n: number, digits = 1) => Number.isFinite(n) ? n.toFixed(digits) : "-";

/** The results as a Markdown table. */
export function table(results: PhaseResult[]): string {
  const head = "| server | mode | viewers | p50 ms | p99 ms | reached all | CPU s/s | RSS MiB | " +
    "idle KiB/viewer | HTTP p99 ms | load gen |";
  const rule = "|" + " --- |".repeat(11);
  const rows = results.map((r) =>
    `| ${r.server} | ${r.mode} | ${r.viewers}${r.failed ? ` (${r.failed} failed)` : ""} | ` +
    `${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.reachedAll * 100, 0)}% | ${fmt(r.cpu, 2)} | ` +
    `${fmt(r.rss / 2 ** 20, 0)} | ${r.viewers >= 10 ? fmt(r.idlePerViewer / 1024, 0) : "-"} | ${
      fmt(r.httpP99)
    } | ` +
    `${r.saturated ? `SATURATED (lag p99 ${fmt(r.loadLagP99, 0)} ms)` : "ok"} |`
  );
  return [head, rule, ...rows].join("\n");
}

/** Ours divided by the reference, per mode and viewer count, as a Markdown table. */
export function ratios(results: PhaseResult[]): string {
  const lines = [
    "| mode | viewers | p99 ours/ref | CPU ours/ref | RSS ours/ref |",
    "|" +
    " --- |".repeat(5),
  ];
  for (const ours of results.filter((r) => r.server === "ours")) {
    const ref = results.find((r) =>
      r.server === "reference" && r.mode === ours.mode && r.viewers === ours.viewers
    );
    if (!ref) continue;
    lines.push(
      `| ${ours.mode} | ${ours.viewers} | ${fmt(ours.p99 / ref.p99, 2)} | ` +
        `${fmt(ours.cpu / ref.cpu, 2)} | ${fmt(ours.rss / ref.rss, 2)} |`,
    );
  }
  return lines.join("\n");
}

/** The most viewers a server held in a mode with p99 within `ms` and every update delivered. */
export function capacity(results: PhaseResult[], server: string, mode: string, ms: number): number {
  let best = 0;
  for (const r of results) {
    if (r.server !== server || r.mode !== mode) continue;
    if (r.p99 <= ms && r.reachedAll >= 0.99 && r.viewers > best) best = r.viewers;
  }
  return best;
}
