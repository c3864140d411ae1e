/**
 * Parses a byte size setting such as `MAX_ENGINE_MEMORY`: a whole number of
 * bytes, or a number with a unit (`1.5GiB`, `800MB`, `2G`).
 *
 * @module
 */

import { ConfigError } from "./env.ts";

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Largest engine memory budget: the 32-bit engine cannot address more. */
export const MAX_ENGINE_MEMORY_BYTES = 4 * 1024 ** 3;

/** Smallest engine memory budget accepted: below this no table fits. */
export const MIN_ENGINE_MEMORY_BYTES = 16 * 1024 ** 2;

/**
 * Parses an engine memory budget.
 *
 * @param field The variable or config field, for the error message.
 * @param raw A number of bytes, or a string with an optional unit.
 * @returns Bytes, or undefined when unset or empty.
 * @throws {ConfigError} for anything else, or a value outside 16 MiB to 4 GiB.
 */
export function parseEngineMemory(field: string, raw: unknown): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  let bytes = NaN;
  if (typeof raw === "number") bytes = raw;
  else if (typeof raw === "string") {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
    const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
    if (m && unit !== undefined) bytes = Math.floor(Number(m[1]) * unit);
  }
  if (!Number.isFinite(bytes)) {
    throw new ConfigError(field, `expected bytes, or a size such as 1.5GiB, got ${String(raw)}`);
  }
  if (bytes < MIN_ENGINE_MEMORY_BYTES || bytes > MAX_ENGINE_MEMORY_BYTES) {
    throw new ConfigError(field, `expected 16MiB to 4GiB (the engine's ceiling), got ${raw}`);
  }
  return bytes;
}
