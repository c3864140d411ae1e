/**
 * The scheduling rule between bulk reads and everything else. A bulk read
 * (an HTTP export, a client's large `to_arrow`) is read in windows, one
 * engine call each, so that other calls are served between them. That
 * alone bounds how long a viewer's call waits, but not how much of the
 * machine bulk work takes: windows back to back keep the engine busy and,
 * on a small machine, take the CPU that viewers' notifications and the
 * thread serving sockets need.
 *
 * The rule:
 * - bulk windows run one at a time, engine-wide, in the order asked;
 * - while other engine work is active (a poll, or a request of a client
 *   session, within the last {@linkcode ACTIVE_MS}), each window is
 *   followed by a rest as long as the window took, before the next bulk
 *   window starts: bulk work then has at most half of the engine's time;
 * - with no other work, windows follow each other at once, so a lone
 *   export runs at full speed.
 *
 * @module
 */

/** How long after the last other engine work bulk windows stay paced, ms. */
export const ACTIVE_MS = 1000;

/** Reads one window of a bulk read through {@linkcode BulkPacer.window}. */
export type Pace = <T>(read: () => Promise<T>) => Promise<T>;

/** Counts for `/metrics`. */
export interface PacerStats {
  /** Bulk windows read. */
  windows: number;
  /** Of those, the windows followed by a rest. */
  rested: number;
  /** Milliseconds of rest in all. */
  restMs: number;
}

/** Paces the engine's bulk windows; one per engine host. */
export class BulkPacer {
  #lastOther = -Infinity;
  #turn: Promise<void> = Promise.resolve();
  readonly #stats: PacerStats = { windows: 0, rested: 0, restMs: 0 };
  readonly #now: () => number;

  /** @param now The clock, ms; a seam for tests. */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Notes work other than bulk windows: a poll, a client's request. */
  noteOther(): void {
    this.#lastOther = this.#now();
  }

  /** Whether other work was noted within the last {@linkcode ACTIVE_MS}. */
  get active(): boolean {
    return this.#now() - this.#lastOther < ACTIVE_MS;
  }

  /** A copy of the counts. */
  get stats(): PacerStats {
    return { ...this.#stats };
  }

  /**
   * Runs `read`, one window of a bulk read, once the bulk windows asked
   * before it are done and rested. Its result comes back at once; the rest
   * after it holds back the next bulk window, not this one's caller.
   */
  readonly window: Pace = async <T>(read: () => Promise<T>): Promise<T> => {
    const before = this.#turn;
    let release = () => {};
    this.#turn = new Promise<void>((resolve) => release = resolve);
    await before;
    const start = this.#now();
    let rest = 0;
    try {
      return await read();
    } finally {
      this.#stats.windows++;
      if (this.active) {
        rest = Math.max(0, this.#now() - start);
        this.#stats.rested++;
        this.#stats.restMs += rest;
      }
      if (rest > 0) setTimeout(release, rest);
      else release();
    }
  };
}
