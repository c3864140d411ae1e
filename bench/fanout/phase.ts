/**
 * One phase of `bench:fanout`: a fresh server (ours or the reference), its
 * viewers spread over load-generator processes, updates driven for a fixed
 * time, and the figures gathered from every process.
 *
 * @module
 */

import { cpuSeconds, rssBytes } from "./proc.ts";
import { Child, freePort, probeHttp, refDir, sleep } from "./children.ts";
import { delivery, type ExportSummary, percentile, type PhaseResult } from "./stats.ts";
import type { ExportKind, ExportRecord } from "./exporter.ts";

/** One server, mode and viewer count. */
export interface Phase {
  server: "ours" | "reference";
  /**
   * `server-only+quiet` and `server-only+heavy` both host the 200k-row `big`
   * table; only `+heavy` runs a client exporting it, so the two differ by
   * the exporter alone.
   */
  mode:
    | "server-only"
    | "server-only+quiet"
    | "server-only+heavy"
    | "replicated"
    | "replicated+stalled";
  viewers: number;
}

/** How hard and how long every phase drives. */
export interface Drive {
  /** Seconds of updates. */
  seconds: number;
  /** Updates a second, and rows in each. */
  rate: number;
  rows: number;
  /** Most load-generator processes for viewers. */
  procs: number;
}

/** How long to wait after the last update for stragglers. */
const GRACE_MS = 3000;
/** The bench server's outbound bound: small, so a stalled subscriber is dropped within the run. */
const BENCH_BOUND = 1024 * 1024;
/**
 * What the heavy client exports, one export at a time: ours both ways it
 * can serve a whole table, the reference the only way it can.
 */
const EXPORT_KINDS: Record<Phase["server"], ExportKind[]> = {
  ours: ["http", "ws"],
  reference: ["ws"],
};

const now = () => performance.timeOrigin + performance.now();

interface Report {
  logs: number[][];
  notes: number[];
  lagP99: number;
  saturated: boolean;
  exports?: ExportRecord[];
}

/** Runs one phase on a fresh server and gathers its figures. */
export async function runPhase(phase: Phase, drive: Drive): Promise<PhaseResult> {
  const port = freePort();
  const big = phase.mode === "server-only+heavy" || phase.mode === "server-only+quiet";
  const server = phase.server === "ours"
    ? new Child(Deno.execPath(), [
      "run",
      "-A",
      "bench/fanout/our_server.ts",
      String(port),
      "0",
      String(BENCH_BOUND),
      big ? "heavy" : "",
    ])
    : new Child("node", [`${refDir}/server.mjs`, String(port), big ? "heavy" : ""]);
  const loadgens: Child[] = [];
  let exporter: Child | undefined;
  try {
    const { pid } = await server.next<{ pid: number }>();
    const base = `ws://127.0.0.1:${port}`;
    const broadcast = phase.server === "ours" && phase.mode.startsWith("replicated");
    const protocolUrl = phase.server === "reference" ? `${base}/` : `${base}/websocket`;
    const url = broadcast ? `${base}/websocket/broadcast/bench` : protocolUrl;
    const procs = Math.max(1, Math.min(drive.procs, Math.ceil(phase.viewers / 50)));
    for (let i = 0; i < procs; i++) {
      loadgens.push(new Child(Deno.execPath(), ["run", "-A", "bench/fanout/loadgen.ts"]));
    }
    // In a process of its own, so receiving exports does not delay the viewers' own clocks.
    if (phase.mode === "server-only+heavy") {
      exporter = new Child(Deno.execPath(), ["run", "-A", "bench/fanout/loadgen.ts"]);
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
        })
      ),
    );
    await exporter?.ask({
      cmd: "connect",
      url: protocolUrl,
      mode: "server",
      transport: "protocol",
      count: 0,
      exports: {
        kinds: EXPORT_KINDS[phase.server],
        wsUrl: protocolUrl,
        httpUrl: `http://127.0.0.1:${port}/api/tables/big/rows?format=arrow`,
      },
    });
    await sleep(1000);
    const viewers = connected.reduce((s, c) => s + c.connected, 0);
    const failed = connected.reduce((s, c) => s + c.failed, 0);
    const idlePerViewer = (rssBytes(pid) - rss0) / Math.max(1, viewers);
    await Promise.all(loadgens.map((g) => g.ask({ cmd: "reset" })));
    const cpu0 = cpuSeconds(pid);
    const t0 = now();
    // Event-loop responsiveness: an HTTP probe every 20 ms while driving.
    const probe = probeHttp(
      `http://127.0.0.1:${port}${phase.server === "ours" ? "/healthz" : "/deno.json"}`,
    );
    const { sends } = await server.ask<{ sends: [number, number][] }>({
      cmd: "drive",
      rate: drive.rate,
      count: drive.rows,
      seconds: drive.seconds,
    });
    const t1 = now();
    const driveSeconds = (t1 - t0) / 1000;
    const probes = await probe.stop();
    const cpu = (cpuSeconds(pid) - cpu0) / driveSeconds;
    await sleep(GRACE_MS);
    const reports = await Promise.all(loadgens.map((g) => g.ask<Report>({ cmd: "report" })));
    const exported = exporter ? await exporter.ask<Report>({ cmd: "report" }) : undefined;
    let stalledCodes: (number | null)[] | undefined;
    if (phase.mode === "replicated+stalled") {
      stalledCodes = (await loadgens[0].ask<{ codes: (number | null)[] }>({ cmd: "stalled" }))
        .codes;
    }
    const { latencies, reachedAll } = delivery(sends, reports.flatMap((r) => r.logs));
    const notes = reports.flatMap((r) => r.notes);
    return {
      ...phase,
      viewers,
      failed,
      updates: sends.length,
      rate: sends.length / driveSeconds,
      driveSeconds,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      reachedAll,
      notesPerViewer: notes.reduce((s, n) => s + n, 0) / Math.max(1, notes.length),
      cpu,
      rss: rssBytes(pid),
      idlePerViewer,
      saturated: reports.some((r) => r.saturated),
      loadLagP99: Math.max(...reports.map((r) => r.lagP99)),
      stalledCodes,
      httpP99: percentile(probes, 0.99),
      httpMax: probes.length ? probes[probes.length - 1] : NaN,
      httpProbes: probes.length,
      exports: exported?.exports &&
        summarize(exported.exports, EXPORT_KINDS[phase.server], t0, t1),
    };
  } finally {
    await Promise.all([...loadgens, ...(exporter ? [exporter] : [])].map((g) => g.quit()));
    await server.quit();
  }
}

/** Per kind, the exports that ended between `from` and `to`. */
function summarize(
  records: ExportRecord[],
  kinds: ExportKind[],
  from: number,
  to: number,
): ExportSummary[] {
  return kinds.map((kind) => {
    const within = records.filter((r) => r.kind === kind && r.end >= from && r.end <= to);
    const ok = within.filter((r) => r.ok);
    const ms = Float64Array.from(ok.map((r) => r.end - r.start)).sort();
    return {
      kind,
      done: ok.length,
      failed: within.length - ok.length,
      medianMs: percentile(ms, 0.5),
      bytes: ok[0]?.bytes ?? 0,
    };
  });
}
