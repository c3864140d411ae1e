/**
 * What the home page shows beyond `/api/tables`: each table's rows per
 * second over the last minute, the engine's memory, and what the caller's
 * WebSocket session may do (`/api/session`), so a page shows an editable grid
 * exactly when its edits would be accepted.
 *
 * @module
 */

import type { EngineHost, TableInfo } from "../engine/host.ts";
import type { BatchSink } from "../ingest/sink.ts";
import { allows, type Security } from "../security/mod.ts";
import { ALL_GRANTS, READ_GRANTS } from "../security/scopes.ts";
import type { Route } from "./router.ts";
import { jsonReply } from "./tables_reply.ts";

/** The window rates are measured over. */
export const RATE_WINDOW_MS = 60_000;

/**
 * Rows per second per table over the last minute, from two signals: rows
 * acknowledged by the sink, and growth in table size between samples (for
 * writers that bypass the sink). Samples are taken when asked, so nothing
 * runs while nobody looks.
 */
export class RateTracker {
  readonly #sizes = new Map<string, { at: number; size: number }[]>();
  readonly #ingested = new Map<string, { at: number; rows: number }[]>();
  readonly #now: () => number;

  /** @param now Clock, for tests. @default Date.now */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Counts rows a source delivered to `table`. */
  ingested(table: string, rows: number): void {
    const list = this.#ingested.get(table) ?? [];
    list.push({ at: this.#now(), rows });
    this.#ingested.set(table, this.#trim(list));
  }

  /**
   * Records the tables' sizes now and returns each one's rate, or null while
   * there is not yet a second sample to compare with.
   */
  sample(tables: TableInfo[]): Map<string, number | null> {
    const now = this.#now();
    const out = new Map<string, number | null>();
    const present = new Set(tables.map((t) => t.name));
    for (const name of this.#sizes.keys()) if (!present.has(name)) this.#sizes.delete(name);
    for (const t of tables) {
      const list = this.#trim(this.#sizes.get(t.name) ?? []);
      list.push({ at: now, size: t.size });
      this.#sizes.set(t.name, list);
      const first = list[0];
      const seconds = (now - first.at) / 1000;
      const ingested = this.#trim(this.#ingested.get(t.name) ?? []);
      const rows = ingested.reduce((n, e) => n + e.rows, 0);
      if (seconds <= 0) {
        out.set(t.name, rows > 0 ? rows / (RATE_WINDOW_MS / 1000) : null);
        continue;
      }
      const growth = Math.max(0, t.size - first.size) / seconds;
      const delivered = rows / Math.min(RATE_WINDOW_MS / 1000, Math.max(seconds, 1));
      out.set(t.name, Math.max(growth, delivered));
    }
    return out;
  }

  /** Drops entries older than the window, keeping the newest older one as a baseline. */
  #trim<T extends { at: number }>(list: T[]): T[] {
    const cutoff = this.#now() - RATE_WINDOW_MS;
    let drop = 0;
    while (drop + 1 < list.length && list[drop + 1].at <= cutoff) drop++;
    return drop === 0 ? list : list.slice(drop);
  }
}

/** Routes for `/api/overview` and `/api/session`. */
export function overviewRoutes(host: EngineHost, sink: BatchSink, security: Security): Route[] {
  const rates = new RateTracker();
  sink.listen((e) => {
    if (e.status < 300 && e.rows > 0 && (e.op === "update" || e.op === "replace")) {
      rates.ingested(e.table, e.rows);
    }
  });
  return [
    {
      methods: ["GET"],
      path: "/api/overview",
      scope: "read",
      handle: async (_req, ctx) => {
        const all = await host.listTables();
        const perSecond = rates.sample(all);
        const tables = all.filter((t) => ctx.allows?.("read", t.name) ?? true).map((t) => ({
          name: t.name,
          size: t.size,
          columns: Object.keys(t.schema).length,
          schema: t.schema,
          index: t.index,
          limit: t.limit,
          rowsPerSecond: perSecond.get(t.name) ?? null,
        }));
        const info = await host.client.system_info() as {
          heap_size?: unknown;
          used_size?: unknown;
        };
        const engine = {
          heapBytes: finite(info.heap_size),
          usedBytes: finite(info.used_size),
        };
        return jsonReply({ tables, engine, rateWindowSeconds: RATE_WINDOW_MS / 1000 });
      },
    },
    {
      methods: ["GET"],
      path: "/api/session",
      scope: "read",
      tableParam: "",
      handle: async (req, ctx) => {
        // The same grants a WebSocket session from this caller would get.
        const principal = await security.authenticate(req, true);
        const grants = principal.via === "open"
          ? (security.config.allowEdit ? ALL_GRANTS : READ_GRANTS)
          : principal.grants;
        const write: Record<string, boolean> = {};
        for (const table of ctx.url.searchParams.getAll("table")) {
          write[table] = allows(grants, "write", table);
        }
        return jsonReply({
          name: principal.name,
          open: principal.via === "open",
          write,
          anyWrite: allows(grants, "write"),
        });
      },
    },
  ];
}

function finite(value: unknown): number | null {
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}
