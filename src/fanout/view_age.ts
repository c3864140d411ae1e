/**
 * Whether an engine view made earlier still shows what one made now would.
 * The engine changes a view's rows only when a poll applies writes to its
 * table, so two views made with no such poll between them are made from the
 * same state and evolve alike, defects included.
 *
 * @module
 */

import type { Conflator } from "../engine/conflate.ts";
import type { EngineServer } from "../engine/server.ts";
import { watchWrites } from "../engine/session.ts";

/** When a view was made, as {@linkcode ViewAges} sees time. */
export interface Birth {
  table: string;
  /** Completed polls when made, or -1 when a poll ran while it was being made. */
  polls: number;
  /** The table's write count when made, or -1 when a write may still have been pending. */
  writes: number;
}

/** Writes seen for one table. */
interface TableWrites {
  count: number;
  /** The last write is surely applied once more than this many polls have completed. */
  settledAfter: number;
}

/** Tracks writes per table and polls, to date views. */
export class ViewAges {
  readonly #conflator: Conflator;
  readonly #writes = new Map<string, TableWrites>();
  /** Writes made before this tracker existed are surely applied after this many polls. */
  readonly #startSettles: number;

  constructor(server: EngineServer, conflator: Conflator) {
    this.#conflator = conflator;
    this.#startSettles = conflator.polls + (conflator.running ? 1 : 0);
    watchWrites(server, (table) => {
      const w = this.#writes.get(table) ?? { count: 0, settledAfter: 0 };
      w.count++;
      // A poll already running may have passed the point where it applies writes.
      w.settledAfter = conflator.polls + (conflator.running ? 1 : 0);
      this.#writes.set(table, w);
    });
  }

  /**
   * Dates a view being made: call `start` before the make-view request and
   * the function it returns once the engine has answered.
   */
  start(table: string): () => Birth {
    const c = this.#conflator;
    const polls = c.running ? -1 : c.polls;
    const w = this.#writes.get(table) ?? { count: 0, settledAfter: this.#startSettles };
    const writes = c.polls > w.settledAfter ? w.count : -1;
    return () => ({
      table,
      polls: polls >= 0 && !c.running && c.polls === polls ? polls : -1,
      writes: writes >= 0 && this.#count(table) === writes ? writes : -1,
    });
  }

  /**
   * Whether a view born at `birth` shows now what a view made now would:
   * no poll has run since, or none of its table's writes was pending then
   * and none came since.
   */
  unchanged(birth: Birth): boolean {
    const c = this.#conflator;
    if (birth.polls >= 0 && !c.running && c.polls === birth.polls) return true;
    return birth.writes >= 0 && this.#count(birth.table) === birth.writes;
  }

  /** Forgets a dropped table. */
  forget(table: string): void {
    this.#writes.delete(table);
  }

  #count(table: string): number {
    return this.#writes.get(table)?.count ?? 0;
  }
}
