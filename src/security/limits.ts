/**
 * Counters for the limits the security layer enforces: open connections in
 * total and per client address, and a per-key request rate.
 *
 * @module
 */

/** Why a connection was refused, or `"ok"`. */
export type Admission = "ok" | "total" | "address";

/** Counts open connections; every successful acquire needs one release. */
export class ConnectionLimiter {
  readonly #max: number;
  readonly #perAddress: number;
  readonly #byAddress = new Map<string, number>();
  #total = 0;

  /** @param max Total connections. @param perAddress Connections per client address. */
  constructor(max: number, perAddress: number) {
    this.#max = max;
    this.#perAddress = perAddress;
  }

  /** Open connections. */
  get total(): number {
    return this.#total;
  }

  /** Takes a slot for `address` unless a limit is reached. */
  acquire(address: string): Admission {
    if (this.#total >= this.#max) return "total";
    const n = this.#byAddress.get(address) ?? 0;
    if (n >= this.#perAddress) return "address";
    this.#total++;
    this.#byAddress.set(address, n + 1);
    return "ok";
  }

  /** Gives back a slot taken by {@linkcode ConnectionLimiter.acquire}. */
  release(address: string): void {
    const n = this.#byAddress.get(address) ?? 0;
    if (n <= 0) return;
    this.#total--;
    if (n === 1) this.#byAddress.delete(address);
    else this.#byAddress.set(address, n - 1);
  }
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per key: `rate` requests per second sustained, `burst` at
 * once. Full buckets are forgotten, so memory follows active keys only.
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  /**
   * @param rate Requests per second.
   * @param burst Bucket size.
   * @param now Clock in milliseconds. @default performance.now
   */
  constructor(rate: number, burst: number, now: () => number = () => performance.now()) {
    this.#rate = rate;
    this.#burst = Math.max(1, burst);
    this.#now = now;
  }

  /**
   * Takes one request from `key`'s bucket.
   *
   * @returns 0 when allowed, else the whole seconds to wait before retrying.
   */
  take(key: string): number {
    const now = this.#now();
    const b = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#rate);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.#buckets.set(key, b);
      this.#prune(now);
      return 0;
    }
    this.#buckets.set(key, b);
    return Math.max(1, Math.ceil((1 - b.tokens) / this.#rate));
  }

  #prune(now: number): void {
    if (this.#buckets.size < 10_000) return;
    for (const [key, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.#rate >= this.#burst) this.#buckets.delete(key);
    }
  }
}
