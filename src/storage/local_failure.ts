/**
 * Telling a refusal every replica makes from a failure of one replica's
 * engine. A change the engine refuses for what it holds (bad values, a
 * missing table) is refused alike wherever it is applied, so a replica may
 * note it and go on. A failure of this engine alone (no room, rows it
 * silently did not store, a dead engine) leaves this replica's tables
 * different from the others': it must not go on as if it had applied the
 * change.
 *
 * @module
 */

import { StatusError } from "../engine/batch_types.ts";
import { ApplyDiscrepancyError } from "../engine/verify.ts";
import { EngineWorkerError } from "../engine/worker/remote.ts";

/**
 * Why applying a change failed on this replica alone, or undefined when the
 * failure is the engine's verdict on the change itself.
 */
export function localFailure(err: unknown): string | undefined {
  const local = err instanceof ApplyDiscrepancyError || err instanceof EngineWorkerError ||
    (err instanceof StatusError && err.status === 507);
  return local ? (err as Error).message : undefined;
}
