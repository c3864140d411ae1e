/**
 * `deno task start`'s command as an argument list: the task first picks the
 * directories the service may write (`./data`, plus `$DATA_DIR` when set),
 * then runs `deno run` with them.
 *
 * @module
 */

const ROOT = new URL("../../", import.meta.url).pathname;

/** The start task's text, from deno.json. */
export const START_TASK: string = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks.start;

/**
 * The `deno run` command the start task ends with, with the writable
 * directories it would pick given as `writeDirs` (comma-separated).
 */
export function startCommand(writeDirs: string): string[] {
  const run = START_TASK.slice(START_TASK.lastIndexOf("&& ") + 3);
  return run.replaceAll("$WRITE_DIRS", writeDirs).trim().split(/\s+/);
}
