/**
 * Validation of Arrow IPC batches (stream or file): the whole body must
 * decode, column types must be ones the engine stores without silent loss,
 * and an index column must have no nulls.
 *
 * @module
 */

import {
  type DataType,
  type Field,
  RecordBatchReader,
  type Schema as ArrowSchema,
  Type,
  type Vector,
} from "apache-arrow";
import type { ColumnType, Schema } from "../engine/perspective.ts";
import { IngestError, type TableDef } from "./batch.ts";

/** What an Arrow body holds. */
export interface ArrowScan {
  /** The Arrow schema. */
  schema: ArrowSchema;
  /** Rows over all record batches. */
  rows: number;
  /** Each column's chunks, by name. */
  columns: Map<string, Vector[]>;
}

/**
 * Reads every record batch of an Arrow stream or file.
 *
 * @throws {IngestError} 400 when the body is not complete, valid Arrow IPC.
 */
export function scanArrow(bytes: Uint8Array): ArrowScan {
  let reader;
  try {
    reader = RecordBatchReader.from(bytes);
    reader.open();
  } catch (err) {
    throw new IngestError(400, `not an Arrow IPC stream or file: ${message(err)}`);
  }
  if (reader.isStream() && bytes.byteLength < 8) {
    throw new IngestError(400, "not an Arrow IPC stream or file: too short");
  }
  const columns = new Map<string, Vector[]>();
  let rows = 0;
  let schema: ArrowSchema;
  try {
    schema = reader.schema;
    if (!schema) throw new Error("no schema message");
    for (const f of schema.fields) {
      if (columns.has(f.name)) {
        throw new IngestError(400, `Arrow schema repeats ${JSON.stringify(f.name)}`);
      }
      columns.set(f.name, []);
    }
    for (const batch of reader) {
      rows += batch.numRows;
      for (let i = 0; i < schema.fields.length; i++) {
        const child = batch.getChildAt(i);
        if (child) columns.get(schema.fields[i].name)!.push(child);
      }
    }
    if (!isArrowFile(bytes)) ensureStreamEnd(bytes);
  } catch (err) {
    if (err instanceof IngestError) throw err;
    throw new IngestError(400, `malformed Arrow IPC: ${message(err)}`);
  }
  return { schema, rows, columns };
}

/**
 * The JS reader stops quietly at a truncated message; the engine refuses
 * it. Walking the message framing catches a cut-off body here.
 */
function ensureStreamEnd(bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.byteLength) {
    if (at + 4 > bytes.byteLength) throw new Error("truncated message header");
    let len = view.getInt32(at, true);
    at += 4;
    if (len === -1) {
      if (at + 4 > bytes.byteLength) throw new Error("truncated message header");
      len = view.getInt32(at, true);
      at += 4;
    }
    if (len === 0) return;
    if (len < 0 || at + len > bytes.byteLength) throw new Error("truncated message metadata");
    const bodyLength = messageBodyLength(bytes.subarray(at, at + len));
    at += len;
    if (at + bodyLength > bytes.byteLength) throw new Error("truncated message body");
    at += bodyLength;
  }
}

const FILE_MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"

/** Whether the bytes start with the Arrow file format's magic. */
function isArrowFile(bytes: Uint8Array): boolean {
  return FILE_MAGIC.every((b, i) => bytes[i] === b);
}

/** Reads `Message.bodyLength` from a flatbuffer-encoded Arrow message header. */
function messageBodyLength(meta: Uint8Array): number {
  const v = new DataView(meta.buffer, meta.byteOffset, meta.byteLength);
  const table = v.getUint32(0, true);
  const vtable = table - v.getInt32(table, true);
  const vtableSize = v.getUint16(vtable, true);
  // Message fields: version, header_type, header, bodyLength (the fourth: slot 4 + 2 * 3).
  const slot = 4 + 2 * 3;
  if (slot >= vtableSize) return 0;
  const off = v.getUint16(vtable + slot, true);
  if (off === 0) return 0;
  return Number(v.getBigInt64(table + off, true));
}

/** The engine type an Arrow type maps to, or undefined when unsupported. */
export function engineType(type: DataType): ColumnType | undefined {
  switch (type.typeId) {
    case Type.Int:
      return "integer";
    case Type.Float:
      return (type as unknown as { precision: number }).precision === 0 ? undefined : "float";
    case Type.Utf8:
    case Type.LargeUtf8:
      return "string";
    case Type.Dictionary: {
      const inner = (type as unknown as { dictionary: DataType }).dictionary;
      return inner.typeId === Type.Utf8 || inner.typeId === Type.LargeUtf8 ? "string" : undefined;
    }
    case Type.Bool:
      return "boolean";
    case Type.Date:
      return "date";
    case Type.Timestamp:
      return "datetime";
    case Type.Null:
      return "string";
    default:
      return undefined;
  }
}

function fits(field: Field, target: ColumnType, chunks: Vector[]): string | undefined {
  const source = engineType(field.type);
  if (source === undefined) return `Arrow type ${field.type} is not supported`;
  if (source === target) {
    if (target === "integer" && !fitsInt32(field.type)) {
      for (const chunk of chunks) {
        for (const v of chunk) {
          if (v === null) continue;
          const n = Number(v);
          if (n < -2147483648 || n > 2147483647) return `${v} is outside the 32-bit integer range`;
        }
      }
    }
    return undefined;
  }
  if (target === "float" && source === "integer") return undefined;
  return `Arrow type ${field.type} does not fit a ${target} column`;
}

function fitsInt32(type: DataType): boolean {
  const t = type as unknown as { bitWidth: number; isSigned: boolean };
  return t.bitWidth < 32 || (t.bitWidth === 32 && t.isSigned);
}

/**
 * Checks a scanned Arrow body against the table.
 *
 * @throws {IngestError} 422 for unknown columns, types that do not fit, or
 *   nulls in the index column.
 */
export function checkArrow(scan: ArrowScan, def: TableDef): void {
  const types = new Map(Object.entries(def.schema));
  for (const field of scan.schema.fields) {
    const target = types.get(field.name);
    if (target === undefined) {
      throw new IngestError(422, `unknown column ${JSON.stringify(field.name)}`);
    }
    const problem = fits(field, target, scan.columns.get(field.name) ?? []);
    if (problem) throw new IngestError(422, `column ${JSON.stringify(field.name)}: ${problem}`);
  }
  if (def.index !== null && scan.rows > 0) {
    const chunks = scan.columns.get(def.index);
    if (!chunks) throw new IngestError(422, `index column ${JSON.stringify(def.index)} is missing`);
    if (chunks.some((c) => c.nullCount > 0)) {
      throw new IngestError(422, `index column ${JSON.stringify(def.index)} has null values`);
    }
  }
}

/**
 * The schema of a table created from an Arrow body.
 *
 * @throws {IngestError} 422 for column types the engine cannot store.
 */
export function arrowSchema(scan: ArrowScan): Schema {
  const schema: Schema = Object.create(null);
  for (const field of scan.schema.fields) {
    const t = engineType(field.type);
    if (!t) {
      throw new IngestError(
        422,
        `column ${JSON.stringify(field.name)}: Arrow type ${field.type} is not supported`,
      );
    }
    schema[field.name] = t;
  }
  if (scan.schema.fields.length === 0) {
    throw new IngestError(422, "cannot create a table from an Arrow body without columns");
  }
  return schema;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
