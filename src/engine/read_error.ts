/**
 * A read the engine could not serve for a table that exists: a view or an
 * export it failed to make. Never a "not found".
 *
 * @module
 */

import { StatusError } from "./batch_types.ts";

/** The engine failed to serve a read; HTTP 503 (507 when it ran out of memory). */
export class EngineReadError extends StatusError {
  /**
   * @param table Table name.
   * @param what The read, e.g. "an export".
   * @param cause The engine's error.
   */
  constructor(table: string, what: string, cause: unknown) {
    const text = (cause instanceof Error ? cause.message : String(cause))
      .replace(/^Abort\(\):\s*/, "").trim().split("\n")[0].slice(0, 300);
    const memory = /bad_alloc|out of memory|Cannot enlarge memory/i.test(text);
    super(
      memory ? 507 : 503,
      `the engine could not make ${what} of table ${JSON.stringify(table)}: ${text}` +
        (memory
          ? "; it is out of memory: drop or clear tables, or give tables a row limit"
          : "; try again"),
    );
    this.name = "EngineReadError";
  }
}
