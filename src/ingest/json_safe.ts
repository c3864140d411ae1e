/**
 * JSON parsing that refuses what would hurt the service: nesting past a
 * depth limit (checked before any object is built) and text that is not
 * one complete document. `JSON.parse` already defines `__proto__` and
 * `constructor` as plain own properties; code that reads parsed objects
 * must look keys up with `Object.hasOwn` or in a `Map`, never on `{}`.
 *
 * @module
 */

import { IngestError } from "./batch.ts";

const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Throws when brackets nest deeper than `max`, without parsing. Scans UTF-8
 * bytes (multi-byte sequences never contain ASCII bytes).
 *
 * @throws {IngestError} 400 past the depth.
 */
export function checkDepth(bytes: Uint8Array, max: number): void {
  let depth = 0;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      // Skip the string; a backslash escapes the next byte.
      for (i++; i < n; i++) {
        const s = bytes[i];
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) {
        throw new IngestError(400, `JSON nests deeper than ${max} levels`);
      }
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * Decodes UTF-8 strictly.
 *
 * @throws {IngestError} 400 for invalid UTF-8.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new IngestError(400, "body is not valid UTF-8");
  }
}

/**
 * Parses one JSON document after a depth check.
 *
 * @throws {IngestError} 400 for malformed or too deeply nested JSON.
 */
export function parseJson(input: Uint8Array | string, maxDepth: number): unknown {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  checkDepth(bytes, maxDepth);
  const text = typeof input === "string" ? input : decodeUtf8(bytes);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new IngestError(400, `malformed JSON: ${(err as Error).message}`);
  }
}

/** A plain JSON object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
