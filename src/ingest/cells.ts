/**
 * Type checks for single JSON values against engine column types, matching
 * what the engine converts exactly and refusing what it would coerce
 * silently (a fraction into an integer, a word into a float, a number past
 * 32 bits).
 *
 * @module
 */

import type { ColumnType } from "../engine/perspective.ts";

const I32_MIN = -2147483648;
const I32_MAX = 2147483647;

/** Epoch milliseconds of 0000-01-01 and 10000-01-01: the engine's date column holds years 0 to 9999. */
const DATE_MIN_MS = -62167219200000;
const DATE_END_MS = 253402300800000;
/** The range of a JavaScript `Date`, which is what viewers can show. */
const DATETIME_MAX_MS = 8.64e15;
const DAY_MS = 86400000;

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME_RE =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?$/;

/** Whether `n` fits the engine's 32-bit integer column. */
export function isInt32(n: number): boolean {
  return Number.isInteger(n) && n >= I32_MIN && n <= I32_MAX;
}

function validDay(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** Whether `s` is an ISO 8601 calendar date, `YYYY-MM-DD`. */
export function isIsoDate(s: string): boolean {
  const m = DATE_RE.exec(s);
  return m !== null && validDay(+m[1], +m[2], +m[3]);
}

/** Whether `s` is an ISO 8601 date-time with seconds and an optional zone. */
export function isIsoDateTime(s: string): boolean {
  const m = DATETIME_RE.exec(s);
  return m !== null && validDay(+m[1], +m[2], +m[3]) && +m[4] < 24 && +m[5] < 60 && +m[6] < 60;
}

/**
 * Why `value` cannot go into a column of `type`, or undefined when it can.
 * `null` fits every column.
 */
export function cellError(type: ColumnType, value: unknown): string | undefined {
  if (value === null) return undefined;
  switch (type) {
    case "string":
      if (typeof value !== "string") return `expected a string, got ${kind(value)}`;
      return stringError(value);
    case "float":
      if (typeof value !== "number") return `expected a number, got ${kind(value)}`;
      // JSON numbers past the double range parse as Infinity, which the engine stores as null.
      return Number.isFinite(value) ? undefined : "the number is outside the 64-bit float range";
    case "integer":
      if (typeof value !== "number") return `expected an integer, got ${kind(value)}`;
      if (!Number.isInteger(value)) return `expected an integer, got ${value}`;
      return isInt32(value) ? undefined : `${value} is outside the 32-bit integer range`;
    case "boolean":
      return typeof value === "boolean" ? undefined : `expected true or false, got ${kind(value)}`;
    case "date":
      if (typeof value === "number") return dateMsError(value);
      if (typeof value === "string" && (isIsoDate(value) || isIsoDateTime(value))) return undefined;
      return `expected a YYYY-MM-DD date or epoch milliseconds, got ${show(value)}`;
    case "datetime":
      if (typeof value === "number") return datetimeMsError(value);
      if (typeof value === "string" && (isIsoDateTime(value) || isIsoDate(value))) return undefined;
      return `expected an ISO 8601 date-time or epoch milliseconds, got ${show(value)}`;
  }
}

/**
 * Why a string cannot be stored, or undefined. A lone UTF-16 surrogate (a
 * JSON `\ud800` escape without its pair) is not Unicode, and the engine
 * drops the whole batch holding one without an error.
 */
export function stringError(value: string): string | undefined {
  return value.isWellFormed()
    ? undefined
    : "the string holds an unpaired UTF-16 surrogate, which is not valid Unicode";
}

/**
 * Epoch milliseconds for a date column: whole milliseconds in years 0 to
 * 9999. Before 1970, only whole days: the engine rounds a time of day
 * towards 1970, so 1969-12-31T23:59:59.999 would become 1970-01-01.
 */
function dateMsError(ms: number): string | undefined {
  if (!Number.isInteger(ms)) return `expected whole epoch milliseconds, got ${ms}`;
  if (ms < DATE_MIN_MS || ms >= DATE_END_MS) return `${ms} ms is outside the years 0 to 9999`;
  if (ms < 0 && ms % DAY_MS !== 0) {
    return `${ms} ms is before 1970 and not a whole day; send the day's midnight (UTC)`;
  }
  return undefined;
}

/** Epoch milliseconds for a datetime column: whole, within a JavaScript `Date`'s range. */
function datetimeMsError(ms: number): string | undefined {
  if (!Number.isInteger(ms)) return `expected whole epoch milliseconds, got ${ms}`;
  if (Math.abs(ms) > DATETIME_MAX_MS) return `${ms} ms is outside the range of a date-time`;
  return undefined;
}

/** The engine type a JSON value suggests, for schema inference; null for null. */
export function inferCellType(value: unknown): ColumnType | null | "invalid" {
  if (value === null) return null;
  switch (typeof value) {
    case "boolean":
      return "boolean";
    case "number":
      return isInt32(value) ? "integer" : "float";
    case "string":
      if (isIsoDate(value)) return "date";
      if (isIsoDateTime(value)) return "datetime";
      return "string";
    default:
      return "invalid";
  }
}

/** Merges two inferred types of one column; undefined when they cannot share one. */
export function mergeTypes(a: ColumnType, b: ColumnType): ColumnType | undefined {
  if (a === b) return a;
  const pair = new Set([a, b]);
  if (pair.has("integer") && pair.has("float")) return "float";
  if (pair.has("date") && pair.has("datetime")) return "datetime";
  if (pair.has("string") && (pair.has("date") || pair.has("datetime"))) return "string";
  return undefined;
}

function kind(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return `the string ${show(value)}`;
  return `${typeof value} ${String(value)}`;
}

function show(value: unknown): string {
  const s = typeof value === "string" ? JSON.stringify(value) : String(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
