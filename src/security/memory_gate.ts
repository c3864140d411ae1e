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
} from "../engine/memory.ts";
import { decodeRequest, encodeServerError } from "./protocol.ts";
import type { Verdict } from "./session_guard.ts";

/** Engine bytes per request byte for requests that carry rows (Arrow or text). */
const ROWS_COST_PER_BYTE = 3;

/** Requests that read: they may use the budget's read allowance. */
const READS: ReadonlySet<number> = new Set([
  Req.TABLE_MAKE_VIEW,
  Req.VIEW_TO_ARROW,
  Req.VIEW_TO_CSV,
  Req.VIEW_TO_COLUMNS_STRING,
  Req.VIEW_TO_ROWS_STRING,
  Req.VIEW_TO_NDJSON_STRING,
]);

/** What a request is assumed to allocate, by `client_req` member; absent: nothing. */
function costOf(kind: number, bytes: number): number {
  switch (kind) {
    case Req.MAKE_TABLE:
      return TABLE_CREATE_COST + bytes * ROWS_COST_PER_BYTE;
    case Req.TABLE_UPDATE:
    case Req.TABLE_REPLACE:
      return bytes * ROWS_COST_PER_BYTE;
    case Req.TABLE_MAKE_VIEW:
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
  memory: EngineMemory | undefined,
  guard: () => Verdict | Promise<Verdict>,
): Verdict | Promise<Verdict> {
  if (!memory) return guard();
  let req;
  try {
    req = decodeRequest(bytes);
  } catch {
    // The guard refuses it as malformed.
    return guard();
  }
  const cost = costOf(req.kind, bytes.byteLength);
  if (cost === 0) return guard();
  return checkRoom(memory, cost, READS.has(req.kind), req.msgId, req.entityId, guard);
}

async function checkRoom(
  memory: EngineMemory,
  cost: number,
  read: boolean,
  msgId: number,
  entityId: string,
  guard: () => Verdict | Promise<Verdict>,
): Promise<Verdict> {
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
