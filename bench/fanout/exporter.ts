/**
 * The heavy client of `bench:fanout`'s heavy phase: exports the `big` table
 * back to back, one export at a time, cycling through the kinds it is given
 * (`http`: `GET /api/tables/big/rows?format=arrow`; `ws`: a protocol view's
 * `to_arrow()`), and records when each export started and ended.
 *
 * @module
 */

import perspective from "@finos/perspective";

/** How the heavy client exports: over HTTP, or through a WebSocket view. */
export type ExportKind = "http" | "ws";

/** What the heavy client is told to do. */
export interface ExportPlan {
  /** Kinds to cycle through, one export at a time. */
  kinds: ExportKind[];
  /** The protocol endpoint, `ws://host:port/...`, for `ws` exports. */
  wsUrl: string;
  /** The export URL, for `http` exports. */
  httpUrl?: string;
}

/** One export the heavy client finished (or failed), on the shared wall clock. */
export interface ExportRecord {
  kind: ExportKind;
  /** Start and end, `performance.timeOrigin + performance.now()` ms. */
  start: number;
  end: number;
  /** Bytes received; 0 when the export failed. */
  bytes: number;
  ok: boolean;
}

const now = () => performance.timeOrigin + performance.now();

/**
 * Starts exporting; the returned function stops after the export in flight
 * and resolves with every export made.
 */
export async function startExporter(plan: ExportPlan): Promise<() => Promise<ExportRecord[]>> {
  const client = plan.kinds.includes("ws") ? await perspective.websocket(plan.wsUrl) : undefined;
  const view = client ? await (await client.open_table("big")).view() : undefined;
  const once: Record<ExportKind, () => Promise<number>> = {
    ws: async () => (await view!.to_arrow()).byteLength,
    http: async () => {
      const res = await fetch(plan.httpUrl!);
      const body = await res.arrayBuffer();
      if (!res.ok) throw new Error(`export: ${res.status}`);
      return body.byteLength;
    },
  };
  const records: ExportRecord[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const kind = plan.kinds[i % plan.kinds.length];
      const start = now();
      try {
        const bytes = await once[kind]();
        records.push({ kind, start, end: now(), bytes, ok: true });
      } catch {
        records.push({ kind, start, end: now(), bytes: 0, ok: false });
        // A refused export comes back at once; do not spin on it.
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  })();
  return async () => {
    running = false;
    await loop;
    await client?.terminate();
    return records;
  };
}
