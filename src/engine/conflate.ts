/**
 * Conflation: the engine is polled on a schedule instead of after every
 * request, so a burst of batches between two polls is processed together and
 * costs each viewer one notification, not one per batch.
 *
 * The engine server calls {@linkcode Conflator.request} (its
 * `on_poll_request` hook) after every request that leaves it work (an
 * update, a remove, a replace). The first request after a quiet spell (or
 * after a poll that sent no notification) polls on the next macrotask, so a
 * lone update is not delayed; requests arriving while a poll is due or
 * running wait for the next slot, at most `maxUpdateRate` productive polls a
 * second. A poll never overlaps another, so a slow poll stretches the
 * interval: under load the engine conflates more instead of queueing.
 *
 * @module
 */

/** Runs after each poll, before the next one can start. */
export type AfterPoll = () => Promise<void> | void;

/** Options for {@linkcode Conflator}. */
export interface ConflatorOptions {
  /** Maximum engine polls (so notifications per viewer) a second. @default 20 */
  maxUpdateRate?: number;
  /** Receives a poll's failure; the schedule carries on. @default ignore */
  onError?: (err: unknown) => void;
  /**
   * How many requests that leave the engine work (updates) have been handed
   * to it so far. With it, {@linkcode Conflator.flush} needs no new poll when
   * none reached the engine since the last poll began: a producer whose
   * update that poll processed is not held for the next slot. @default every
   * flush waits for a new poll
   */
  requestCount?: () => number;
}

/** What {@linkcode Conflator.observe} reports after each poll. */
export interface PollObservation {
  /** Time from the poll's start to the end of its after-poll work, ms. */
  ms: number;
  /** Whether the engine had anything to send. */
  productive: boolean;
  /** Time the oldest request served by this poll waited for it, ms. */
  waitedMs: number;
}

/** Default for {@linkcode ConflatorOptions.maxUpdateRate}. */
export const DEFAULT_MAX_UPDATE_RATE = 20;

/** Schedules engine polls at a bounded rate. */
export class Conflator {
  readonly #poll: () => Promise<boolean | void>;
  readonly #intervalMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #requestCount: (() => number) | undefined;
  /** The request count when the running poll, or else the last one, began. */
  #pollStamp = -1;
  /** Waiters released when the running poll ends. */
  #joined: (() => void)[] = [];
  readonly #afterPoll = new Set<AfterPoll>();
  readonly #observers = new Set<(o: PollObservation) => void>();
  #firstRequestAt: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #again = false;
  #closed = false;
  #lastStart = -Infinity;
  #waiters: (() => void)[] = [];
  #polls = 0;
  #requests = 0;
  #lastPollMs = 0;

  /**
   * @param poll Processes the engine's pending updates and sends
   * notifications; resolving `false` means it found nothing to do, which
   * leaves the schedule idle so the next request polls at once.
   */
  constructor(poll: () => Promise<boolean | void>, options: ConflatorOptions = {}) {
    const rate = options.maxUpdateRate ?? DEFAULT_MAX_UPDATE_RATE;
    if (!(rate > 0)) throw new RangeError(`maxUpdateRate must be positive, got ${rate}`);
    this.#poll = poll;
    this.#intervalMs = 1000 / rate;
    this.#onError = options.onError ?? (() => {});
    this.#requestCount = options.requestCount;
  }

  /** The shortest time between two poll starts, in ms. */
  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** Polls run so far. */
  get polls(): number {
    return this.#polls;
  }

  /** Whether a poll is running now. */
  get running(): boolean {
    return this.#running;
  }

  /** Poll requests received so far; `requests / polls` is the conflation factor. */
  get requests(): number {
    return this.#requests;
  }

  /** Duration of the last poll and its after-poll work, in ms. */
  get lastPollMs(): number {
    return this.#lastPollMs;
  }

  /**
   * The engine's `on_poll_request` hook: asks for a poll soon. Resolves at
   * once, so the request that triggered it is not held up by the poll.
   */
  request(): Promise<void> {
    this.#requests++;
    this.#firstRequestAt ??= performance.now();
    this.#schedule();
    return Promise.resolve();
  }

  /**
   * Resolves after a poll that started after this call has finished, so every
   * update sent before the call is applied and its notifications are out.
   */
  flush(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    // A poll processes every update handed to the engine before it began:
    // with no update since the last poll began, that poll is enough (a poll
    // already due serves someone else).
    if (this.#requestCount?.() === this.#pollStamp) {
      if (!this.#running) return Promise.resolve();
      return new Promise<void>((resolve) => this.#joined.push(resolve));
    }
    const done = new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#schedule();
    return done;
  }

  /**
   * Registers work that runs after each poll, before the next one starts, so
   * it sees the engine exactly as that poll left it.
   *
   * @returns A function that unregisters it.
   */
  afterPoll(fn: AfterPoll): () => void {
    this.#afterPoll.add(fn);
    return () => this.#afterPoll.delete(fn);
  }

  /**
   * Calls `fn` after each poll with its duration and how long requests
   * waited for it, for metrics. Observers must not throw.
   *
   * @returns A function that unregisters it.
   */
  observe(fn: (o: PollObservation) => void): () => void {
    this.#observers.add(fn);
    return () => this.#observers.delete(fn);
  }

  /** Stops polling and releases pending {@linkcode Conflator.flush} callers. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of this.#waiters.splice(0)) w();
    for (const w of this.#joined.splice(0)) w();
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer !== undefined) return;
    const delay = Math.max(0, this.#lastStart + this.#intervalMs - performance.now());
    this.#timer = setTimeout(() => void this.#run(), delay);
  }

  async #run(): Promise<void> {
    this.#timer = undefined;
    if (this.#closed) return;
    this.#running = true;
    this.#again = false;
    const start = performance.now();
    this.#lastStart = start;
    const waitedMs = this.#firstRequestAt === undefined ? 0 : start - this.#firstRequestAt;
    this.#firstRequestAt = undefined;
    this.#pollStamp = this.#requestCount?.() ?? -1;
    const waiters = this.#waiters.splice(0);
    let productive = true;
    try {
      if ((await this.#poll()) === false) {
        productive = false;
        this.#lastStart = -Infinity;
      }
      for (const fn of [...this.#afterPoll]) {
        try {
          await fn();
        } catch (err) {
          this.#onError(err);
        }
      }
    } catch (err) {
      this.#onError(err);
    } finally {
      this.#polls++;
      this.#lastPollMs = performance.now() - start;
      const observation = { ms: this.#lastPollMs, productive, waitedMs };
      for (const fn of this.#observers) fn(observation);
      this.#running = false;
      for (const w of waiters) w();
      for (const w of this.#joined.splice(0)) w();
      if (this.#again || this.#waiters.length > 0) this.#schedule();
    }
  }
}
