/**
 * Polling helpers for tests on a loaded machine: wait for a condition
 * instead of sleeping a fixed time.
 *
 * @module
 */

/**
 * Resolves once `check` returns a truthy value, polling every `interval` ms.
 *
 * @throws {Error} with `what` in the message when `timeout` ms pass first.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  { timeout = 20_000, interval = 25 }: { timeout?: number; interval?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}
