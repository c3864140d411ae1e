/**
 * What shared views need to know about a `table_make_view_req`: which
 * requests ask for the same view, and whether that view's contents can
 * depend on its history.
 *
 * @module
 */

import { fields, pushBytes, pushVarintField, WIRE_LEN, WIRE_VARINT } from "../protocol/wire.ts";
import { ProtocolError } from "../protocol/wire.ts";

/** `TableMakeViewReq` fields. */
const VIEW_ID = 1;
const CONFIG = 2;

/** `ViewConfig` fields that are protobuf maps, whose entries the stock client writes in any order. */
const MAP_FIELDS = new Set([6, /* expressions */ 7 /* aggregates */]);

/**
 * `ViewConfig` fields a history-free view may carry: `columns` (3),
 * `aggregates` (7) and `filter_op` (8), the last two inert without
 * `group_by`, `split_by` and `filter`.
 */
const HISTORY_FREE_FIELDS = new Set([3, 7, 8]);

/** A make-view request reduced to what sharing compares. */
export interface ViewShape {
  /** Equal for requests that ask for the same view, whatever their view ids and map order. */
  key: string;
  /**
   * True when the view is the table's rows in index order, projected onto
   * some columns: no filter, sort, group_by, split_by or expressions, and no
   * field this module does not know. Such a view is a function of the
   * table's current rows alone, so an old one shows what a fresh one would.
   * Any other view keeps state that the engine updates incrementally, and a
   * known engine defect (README, "Known issues") lets that state drift from
   * what a fresh view computes.
   */
  historyFree: boolean;
  /** The request with `view_id` set to `viewId` and map entries in one canonical order. */
  withViewId(viewId: string): Uint8Array;
}

/** One field, re-encodable. */
interface RawField {
  no: number;
  wire: number;
  int: number;
  bytes: Uint8Array;
}

function copyFields(buf: Uint8Array): RawField[] {
  const out: RawField[] = [];
  for (const f of fields(buf)) {
    if (f.wire !== WIRE_VARINT && f.wire !== WIRE_LEN) {
      throw new ProtocolError("fixed-width fields are not expected in a view config");
    }
    out.push({ no: f.no, wire: f.wire, int: f.int, bytes: f.bytes });
  }
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function hasRepeatedKey(config: RawField[]): boolean {
  const seen = new Set<string>();
  for (const f of config) {
    if (!MAP_FIELDS.has(f.no)) continue;
    let key = "";
    for (const e of fields(f.bytes)) if (e.no === 1) key = Array.from(e.bytes).join(",");
    if (seen.has(`${f.no}:${key}`)) return true;
    seen.add(`${f.no}:${key}`);
  }
  return false;
}

function push(out: number[], f: RawField): void {
  if (f.wire === WIRE_VARINT) pushVarintField(out, f.no, f.int);
  else pushBytes(out, f.no, f.bytes);
}

/**
 * Reads a make-view request.
 *
 * Fields are put in field-number order and map entries sorted by their
 * encoded bytes. Neither order is part of what a viewer sees: the view's columns follow `columns` or the table,
 * and the stock client reads `get_config` back into a hash map.
 *
 * @throws {ProtocolError} for bytes that are not a make-view request this module can rewrite.
 */
export function viewShape(body: Uint8Array): ViewShape {
  const request = copyFields(body);
  let config: RawField[] | undefined;
  const rest: RawField[] = [];
  for (const f of request) {
    if (f.no === VIEW_ID) continue;
    if (f.no === CONFIG && f.wire === WIRE_LEN && config === undefined) {
      config = copyFields(f.bytes);
    } else rest.push(f);
  }
  const hasConfig = config !== undefined;
  config ??= [];
  // Fields in field-number order (their relative order means nothing to
  // protobuf), repeated fields keeping theirs, map entries sorted.
  // A map with a repeated key keeps its order: the last entry wins.
  const canonical = hasRepeatedKey(config) ? config : [...config].sort((a, b) => {
    if (a.no !== b.no) return a.no - b.no;
    return MAP_FIELDS.has(a.no) ? compareBytes(a.bytes, b.bytes) : 0;
  });
  const configOut: number[] = [];
  for (const f of canonical) push(configOut, f);
  const configBytes = new Uint8Array(configOut);
  const restOut: number[] = [];
  for (const f of rest) push(restOut, f);
  const key = `${hasConfig ? "" : "-"}${Array.from(configBytes).join(",")}|${
    Array.from(restOut).join(",")
  }`;
  const historyFree = rest.length === 0 &&
    config.every((f) => HISTORY_FREE_FIELDS.has(f.no));

  return {
    key,
    historyFree,
    withViewId(viewId: string): Uint8Array {
      const out: number[] = [];
      pushBytes(out, VIEW_ID, new TextEncoder().encode(viewId));
      if (hasConfig) pushBytes(out, CONFIG, configBytes);
      out.push(...restOut);
      return new Uint8Array(out);
    },
  };
}
