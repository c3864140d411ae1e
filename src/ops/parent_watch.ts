/**
 * Ends the process when the process that started it is gone. `deno task
 * start` runs the service as the task runner's child, and a runner killed
 * with SIGKILL cannot pass the signal on: without this, the service would
 * live on as an orphan, holding its port and its data directory's lock, and
 * the next start would be refused.
 *
 * @module
 */

/**
 * Calls `onGone` once the parent process has exited (the process was
 * re-parented), checking every `intervalMs`.
 *
 * @returns A function that stops watching.
 */
export function watchParent(onGone: () => void, intervalMs = 250): () => void {
  const parent = Deno.ppid;
  const timer = setInterval(() => {
    if (Deno.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
