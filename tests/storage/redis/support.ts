/**
 * Replicas for the Redis tests: services sharing one `REDIS_URL`, and the
 * helpers to write to them and compare their tables.
 *
 * @module
 */

import { type Service, startService } from "../../../src/service.ts";
import { silentLogger } from "../../../src/ops/log.ts";

/** Starts a replica (DEMO off) on the shared log at `url`. */
export function startReplica(
  url: string,
  extra: Parameters<typeof startService>[0] = {},
): Promise<Service> {
  return startService({
    port: 0,
    demo: false,
    log: silentLogger,
    redisUrl: url,
    readWaitMs: 2000,
    ...extra,
  });
}

/** POSTs JSON rows; returns the response (body read). */
export async function postRows(
  base: string,
  table: string,
  rows: unknown[],
  query = "",
): Promise<{ status: number; body: Record<string, unknown>; position: string | null }> {
  const res = await fetch(new URL(`api/tables/${table}/rows${query}`, base), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(rows),
  });
  const body = await res.json().catch(() => ({}));
  return { status: res.status, body, position: res.headers.get("log-position") };
}

/** Every table's rows as JSON text, sorted by table name: equal text means equal tables. */
export async function exportAll(base: string): Promise<string> {
  const tables = await (await fetch(new URL("api/tables", base))).json() as { name: string }[];
  const out: Record<string, unknown> = {};
  for (const { name } of tables.sort((a, b) => a.name.localeCompare(b.name))) {
    const res = await fetch(new URL(`api/tables/${name}/rows?format=json`, base));
    out[name] = await res.json();
  }
  return JSON.stringify(out);
}
