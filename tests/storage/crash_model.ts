/**
 * The crash test's workload and its model: what each ingest client sends,
 * and what the tables must hold given which of those requests took effect.
 *
 * Each client owns its part of every shared table (its batch ids in the
 * plain table, its keys in the indexed one) and its own limit table and
 * created tables, and sends one request at a time, so the order of its
 * changes is known and a client's part of the state depends on its own
 * requests only. A crash leaves each client with at most one unanswered
 * request, its last: the state after restart must equal the model with it
 * or the model without it.
 *
 * @module
 */

import { mulberry32 } from "../../src/engine/demo.ts";

/** Rows kept by each client's limit table. */
export const LIMIT = 100;
/** Keys each client upserts and removes in the indexed table. */
export const KEYS = 60;

/** Tables every client shares, with their definitions. */
export const SHARED_TABLES = {
  events: { schema: { batch: "string", i: "integer", v: "float" } },
  positions: { schema: { key: "string", batch: "string", v: "float" }, index: "key" },
};

/** The definition of a client's limit table. */
export const LIMIT_TABLE = { schema: { batch: "string", i: "integer", v: "float" }, limit: LIMIT };
/** The definition of a table a client creates as it goes. */
export const CREATED_TABLE = { schema: { batch: "string", i: "integer" } };

/** One request of a client. */
export type Op =
  | { kind: "append"; id: string; rows: number }
  | { kind: "upsert"; id: string; keys: number[] }
  | { kind: "remove"; id: string; keys: number[] }
  | { kind: "limit"; id: string; rows: number }
  | { kind: "clear"; id: string }
  | { kind: "create"; id: string; table: string }
  | { kind: "fill"; id: string; table: string; rows: number };

/** A client's part of the tables. */
export interface ClientState {
  /** Plain table: batch id to rows. */
  events: Map<string, number>;
  /** Indexed table: key to the batch that wrote it last. */
  positions: Map<string, string>;
  /** Limit table: `batch:i` of every row appended since the last clear, in order. */
  recent: string[];
  /** Created tables: name to `batch:i` of their rows. */
  created: Map<string, string[]>;
}

/** A deterministic PRNG (the demo's mulberry32), so a seed replays a run. */
export const prng: (seed: number) => () => number = mulberry32;

/** An empty client state. */
export function emptyState(): ClientState {
  return { events: new Map(), positions: new Map(), recent: [], created: new Map() };
}

/** A copy of `s` that `apply` may change without touching `s`. */
export function cloneState(s: ClientState): ClientState {
  return {
    events: new Map(s.events),
    positions: new Map(s.positions),
    recent: [...s.recent],
    created: new Map([...s.created].map(([k, v]) => [k, [...v]])),
  };
}

/** The key a client writes in the indexed table. */
export const keyName = (client: number, k: number) => `c${client}-k${k}`;
/** A client's limit table. */
export const limitTable = (client: number) => `recent_c${client}`;

/** Applies a request that took effect to the model. */
export function apply(s: ClientState, client: number, op: Op): void {
  switch (op.kind) {
    case "append":
      s.events.set(op.id, op.rows);
      break;
    case "upsert":
      for (const k of op.keys) s.positions.set(keyName(client, k), op.id);
      break;
    case "remove":
      for (const k of op.keys) s.positions.delete(keyName(client, k));
      break;
    case "limit":
      for (let i = 0; i < op.rows; i++) s.recent.push(`${op.id}:${i}`);
      // Only the newest LIMIT rows can be in the table; older ones never matter again.
      if (s.recent.length > 4 * LIMIT) s.recent.splice(0, s.recent.length - LIMIT);
      break;
    case "clear":
      s.recent = [];
      break;
    case "create":
      s.created.set(op.table, []);
      break;
    case "fill":
      for (let i = 0; i < op.rows; i++) s.created.get(op.table)!.push(`${op.id}:${i}`);
      break;
  }
}

/** Draws a client's next request from its current (resolved) state. */
export function nextOp(
  rand: () => number,
  client: number,
  n: number,
  s: ClientState,
  tableCount: number,
): Op {
  const id = `c${client}-${n}`;
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const keys = () => {
    const set = new Set<number>();
    const m = int(1, 12);
    while (set.size < m) set.add(int(0, KEYS - 1));
    return [...set];
  };
  const r = rand();
  const tables = [...s.created.keys()];
  if (r < 0.3) return { kind: "append", id, rows: int(1, 800) };
  if (r < 0.5) return { kind: "upsert", id, keys: keys() };
  if (r < 0.6) return { kind: "remove", id, keys: keys() };
  if (r < 0.8) return { kind: "limit", id, rows: int(1, 60) };
  if (r < 0.84) return { kind: "clear", id };
  if (r < 0.9 || tables.length === 0) {
    return { kind: "create", id, table: `c${client}_t${tableCount}` };
  }
  return { kind: "fill", id, table: tables[int(0, tables.length - 1)], rows: int(1, 50) };
}

/** The HTTP request that carries `op`. */
export function requestOf(client: number, op: Op): { method: string; path: string; body?: string } {
  const rows = (n: number, extra: (i: number) => Record<string, unknown> = () => ({})) =>
    JSON.stringify(Array.from({ length: n }, (_, i) => ({ batch: op.id, i, ...extra(i) })));
  switch (op.kind) {
    case "append":
      return {
        method: "POST",
        path: "api/tables/events/rows",
        body: rows(op.rows, (i) => ({ v: i / 7 })),
      };
    case "upsert":
      return {
        method: "POST",
        path: "api/tables/positions/rows",
        body: JSON.stringify(
          op.keys.map((k) => ({ key: keyName(client, k), batch: op.id, v: k * 1.5 })),
        ),
      };
    case "remove":
      return {
        method: "DELETE",
        path: "api/tables/positions/rows",
        body: JSON.stringify(op.keys.map((k) => keyName(client, k))),
      };
    case "limit":
      return {
        method: "POST",
        path: `api/tables/${limitTable(client)}/rows`,
        body: rows(op.rows, (i) => ({ v: i })),
      };
    case "clear":
      return { method: "DELETE", path: `api/tables/${limitTable(client)}/rows` };
    case "create":
      return { method: "PUT", path: `api/tables/${op.table}`, body: JSON.stringify(CREATED_TABLE) };
    case "fill":
      return { method: "POST", path: `api/tables/${op.table}/rows`, body: rows(op.rows) };
  }
}

/** The tables as read back from the service: name to columns. */
export type Observed = Map<string, Record<string, unknown[]>>;

/**
 * One client's part of what the service holds, in the model's shape, as a
 * canonical string per part so that two states compare with `===`.
 */
export function observedPart(o: Observed, client: number): Record<string, string> {
  const prefix = `c${client}-`;
  const events = columnsOf(o, "events");
  const byBatch = new Map<string, number[]>();
  events.batch.forEach((b, j) => {
    if (typeof b === "string" && b.startsWith(prefix)) {
      const list = byBatch.get(b) ?? [];
      list.push(events.i[j] as number);
      byBatch.set(b, list);
    }
  });
  const pos = columnsOf(o, "positions");
  const positions: [string, string][] = [];
  pos.key.forEach((k, j) => {
    if (typeof k === "string" && k.startsWith(prefix)) positions.push([k, pos.batch[j] as string]);
  });
  const recent = columnsOf(o, limitTable(client));
  const created: [string, string[]][] = [];
  for (const name of o.keys()) {
    if (!name.startsWith(`c${client}_t`)) continue;
    const cols = columnsOf(o, name);
    created.push([name, cols.batch.map((b, j) => `${b}:${cols.i[j]}`)]);
  }
  return canonical({
    events: [...byBatch].map(([b, is]) => [b, describeRows(is)]),
    positions,
    recent: recent.batch.map((b, j) => `${b}:${recent.i[j]}`),
    created,
  });
}

/** A table's columns; an empty table exports no columns at all. */
function columnsOf(o: Observed, table: string): Record<string, unknown[]> {
  const cols = o.get(table);
  if (!cols) throw new Error(`table ${table} is missing`);
  return new Proxy(cols, { get: (t, k: string) => t[k] ?? [] });
}

/** The model's state in the same canonical shape as {@linkcode observedPart}. */
export function modelPart(s: ClientState): Record<string, string> {
  return canonical({
    events: [...s.events].map((
      [b, n],
    ) => [b, describeRows(Array.from({ length: n }, (_, i) => i))]),
    positions: [...s.positions],
    recent: s.recent.slice(-LIMIT),
    created: [...s.created],
  });
}

/**
 * A batch's rows as "n rows" when they are exactly 0..n-1, and as the list
 * otherwise, so a half-applied or doubled batch shows in a diff.
 */
function describeRows(is: number[]): string {
  const sorted = [...is].sort((a, b) => a - b);
  const whole = sorted.every((v, j) => v === j);
  return whole ? `${sorted.length} rows` : `rows ${sorted.join(",")}`;
}

function canonical(parts: {
  events: [string, string][];
  positions: [string, string][];
  recent: string[];
  created: [string, string[]][];
}): Record<string, string> {
  const sortPairs = <T>(xs: [string, T][]) => [...xs].sort((a, b) => a[0] < b[0] ? -1 : 1);
  return {
    events: JSON.stringify(sortPairs(parts.events)),
    positions: JSON.stringify(sortPairs(parts.positions)),
    recent: JSON.stringify([...parts.recent].sort()),
    created: JSON.stringify(sortPairs(parts.created.map(([n, r]) => [n, [...r].sort()]))),
  };
}

/** The parts where two canonical states differ, with a short excerpt of each. */
export function differences(
  got: Record<string, string>,
  want: Record<string, string>,
): string[] {
  const out: string[] = [];
  for (const part of Object.keys(want)) {
    if (got[part] === want[part]) continue;
    const g = JSON.parse(got[part]) as unknown[];
    const w = JSON.parse(want[part]) as unknown[];
    const gs = new Set(g.map((x) => JSON.stringify(x)));
    const ws = new Set(w.map((x) => JSON.stringify(x)));
    const missing = [...ws].filter((x) => !gs.has(x)).slice(0, 5);
    const extra = [...gs].filter((x) => !ws.has(x)).slice(0, 5);
    out.push(`${part}: missing ${missing.join(" ")}; unexpected ${extra.join(" ")}`);
  }
  return out;
}
