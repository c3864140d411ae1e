/**
 * The errors a client sees when the shared log cannot take a change: 503
 * with `Retry-After`, and a detail that says it was not acknowledged.
 *
 * @module
 */

import { StatusError } from "../../engine/batch_types.ts";

/** The answer to a write while Redis cannot be reached: not acknowledged, retry. */
export function unreachable(detail = "cannot reach Redis"): StatusError {
  return new StatusError(
    503,
    `the shared batch log is unavailable (${detail}), so the change was not acknowledged; ` +
      "reads go on; retry shortly",
    { "retry-after": "1" },
  );
}

/** The error for an append that Redis refused or never got. */
export function appendError(err: unknown): StatusError {
  const message = String((err as Error)?.message ?? err);
  if (message.startsWith("EPOCH")) {
    return new StatusError(
      503,
      "the shared batch log was reset; this replica is rebuilding, and the change was not " +
        "acknowledged; retry shortly",
      { "retry-after": "1" },
    );
  }
  return unreachable(message.slice(0, 200));
}
