/**
 * A small Dockerfile reader for the deploy tests: joins continuation lines,
 * drops comments, and parses exec-form (JSON array) arguments.
 *
 * @module
 */

/** One instruction, e.g. `{ name: "RUN", args: "deno install --frozen" }`. */
export interface Instruction {
  /** Upper-cased instruction name. */
  name: string;
  /** The rest of the instruction, continuation lines joined. */
  args: string;
}

/** Splits a Dockerfile into instructions. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (pending === "" && /^\s*(#|$)/.test(line)) continue;
    if (pending !== "" && /^\s*#/.test(line)) continue;
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    const m = /^(\w+)\s+([\s\S]*)$/.exec(full);
    if (!m) throw new Error(`not an instruction: ${full}`);
    out.push({ name: m[1].toUpperCase(), args: m[2].trim() });
  }
  if (pending !== "") throw new Error("Dockerfile ends in a continuation");
  return out;
}

/** Parses exec form (`["a", "b"]`); throws for shell form, which would not get signals. */
export function execForm(args: string): string[] {
  if (!args.startsWith("[")) throw new Error(`expected exec form, got: ${args}`);
  const parsed = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === "string")) {
    throw new Error(`exec form must be an array of strings: ${args}`);
  }
  return parsed;
}

/** `ENV A=1 B=2` (and legacy `ENV A 1`) as a record. */
export function envOf(instructions: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { name, args } of instructions) {
    if (name !== "ENV") continue;
    if (!args.includes("=")) {
      const [k, ...v] = args.split(/\s+/);
      env[k] = v.join(" ");
      continue;
    }
    for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      env[m[1]] = m[2].startsWith('"') ? JSON.parse(m[2]) : m[2];
    }
  }
  return env;
}

/** The `HEALTHCHECK` instruction's options and command. */
export function healthcheckOf(
  instructions: Instruction[],
): { options: Record<string, string>; command: string[] } {
  const hc = instructions.filter((i) => i.name === "HEALTHCHECK");
  if (hc.length !== 1) throw new Error(`expected one HEALTHCHECK, found ${hc.length}`);
  const m = /^((?:--[\w-]+=\S+\s+)*)CMD\s+([\s\S]+)$/.exec(hc[0].args);
  if (!m) throw new Error(`HEALTHCHECK without CMD: ${hc[0].args}`);
  const options: Record<string, string> = {};
  for (const o of m[1].trim().split(/\s+/).filter(Boolean)) {
    const [k, v] = o.slice(2).split("=");
    options[k] = v;
  }
  return { options, command: execForm(m[2].trim()) };
}

/** The single instruction named `name`; throws when there is not exactly one. */
export function only(instructions: Instruction[], name: string): string {
  const found = instructions.filter((i) => i.name === name);
  if (found.length !== 1) throw new Error(`expected one ${name}, found ${found.length}`);
  return found[0].args;
}

/** Splits a `deno task` command line on spaces (the tasks here use no quoting). */
export function splitTask(task: string): string[] {
  if (/["'`$\\|&;<>]/.test(task)) throw new Error(`task uses shell syntax: ${task}`);
  return task.trim().split(/\s+/);
}
