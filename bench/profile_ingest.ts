/**
 * Where the service's time goes while one producer posts batches: runs
 * `main.ts` with `--inspect`, takes a V8 CPU profile over the inspector
 * protocol while `N` batches are posted with `INFLIGHT` in flight, and
 * prints self time by category (engine WebAssembly, idle, runtime, our
 * modules), the top functions, and inclusive time of the entry points.
 * "(idle)" is time the main thread waited: for the validation worker, the
 * client, the network or the disk.
 *
 * Run: `deno run -A bench/profile_ingest.ts` (`CASE="arrow 10k"`, `N=60`,
 * `INFLIGHT=1`, `DATA_DIR` empty by default: memory only).
 *
 * @module
 */

import { cases, post } from "./ingest.ts";
import { createTable, quantile } from "./durable_proc.ts";
import { DEMO_SCHEMA } from "../src/engine/demo.ts";

const CASE = Deno.env.get("CASE") ?? "arrow 10k";
const DATA_DIR = Deno.env.get("DATA_DIR") ?? "";
const N = Number(Deno.env.get("N") ?? 60);
const INFLIGHT = Number(Deno.env.get("INFLIGHT") ?? 1);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = (l.addr as Deno.NetAddr).port;
  l.close();
  return p;
}

/** A minimal inspector-protocol client. */
async function inspector(port: number): Promise<{
  call: (method: string, params?: unknown) => Promise<Record<string, unknown>>;
  close: () => void;
}> {
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((r) => ws.onopen = r);
  let id = 0;
  const pending = new Map<number, (v: Record<string, unknown>) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.id && pending.has(m.id)) pending.get(m.id)!(m.result);
  };
  return {
    call: (method, params = {}) =>
      new Promise((resolve) => {
        const i = ++id;
        pending.set(i, resolve);
        ws.send(JSON.stringify({ id: i, method, params }));
      }),
    close: () => ws.close(),
  };
}

function category(url: string, fn: string): string {
  if (fn.startsWith("(")) return fn;
  if (url.startsWith("wasm://") || url.includes(".wasm")) return "engine (WebAssembly)";
  if (url.includes("perspective")) return "perspective js";
  if (url.includes("apache-arrow")) return "apache-arrow js";
  if (url.includes("hash-wasm")) return "hash-wasm";
  if (url.includes("/src/")) return "src/" + url.split("/src/")[1].split("/")[0];
  if (url.startsWith("ext:") || url.startsWith("node:")) return "deno runtime (js)";
  return url || "deno runtime (native ops)";
}

function printTop(title: string, m: Map<string, number>, total: number, n: number): void {
  console.log(title);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    console.log(
      `  ${(100 * v / total).toFixed(1).padStart(5)}%  ${v.toFixed(0).padStart(6)} ms  ${k}`,
    );
  }
}

function report(profile: Profile): void {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((s, i) => self.set(s, (self.get(s) ?? 0) + profile.timeDeltas[i] / 1000));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byCat = new Map<string, number>();
  const byFn = new Map<string, number>();
  for (const [id, ms] of self) {
    const f = nodes.get(id)!.callFrame;
    const cat = category(f.url, f.functionName);
    byCat.set(cat, (byCat.get(cat) ?? 0) + ms);
    const fn = `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + ms);
  }
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  for (const [id, ms] of self) {
    const seen = new Set<string>();
    for (let p: number | undefined = id; p !== undefined; p = parent.get(p)) {
      const f = nodes.get(p)!.callFrame;
      if (!f.url.includes("/src/")) continue;
      const key = `${f.functionName || "(anonymous)"} src/${f.url.split("/src/")[1]}`;
      if (!seen.has(key)) inclusive.set(key, (inclusive.get(key) ?? 0) + ms);
      seen.add(key);
    }
  }
  console.log(`profiled ${total.toFixed(0)} ms of the service's main thread`);
  printTop("self time by category:", byCat, total, 12);
  printTop("top functions, self time:", byFn, total, 15);
  printTop("our functions, inclusive time:", inclusive, total, 20);
}

if (import.meta.main) {
  const port = freePort();
  const inspectPort = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      `--inspect=127.0.0.1:${inspectPort}`,
      new URL("../main.ts", import.meta.url).pathname,
    ],
    env: {
      PORT: String(port),
      DEMO: "0",
      DATA_DIR,
      LOG_LEVEL: "warn",
      INGEST_RPS: "100000",
      INGEST_BURST: "100000",
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const base = `http://127.0.0.1:${port}/`;
  try {
    for (;;) {
      try {
        const r = await fetch(`${base}readyz`);
        await r.body?.cancel();
        if (r.ok) break;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const v8 = await inspector(inspectPort);
    const c = cases().find((x) => x.name === CASE)!;
    await createTable(base, "profiled", { schema: DEMO_SCHEMA });
    for (let i = 0; i < 20; i++) await post(base, "profiled", c);
    await v8.call("Profiler.enable");
    await v8.call("Profiler.setSamplingInterval", { interval: 200 });
    await v8.call("Profiler.start");
    const start = performance.now();
    const acks: number[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: INFLIGHT }, async () => {
      while (next++ < N) {
        const t = performance.now();
        await post(base, "profiled", c);
        acks.push(performance.now() - t);
      }
    }));
    const wall = performance.now() - start;
    const { profile } = await v8.call("Profiler.stop");
    v8.close();
    console.log(
      `${CASE}, ${INFLIGHT} in flight, DATA_DIR=${JSON.stringify(DATA_DIR)}: ${N} batches in ` +
        `${wall.toFixed(0)} ms, ${Math.round(N * c.rows / wall * 1000)} rows/s, ack p50 ` +
        `${quantile(acks, 0.5).toFixed(1)} ms; load average ` +
        (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" "),
    );
    report(profile as unknown as Profile);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}
