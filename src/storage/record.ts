/**
 * Log records: every change to a durable table (create, drop, a batch) and
 * to the service's saved settings (dashboards, layouts), with the binary
 * encoding that the write-ahead log and the Redis stream share.
 *
 * A record's body is: version (u8), type (u8), two reserved bytes, the
 * sequence number (u64, big-endian), the header's length (u32), the header
 * as JSON, then the payload bytes. The header holds everything but the
 * payload, so a batch's bytes are never re-encoded.
 *
 * @module
 */

import type { EngineBatch, TableDef } from "../engine/batch_types.ts";

/** A change that the log orders, keeps and replays. */
export type Change =
  | {
    /** Creates a table. */
    type: "create";
    /** Table name. */
    table: string;
    /** Its definition. */
    def: TableDef;
  }
  | {
    /** Drops a table. */
    type: "drop";
    /** Table name. */
    table: string;
  }
  | {
    /** A batch for a table (which it may create). */
    type: "batch";
    /** What the engine is asked to do. */
    batch: EngineBatch;
  }
  | {
    /** Sets (or, with a null value, deletes) one saved setting. */
    type: "meta";
    /** Its key, e.g. `dashboard:sales`. */
    key: string;
    /** Any JSON value; null deletes the key. */
    value: unknown;
  };

/** A change with its place in the log. */
export interface LogRecord {
  /** Global sequence number: one order across all tables. */
  seq: number;
  /** The change. */
  change: Change;
}

/** The table a change concerns, or undefined for settings. */
export function changeTable(change: Change): string | undefined {
  return change.type === "batch"
    ? change.batch.table
    : change.type === "meta"
    ? undefined
    : change.table;
}

/** Whether a change creates or drops a table, so that later checks must wait for it. */
export function isStructural(change: Change): boolean {
  return change.type === "create" || change.type === "drop" ||
    (change.type === "batch" && change.batch.create !== undefined);
}

const VERSION = 1;
const TYPES = ["create", "drop", "batch", "meta"] as const;
const PREFIX = 16;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Thrown when a record's body cannot be read: corrupt, or from a newer version. */
export class RecordFormatError extends Error {
  /** @param detail What is wrong. */
  constructor(detail: string) {
    super(detail);
    this.name = "RecordFormatError";
  }
}

/** Encodes a record's body. */
export function encodeRecord(record: LogRecord): Uint8Array {
  const { change } = record;
  let header: unknown;
  let payload: Uint8Array = new Uint8Array(0);
  switch (change.type) {
    case "create":
      header = { table: change.table, def: defJson(change.def) };
      break;
    case "drop":
      header = { table: change.table };
      break;
    case "batch": {
      const b = change.batch;
      header = {
        table: b.table,
        op: b.op,
        format: b.format,
        rows: b.rows,
        ...(b.create ? { create: defJson(b.create) } : {}),
      };
      payload = b.data;
      break;
    }
    case "meta":
      header = { key: change.key, value: change.value };
      break;
  }
  const head = encoder.encode(JSON.stringify(header));
  const out = new Uint8Array(PREFIX + head.byteLength + payload.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, VERSION);
  view.setUint8(1, TYPES.indexOf(change.type));
  view.setBigUint64(4, BigInt(record.seq));
  view.setUint32(12, head.byteLength);
  out.set(head, PREFIX);
  out.set(payload, PREFIX + head.byteLength);
  return out;
}

/**
 * Decodes a record's body. The payload is a view into `body`, not a copy.
 *
 * @throws {RecordFormatError} when the body is not a record this version reads.
 */
export function decodeRecord(body: Uint8Array): LogRecord {
  if (body.byteLength < PREFIX) throw new RecordFormatError("record shorter than its prefix");
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (view.getUint8(0) !== VERSION) {
    throw new RecordFormatError(`record version ${view.getUint8(0)} is not ${VERSION}`);
  }
  const type = TYPES[view.getUint8(1)];
  if (!type) throw new RecordFormatError(`unknown record type ${view.getUint8(1)}`);
  const seq = Number(view.getBigUint64(4));
  const headLength = view.getUint32(12);
  if (PREFIX + headLength > body.byteLength) throw new RecordFormatError("header past the body");
  // deno-lint-ignore no-explicit-any
  let h: any;
  try {
    h = JSON.parse(decoder.decode(body.subarray(PREFIX, PREFIX + headLength)));
  } catch (err) {
    throw new RecordFormatError(`unreadable header: ${err}`);
  }
  const payload = body.subarray(PREFIX + headLength);
  let change: Change;
  switch (type) {
    case "create":
      change = { type, table: h.table, def: defFrom(h.def) };
      break;
    case "drop":
      change = { type, table: h.table };
      break;
    case "batch":
      change = {
        type,
        batch: {
          table: h.table,
          op: h.op,
          format: h.format,
          rows: h.rows,
          data: payload,
          ...(h.create ? { create: defFrom(h.create) } : {}),
        },
      };
      break;
    case "meta":
      change = { type, key: h.key, value: h.value };
      break;
  }
  return { seq, change };
}

/** A schema keeps its column order through JSON as a list of pairs. */
function defJson(def: TableDef): unknown {
  return { columns: Object.entries(def.schema), index: def.index, limit: def.limit };
}

// deno-lint-ignore no-explicit-any
function defFrom(json: any): TableDef {
  return {
    schema: Object.fromEntries(json.columns),
    index: json.index ?? null,
    limit: json.limit ?? null,
  };
}

/** Bytes of a frame's head: the body's length and its CRC-32C. */
export const FRAME_HEAD = 8;
