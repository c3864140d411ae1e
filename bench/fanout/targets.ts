/**
 * The target lines `bench:fanout` prints after its tables: each names its
 * figures and its target, and the heavy-export lines say PASS or MISS.
 *
 * @module
 */

import { capacity, type PhaseResult } from "./stats.ts";

/** Viewer counts the general lines refer to. */
export interface Counts {
  /** Replicated counts run; the largest is the broadcast capacity line's. */
  replicated: number[];
  /** Viewers beside the stalled subscriber. */
  stall: number;
}

const fmt = (n: number | undefined, digits = 1) =>
  n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : "-";
/** A missing or unmeasured figure never passes. */
const verdict = (ok: boolean | undefined) => ok ? "PASS" : "MISS";

/** Lines for the server-only, replicated and stalled groups, from whichever of them ran. */
export function generalTargets(results: PhaseResult[], counts: Counts): string[] {
  const ms = 250;
  const oursCap = capacity(results, "ours", "server-only", ms);
  const refCap = capacity(results, "reference", "server-only", ms);
  const rep = (n: number) =>
    results.find((r) => r.server === "ours" && r.mode === "replicated" && r.viewers === n);
  const stall = results.find((r) => r.mode === "replicated+stalled");
  const calm = rep(counts.stall);
  const big = rep(Math.max(...counts.replicated));
  const one = rep(1);
  const thousand = rep(1000);
  const idle = results.filter((r) =>
    r.server === "ours" && r.viewers >= 100 && !r.mode.includes("+quiet") &&
    !r.mode.includes("+heavy")
  );
  return [
    `- server-only, most viewers with p99 <= ${ms} ms and every update delivered: ours ${oursCap}, ` +
    `reference ${refCap} (ratio ${
      refCap ? (oursCap / refCap).toFixed(1) : "-"
    }, target >= 5; bounded by the counts run)`,
    `- replicated broadcast at ${big?.viewers} viewers: p99 ${fmt(big?.p99)} ms, reached all ${
      ((big?.reachedAll ?? 0) * 100).toFixed(0)
    }% (target: 2000 viewers, p99 <= 250 ms, 100%)`,
    `- broadcast CPU at 1000 viewers / at 1 viewer: ${
      thousand && one ? (thousand.cpu / one.cpu).toFixed(2) : "not run"
    } (target <= 3)`,
    `- idle viewer memory (ours, >= 100 viewers): ${
      idle.map((r) => `${r.mode} ${r.viewers}: ${(r.idlePerViewer / 1024).toFixed(0)} KiB`)
        .join(", ")
    } (target <= 64 KiB)`,
    `- one stalled among ${counts.stall}: healthy p99 ${fmt(stall?.p99)} ms vs ${
      fmt(calm?.p99)
    } ms without (ratio ${
      stall && calm ? (stall.p99 / calm.p99).toFixed(2) : "-"
    }, target <= 1.2); stalled socket close code: ${
      stall?.stalledCodes?.map((c) => c ?? "none (backlog under the bound)").join(", ")
    }`,
  ];
}

/** Healthz p99 target under the heavy export, ms. */
const HEALTHZ_MS = 20;
/** Most the heavy export may multiply ours' viewer p99 by. */
const HEAVY_RATIO = 2;

const KIND_NAMES: Record<string, string> = { http: "HTTP", ws: "WebSocket" };

function exportsOf(r: PhaseResult | undefined): string {
  if (!r?.exports) return "not run";
  const total = r.exports.reduce((s, e) => s + e.done, 0);
  const kinds = r.exports.map((e) =>
    `${KIND_NAMES[e.kind] ?? e.kind} ${e.done}` +
    (e.done ? `, median ${fmt(e.medianMs, 0)} ms, ${fmt(e.bytes / 2 ** 20)} MiB` : "") +
    (e.failed ? `, ${e.failed} failed` : "")
  );
  return `${total} in ${fmt(r.driveSeconds)} s (${kinds.join("; ")})`;
}

/**
 * The heavy-export lines: ours' viewers under the export against ours quiet
 * and against the reference under the same export, ours' `/healthz`, the
 * exports each server finished, and notifications per viewer quiet and heavy.
 */
export function heavyTargets(results: PhaseResult[], viewers: number): string[] {
  const find = (server: string, mode: string) =>
    results.find((r) => r.server === server && r.mode === mode && r.viewers === viewers);
  const oursQuiet = find("ours", "server-only+quiet");
  const oursHeavy = find("ours", "server-only+heavy");
  const refQuiet = find("reference", "server-only+quiet");
  const refHeavy = find("reference", "server-only+heavy");
  const ratio = oursHeavy && oursQuiet ? oursHeavy.p99 / oursQuiet.p99 : undefined;
  const notes = (q?: PhaseResult, h?: PhaseResult) =>
    `${fmt(q?.notesPerViewer)} / ${fmt(h?.notesPerViewer)} (of ${q?.updates ?? "-"} / ${
      h?.updates ?? "-"
    } updates)`;
  return [
    `- ours, viewers' p99 heavy <= ${HEAVY_RATIO} x quiet: heavy ${fmt(oursHeavy?.p99)} ms, ` +
    `quiet ${fmt(oursQuiet?.p99)} ms, ratio ${fmt(ratio, 2)}: ` +
    verdict(ratio !== undefined && ratio <= HEAVY_RATIO),
    `- ours, viewers' p99 heavy <= reference's heavy: ours ${fmt(oursHeavy?.p99)} ms, reference ${
      fmt(refHeavy?.p99)
    } ms (quiet ${fmt(refQuiet?.p99)} ms): ` +
    verdict(oursHeavy && refHeavy && oursHeavy.p99 <= refHeavy.p99),
    `- ours, /healthz p99 heavy <= ${HEALTHZ_MS} ms: ${fmt(oursHeavy?.httpP99)} ms ` +
    `(slowest ${fmt(oursHeavy?.httpMax)} ms of ${oursHeavy?.httpProbes ?? 0} probes): ` +
    verdict(oursHeavy && oursHeavy.httpP99 <= HEALTHZ_MS),
    `- exports finished while driving, heavy: ours ${exportsOf(oursHeavy)}; reference ${
      exportsOf(refHeavy)
    }`,
    `- notifications per viewer, quiet / heavy: ours ${notes(oursQuiet, oursHeavy)}; ` +
    `reference ${notes(refQuiet, refHeavy)}`,
  ];
}
