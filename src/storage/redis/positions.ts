/**
 * The position up to which this replica's tables are readable (every entry
 * up to it applied and processed by the engine), and the reads waiting for
 * a position to get there.
 *
 * @module
 */

import { compareIds, START } from "./ids.ts";

/** See the module documentation. */
export class VisiblePosition {
  readonly #waiters = new Set<{ position: string; wake: () => void }>();
  #visible = START;

  /** The position reads see now. */
  get value(): string {
    return this.#visible;
  }

  /** Resolves true once `position` is visible, or false after `ms`. */
  waitFor(position: string, ms: number): Promise<boolean> {
    if (compareIds(position, this.#visible) <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = {
        position,
        wake: () => {
          clearTimeout(timer);
          this.#waiters.delete(w);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        resolve(false);
      }, ms);
      this.#waiters.add(w);
    });
  }

  /** Moves forward to `id` (never back) and wakes the reads it satisfies. */
  advance(id: string): void {
    if (compareIds(id, this.#visible) > 0) this.#visible = id;
    for (const w of [...this.#waiters]) {
      if (compareIds(w.position, this.#visible) <= 0) w.wake();
    }
  }

  /** Sets the position after a rebuild, which may move it back (a new epoch). */
  reset(id: string): void {
    this.#visible = START;
    this.advance(id);
  }
}
