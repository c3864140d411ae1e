/**
 * One load-generator process for `bench:fanout`: holds a share of the
 * viewers and records, per viewer, when it first held each update's state.
 * It measures its own event-loop lag and CPU so the benchmark can say when
 * the load generator, not the server, was the bottleneck.
 *
 * Control: JSON lines on stdin (`connect`, `reset`, `report`, `stalled`,
 * `quit`), one JSON reply a line on stdout.
 *
 * @module
 */

import perspective from "@finos/perspective";
import { tableFromIPC } from "apache-arrow";
import { cpuSeconds, readLines } from "./proc.ts";
import { openRawWebSocket } from "../../tests/support/raw_websocket.ts";
import { type ExportPlan, type ExportRecord, startExporter } from "./exporter.ts";

/** How viewers reach the server. */
interface ConnectCommand {
  cmd: "connect";
  /** `ws://host:port/...` of the protocol endpoint or the broadcast stream. */
  url: string;
  /** `server`: fetch the visible window on each notification; `replicated`: take row deltas. */
  mode: "server" | "replicated";
  /** `broadcast`: our shared stream; `protocol`: the stock client. */
  transport: "broadcast" | "protocol";
  /** Viewers to open. */
  count: number;
  /** Raw sockets that never read (broadcast only). */
  stalled?: number;
  /** Also run one client that exports the `big` table back to back. */
  exports?: ExportPlan;
}

/** Rows a server-only viewer shows, like a grid's visible window. */
const WINDOW = 30;
const now = () => performance.timeOrigin + performance.now();

/** Per viewer: flattened `[maxSeq, time, ...]` transitions. */
type Log = number[];

class Recorder {
  max = 0;
  log: Log = [];
  /** Notifications (server-only) or frames (replicated) since the last reset. */
  notes = 0;
  see(seq: number): void {
    if (seq > this.max) {
      this.max = seq;
      this.log.push(seq, now());
    }
  }
}

/**
 * Every subscriber gets the same bytes, so within one load-generator process
 * a frame is decoded once and its result shared: decoding thousands of
 * copies would make the load generator, not the server, the bottleneck.
 */
const decoded = new Map<string, number>();

function frameKey(b: Uint8Array): string {
  let h = 2166136261;
  for (let i = 0; i < b.length; i += 3) h = Math.imul(h ^ b[i], 16777619);
  return `${b.length}:${h >>> 0}`;
}

function maxSeq(arrow: Uint8Array): number {
  const key = frameKey(arrow);
  let max = decoded.get(key);
  if (max === undefined) {
    max = decodeMaxSeq(arrow);
    if (decoded.size > 256) decoded.clear();
    decoded.set(key, max);
  }
  return max;
}

function decodeMaxSeq(arrow: Uint8Array): number {
  const table = tableFromIPC(arrow);
  const col = table.getChild("seq");
  let max = 0;
  const values = (col?.toArray() ?? []) as ArrayLike<number>;
  for (let i = 0; i < values.length; i++) if (values[i] > max) max = values[i];
  return max;
}

interface Viewer {
  rec: Recorder;
  close(): Promise<void>;
}

async function protocolViewer(url: string, mode: "server" | "replicated"): Promise<Viewer> {
  const rec = new Recorder();
  const client = await perspective.websocket(url);
  const table = await client.open_table("bench");
  if (mode === "replicated") {
    // What the stock client's `table(view)` does, minus the local apply.
    const view = await table.view();
    await view.on_update(({ delta }: { delta?: ArrayBuffer }) => {
      rec.notes++;
      if (delta) rec.see(maxSeq(new Uint8Array(delta)));
    }, { mode: "row" });
    return { rec, close: () => client.terminate() as Promise<void> };
  }
  // Server-only, like <perspective-viewer>: newest first, refetch the window on each notification.
  const view = await table.view({ sort: [["seq", "desc"]] });
  let busy = false;
  let again = false;
  const fetchWindow = async () => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        const cols = await view.to_columns({ start_row: 0, end_row: WINDOW }) as {
          seq: number[];
        };
        rec.see(cols.seq[0] ?? 0);
      } while (again);
    } catch {
      // Closed mid-fetch.
    } finally {
      busy = false;
    }
  };
  await view.on_update(() => {
    rec.notes++;
    void fetchWindow();
  });
  await fetchWindow();
  return { rec, close: () => client.terminate() as Promise<void> };
}

function broadcastViewer(url: string): Promise<Viewer> {
  const rec = new Recorder();
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  socket.onmessage = (e) => {
    if (typeof e.data === "string") return;
    rec.notes++;
    rec.see(maxSeq(new Uint8Array(e.data).subarray(1)));
  };
  const close = () => {
    if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    const done = new Promise<void>((r) => socket.addEventListener("close", () => r()));
    socket.close();
    return done;
  };
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve({ rec, close });
    socket.onerror = () => reject(new Error("broadcast connect failed"));
  });
}

/** A socket that completes the handshake and never reads again. */
async function stalledSocket(url: string): Promise<Deno.TcpConn> {
  return (await openRawWebSocket(url)).conn;
}

/** Drains a stalled socket for up to `ms` and returns its close code, if one came. */
async function closeCode(conn: Deno.TcpConn, ms: number): Promise<number | null> {
  const deadline = Date.now() + ms;
  let pending = new Uint8Array(0);
  const buf = new Uint8Array(1 << 16);
  while (Date.now() < deadline) {
    while (pending.length >= 2) {
      const op = pending[0] & 0x0f;
      let len = pending[1] & 0x7f;
      let p = 2;
      if (len === 126) [len, p] = [(pending[2] << 8) | pending[3], 4];
      else if (len === 127) {
        len = Number(new DataView(pending.buffer, pending.byteOffset + 2, 8).getBigUint64(0));
        p = 10;
      }
      if (pending.length < p + len) break;
      if (op === 8) return (pending[p] << 8) | pending[p + 1];
      pending = pending.subarray(p + len);
    }
    const timer = new Promise<null>((r) => setTimeout(() => r(null), deadline - Date.now()));
    const n = await Promise.race([conn.read(buf).catch(() => null), timer]);
    if (n === null) return null;
    const next = new Uint8Array(pending.length + n);
    next.set(pending);
    next.set(buf.subarray(0, n), pending.length);
    pending = next;
  }
  return null;
}

let stopExporter: (() => Promise<ExportRecord[]>) | undefined;
const viewers: Viewer[] = [];
const stalled: Deno.TcpConn[] = [];
const lags: number[] = [];
let cpuStart = cpuSeconds(Deno.pid);
let wallStart = now();
let expected = now() + 25;
const lagTimer = setInterval(() => {
  const t = now();
  lags.push(Math.max(0, t - expected));
  expected = t + 25;
}, 25);

const write = (o: unknown) =>
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(o) + "\n"));

async function connect(cmd: ConnectCommand): Promise<void> {
  const t0 = now();
  let failed = 0;
  const open = () =>
    cmd.transport === "broadcast" ? broadcastViewer(cmd.url) : protocolViewer(cmd.url, cmd.mode);
  for (let i = 0; i < cmd.count; i += 20) {
    const batch = Array.from({ length: Math.min(20, cmd.count - i) }, open);
    for (const r of await Promise.allSettled(batch)) {
      if (r.status === "fulfilled") viewers.push(r.value);
      else failed++;
    }
  }
  for (let i = 0; i < (cmd.stalled ?? 0); i++) stalled.push(await stalledSocket(cmd.url));
  if (cmd.exports) stopExporter = await startExporter(cmd.exports);
  write({ connected: viewers.length, failed, ms: now() - t0 });
}

async function report(): Promise<void> {
  const exports = stopExporter ? await stopExporter() : undefined;
  const sorted = [...lags].sort((a, b) => a - b);
  const lagP99 = sorted[Math.floor(sorted.length * 0.99)] ?? 0;
  const cpu = (cpuSeconds(Deno.pid) - cpuStart) / ((now() - wallStart) / 1000);
  write({
    logs: viewers.map((v) => v.rec.log),
    notes: viewers.map((v) => v.rec.notes),
    lagP99,
    lagMax: sorted.at(-1) ?? 0,
    cpu,
    saturated: lagP99 > 50 || cpu > 0.85,
    exports,
  });
}

for await (const line of readLines(Deno.stdin.readable)) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line);
  if (cmd.cmd === "connect") await connect(cmd);
  else if (cmd.cmd === "reset") {
    lags.length = 0;
    for (const v of viewers) v.rec.notes = 0;
    cpuStart = cpuSeconds(Deno.pid);
    wallStart = now();
    write({ ok: true });
  } else if (cmd.cmd === "report") await report();
  else if (cmd.cmd === "stalled") {
    const codes = await Promise.all(stalled.map((c) => closeCode(c, cmd.ms ?? 3000)));
    write({ codes });
  } else if (cmd.cmd === "quit") break;
}
clearInterval(lagTimer);
for (const c of stalled) c.close();
await Promise.allSettled(viewers.map((v) => v.close()));
Deno.exit(0);
