/**
 * Validation of Arrow IPC batches (stream or file): the whole body must
 * decode, column types must be ones the engine stores without silent loss,
 * and an index column must have no nulls. {@linkcode scanArrow} decodes
 * (in a worker, see `validator.ts`, since a corrupt body can send the
 * decoder into a loop) and returns a plain summary that the checks read.
 * Before the decoder sees a body, its framing is walked (`arrow_ipc.ts`);
 * after, each column's buffers are checked against its metadata
 * (`arrow_buffers.ts`) and dictionary columns against what the engine reads
 * correctly (`arrow_dictionary.ts`).
 *
 * @module
 */

import { type DataType, RecordBatchReader, Type } from "apache-arrow";
import type { ColumnType, Schema } from "../engine/perspective.ts";
import { IngestError, type TableDef } from "./batch.ts";
import { checkColumnData } from "./arrow_buffers.ts";
import { DictionaryValues } from "./arrow_dictionary.ts";
import { isArrowFile, walkFile, walkStream } from "./arrow_ipc.ts";

/** One column of an Arrow body. */
export interface ArrowField {
  /** Column name. */
  name: string;
  /** The Arrow type, for messages. */
  arrowType: string;
  /** The engine type it maps to, or null when the engine cannot store it. */
  type: ColumnType | null;
  /** Whether the type is an integer wider than the engine's 32 bits. */
  wideInt: boolean;
  /** Whether any value falls outside the 32-bit integer range. */
  outOfInt32: boolean;
  /** Nulls over all batches. */
  nulls: number;
}

/** What an Arrow body holds. */
export interface ArrowScan {
  /** Columns in order. */
  fields: ArrowField[];
  /** Rows over all record batches. */
  rows: number;
}

/**
 * Reads every record batch of an Arrow stream or file and summarizes it.
 *
 * @throws {IngestError} 400 when the body is not complete, valid Arrow IPC;
 *   422 for dictionaries the engine would read wrongly or refuse.
 */
export function scanArrow(bytes: Uint8Array): ArrowScan {
  if (bytes.byteLength < 8) {
    throw new IngestError(400, "not an Arrow IPC stream or file: too short");
  }
  try {
    if (isArrowFile(bytes)) walkFile(bytes);
    else walkStream(bytes);
    const reader = RecordBatchReader.from(bytes);
    reader.open();
    const schema = reader.schema;
    if (!schema) throw new Error("no schema message");
    const seen = new Set<string>();
    const fields: ArrowField[] = schema.fields.map((f) => {
      if (seen.has(f.name)) {
        throw new IngestError(400, `Arrow schema repeats ${JSON.stringify(f.name)}`);
      }
      seen.add(f.name);
      return {
        name: f.name,
        arrowType: String(f.type),
        type: engineType(f.type) ?? null,
        wideInt: f.type.typeId === Type.Int && !fitsInt32(f.type),
        outOfInt32: false,
        nulls: 0,
      };
    });
    const dictionaries = schema.fields.map((f) =>
      f.type.typeId === Type.Dictionary && engineType(f.type) === "string"
        ? new DictionaryValues(f.name, (f.type as unknown as { id: number }).id)
        : undefined
    );
    let rows = 0;
    for (const batch of reader) {
      rows += batch.numRows;
      for (let i = 0; i < fields.length; i++) {
        const child = batch.getChildAt(i);
        if (!child) continue;
        fields[i].nulls += child.nullCount;
        for (const data of child.data) checkColumnData(data);
        dictionaries[i]?.check(child);
        if (fields[i].wideInt && !fields[i].outOfInt32) {
          for (const v of child) {
            if (v === null) continue;
            const n = Number(v);
            if (n < -2147483648 || n > 2147483647) {
              fields[i].outOfInt32 = true;
              break;
            }
          }
        }
      }
    }
    return { fields, rows };
  } catch (err) {
    if (err instanceof IngestError) throw err;
    throw new IngestError(400, `malformed Arrow IPC: ${message(err)}`);
  }
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

function fitsInt32(type: DataType): boolean {
  const t = type as unknown as { bitWidth: number; isSigned: boolean };
  return t.bitWidth < 32 || (t.bitWidth === 32 && t.isSigned);
}

function fits(field: ArrowField, target: ColumnType): string | undefined {
  if (field.type === null) return `Arrow type ${field.arrowType} is not supported`;
  if (field.type === target) {
    return target === "integer" && field.outOfInt32
      ? "a value is outside the 32-bit integer range"
      : undefined;
  }
  if (target === "float" && field.type === "integer") return undefined;
  return `Arrow type ${field.arrowType} does not fit a ${target} column`;
}

/**
 * Checks a scanned Arrow body against the table.
 *
 * @throws {IngestError} 422 for unknown columns, types that do not fit, or
 *   nulls in the index column.
 */
export function checkArrow(scan: ArrowScan, def: TableDef): void {
  const types = new Map(Object.entries(def.schema));
  for (const field of scan.fields) {
    const target = types.get(field.name);
    if (target === undefined) {
      throw new IngestError(422, `unknown column ${JSON.stringify(field.name)}`);
    }
    const problem = fits(field, target);
    if (problem) throw new IngestError(422, `column ${JSON.stringify(field.name)}: ${problem}`);
  }
  if (def.index !== null && scan.rows > 0) {
    const index = scan.fields.find((f) => f.name === def.index);
    if (!index) throw new IngestError(422, `index column ${JSON.stringify(def.index)} is missing`);
    if (index.nulls > 0) {
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
  if (scan.fields.length === 0) {
    throw new IngestError(422, "cannot create a table from an Arrow body without columns");
  }
  const schema: Schema = Object.create(null);
  for (const field of scan.fields) {
    if (!field.type) {
      throw new IngestError(
        422,
        `column ${JSON.stringify(field.name)}: Arrow type ${field.arrowType} is not supported`,
      );
    }
    schema[field.name] = field.type;
  }
  return schema;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
