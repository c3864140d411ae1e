/**
 * The engine memory check for WebSocket requests that allocate: new tables,
 * rows, views and exports. A request the engine has no room for is answered
 * with a Perspective error that says why (the same words as the HTTP 507),
 * and never reaches the engine; the session stays usable.
 *
 * @module
 */

import { Req } from "../protocol/messages.ts";
import {
  type EngineMemory,
  EngineMemoryError,
  TABLE_CREATE_COST,
  VIEW_COST,
  viewCost,
} from "../engine/memory.ts";
import { decodeRequest, encodeServerError } from "./protocol.ts";
import type { Verdict } from "./session_guard.ts";

/** Engine bytes per request byte for requests that carry rows (Arrow or text). */
const ROWS_COST_PER_BYTE = 3;

/** Requests that allocate engine memory. */
const ALLOCATES: ReadonlySet<number> = new Set([
  Req.MAKE_TABLE,
  Req.TABLE_UPDATE,
  Req.TABLE_REPLACE,
  Req.TABLE_MAKE_VIEW,
  Req.VIEW_TO_ARROW,
  Req.VIEW_TO_CSV,
  Req.VIEW_TO_COLUMNS_STRING,
  Req.VIEW_TO_ROWS_STRING,
  Req.VIEW_TO_NDJSON_STRING,
]);

/** The budget and what the check needs to know of a table. */
export interface MemoryGateHost {
  /** The engine's memory budget. */
  memory: EngineMemory;
  /** Rows in a table; 0 when there is no such table. */
  tableRows(name: string): Promise<number>;
}

/** Requests that read: they may use the budget's read allowance. */
const READS: ReadonlySet<number> = new Set([
  Req.TABLE_MAKE_VIEW,
  Req.VIEW_TO_ARROW,
  Req.VIEW_TO_CSV,
  Req.VIEW_TO_COLUMNS_STRING,
  Req.VIEW_TO_ROWS_STRING,
  Req.VIEW_TO_NDJSON_STRING,
]);

/**
 * What a request is assumed to allocate, by `client_req` member; absent:
 * nothing. Exports of an open view cost its output only: the view's own
 * memory was admitted with it.
 */
async function costOf(
  host: MemoryGateHost,
  kind: number,
  entityId: string,
  bytes: number,
): Promise<number> {
  if (kind === Req.TABLE_MAKE_VIEW) return viewCost(await host.tableRows(entityId));
  switch (kind) {
    case Req.MAKE_TABLE:
      return TABLE_CREATE_COST + bytes * ROWS_COST_PER_BYTE;
    case Req.TABLE_UPDATE:
    case Req.TABLE_REPLACE:
      return bytes * ROWS_COST_PER_BYTE;
    case Req.VIEW_TO_ARROW:
    case Req.VIEW_TO_CSV:
    case Req.VIEW_TO_COLUMNS_STRING:
    case Req.VIEW_TO_ROWS_STRING:
    case Req.VIEW_TO_NDJSON_STRING:
      return VIEW_COST;
    default:
      return 0;
  }
}

/**
 * Checks a request that allocates against the budget before the guard
 * sees it, so a refused view or table is not counted or claimed by the
 * session. Other requests go straight to the guard, and its immediate
 * verdicts stay immediate.
 *
 * @param guard The session guard's check for these bytes.
 * @param memory The budget; without one the guard alone decides.
 */
export function withMemoryCheck(
  bytes: Uint8Array,
  host: MemoryGateHost | undefined,
  guard: () => Verdict | Promise<Verdict>,
): Verdict | Promise<Verdict> {
  if (!host) return guard();
  let req;
  try {
    req = decodeRequest(bytes);
  } catch {
    // The guard refuses it as malformed.
    return guard();
  }
  if (!ALLOCATES.has(req.kind)) return guard();
  return checkRoom(host, req.kind, bytes.byteLength, req.msgId, req.entityId, guard);
}

async function checkRoom(
  host: MemoryGateHost,
  kind: number,
  bytes: number,
  msgId: number,
  entityId: string,
  guard: () => Verdict | Promise<Verdict>,
): Promise<Verdict> {
  const cost = await costOf(host, kind, entityId, bytes);
  const read = READS.has(kind);
  const memory = host.memory;
  try {
    // The engine allocates when it handles the request; the check holds nothing.
    using _room = await memory.admit(cost, "this request", read);
  } catch (err) {
    if (!(err instanceof EngineMemoryError)) throw err;
    return {
      allow: false,
      reason: "engine memory budget",
      reply: encodeServerError(msgId, entityId, `507 Insufficient Storage: ${err.message}`),
    };
  }
  return await guard();
}
