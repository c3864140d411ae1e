/**
 * A delay that ends early when a signal aborts, for sources and their
 * supervisor, which wait between scans and restarts but must stop at once.
 *
 * @module
 */

/** Resolves after `ms`, or as soon as `signal` aborts (at once if it has). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
