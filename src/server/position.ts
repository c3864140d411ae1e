/**
 * Consistent reads across replicas. A write's acknowledgement carries the
 * log position it created (`Log-Position` header, `position` in the JSON
 * body); a read that names a position (`?position=` or the header) waits
 * until this replica has applied it, at most the log's bound, and otherwise
 * answers 503 with `Retry-After`: the data is not here yet, and the same
 * read will succeed on retry (here or on another replica).
 *
 * @module
 */

import type { BatchLog } from "../storage/log.ts";
import { HttpError } from "./http_error.ts";

/** The header that carries a log position, both ways. */
export const POSITION_HEADER = "log-position";

/** A log that can wait for a position (the shared log on Redis). */
interface WaitingLog {
  waitFor(position: string): Promise<boolean>;
}

/** The header for the log's current position, which covers every change applied here. */
export function positionHeader(sink: { log: BatchLog }): Record<string, string> {
  const p = sink.log.position;
  return p && p !== "0" && p !== "0-0" ? { [POSITION_HEADER]: p } : {};
}

/**
 * Waits until the position a read names is applied here.
 *
 * @throws {HttpError} 400 for a malformed position, 503 when the wait runs out.
 */
export async function awaitPosition(
  req: Request,
  url: URL,
  sink: { log: BatchLog } | undefined,
): Promise<void> {
  const named = url.searchParams.get("position") ?? req.headers.get(POSITION_HEADER);
  if (named === null || named === "") return;
  const stream = /^\d{1,20}-\d{1,20}$/.test(named);
  if (!stream && !/^\d{1,20}$/.test(named)) {
    throw new HttpError(400, "position must be a log position from a write's Log-Position");
  }
  const log = sink?.log as (BatchLog & Partial<WaitingLog>) | undefined;
  if (!log) return;
  if (log.waitFor && stream) {
    if (await log.waitFor(named)) return;
  } else if (!stream && /^\d+$/.test(log.position) && BigInt(named) <= BigInt(log.position)) {
    // A local log applies before it acknowledges: every position it gave out is here.
    return;
  }
  throw new HttpError(
    503,
    `this replica has not applied log position ${named} yet (it is at ${log.position}); ` +
      "retry shortly",
    { "retry-after": "1" },
  );
}
