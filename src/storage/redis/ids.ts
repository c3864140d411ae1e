/**
 * Stream IDs (`<ms>-<seq>`) as log positions: parsing and ordering.
 *
 * @module
 */

/** The position before every entry. */
export const START = "0-0";

/** Whether `s` is a stream ID. */
export function isStreamId(s: string): boolean {
  return /^\d{1,20}-\d{1,20}$/.test(s);
}

/** Orders two stream IDs: negative, zero or positive like `a - b`. */
export function compareIds(a: string, b: string): number {
  const [am, as] = split(a);
  const [bm, bs] = split(b);
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

/** The milliseconds part of a stream ID: when Redis appended the entry. */
export function idMillis(id: string): number {
  return Number(split(id)[0]);
}

function split(id: string): [bigint, bigint] {
  const dash = id.indexOf("-");
  if (dash < 0) return [BigInt(id), 0n];
  return [BigInt(id.slice(0, dash)), BigInt(id.slice(dash + 1))];
}
