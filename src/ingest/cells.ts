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
      return typeof value === "string" ? undefined : `expected a string, got ${kind(value)}`;
    case "float":
      return typeof value === "number" ? undefined : `expected a number, got ${kind(value)}`;
    case "integer":
      if (typeof value !== "number") return `expected an integer, got ${kind(value)}`;
      if (!Number.isInteger(value)) return `expected an integer, got ${value}`;
      return isInt32(value) ? undefined : `${value} is outside the 32-bit integer range`;
    case "boolean":
      return typeof value === "boolean" ? undefined : `expected true or false, got ${kind(value)}`;
    case "date":
      if (typeof value === "number") return undefined;
      if (typeof value === "string" && (isIsoDate(value) || isIsoDateTime(value))) return undefined;
      return `expected a YYYY-MM-DD date or epoch milliseconds, got ${show(value)}`;
    case "datetime":
      if (typeof value === "number") return undefined;
      if (typeof value === "string" && (isIsoDateTime(value) || isIsoDate(value))) return undefined;
      return `expected an ISO 8601 date-time or epoch milliseconds, got ${show(value)}`;
  }
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
