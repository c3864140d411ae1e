/**
 * Validation of JSON batches (rows, columns) and NDJSON batches against a
 * table definition, and schema inference for tables created from them.
 *
 * @module
 */

import type { ColumnType, Schema } from "../engine/perspective.ts";
import { IngestError, type TableDef } from "./batch.ts";
import { cellError, inferCellType, mergeTypes, stringError } from "./cells.ts";
import { checkDepth, decodeUtf8, isRecord } from "./json_safe.ts";

/** A parsed JSON batch: rows or columns. */
export type JsonBatch =
  | { shape: "rows"; rows: Record<string, unknown>[] }
  | { shape: "columns"; columns: Record<string, unknown[]>; length: number };

/**
 * Parses a JSON body into rows (`[{...}]`) or columns (`{"col": [...]}`).
 *
 * @throws {IngestError} 400 for malformed JSON or another shape.
 */
export function parseJsonBatch(bytes: Uint8Array, maxDepth: number): JsonBatch {
  checkDepth(bytes, maxDepth);
  let doc: unknown;
  try {
    doc = JSON.parse(decodeUtf8(bytes));
  } catch (err) {
    if (err instanceof IngestError) throw err;
    throw new IngestError(400, `malformed JSON: ${(err as Error).message}`);
  }
  if (Array.isArray(doc)) {
    for (let i = 0; i < doc.length; i++) {
      if (!isRecord(doc[i])) throw new IngestError(400, `row ${i} is not a JSON object`);
    }
    return { shape: "rows", rows: doc as Record<string, unknown>[] };
  }
  if (isRecord(doc)) {
    let length = -1;
    for (const key of Object.keys(doc)) {
      const col = doc[key];
      if (!Array.isArray(col)) {
        throw new IngestError(400, `column ${JSON.stringify(key)} is not an array`);
      }
      if (length === -1) length = col.length;
      else if (col.length !== length) {
        throw new IngestError(
          400,
          `column ${JSON.stringify(key)} has ${col.length} values, expected ${length}`,
        );
      }
    }
    return {
      shape: "columns",
      columns: doc as Record<string, unknown[]>,
      length: Math.max(0, length),
    };
  }
  throw new IngestError(400, "expected an array of row objects or an object of column arrays");
}

/**
 * Parses NDJSON: one JSON object per line; blank lines and `\r\n` endings
 * are allowed.
 *
 * @throws {IngestError} 400 naming the first bad line, or for a body without rows.
 */
export function parseNdjson(bytes: Uint8Array, maxDepth: number): Record<string, unknown>[] {
  checkDepth(bytes, maxDepth);
  const text = decodeUtf8(bytes);
  const rows: Record<string, unknown>[] = [];
  let start = 0;
  let line = 0;
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    line++;
    const raw = trimJsonSpace(text.slice(start, end));
    if (raw !== "") {
      let row: unknown;
      try {
        row = JSON.parse(raw);
      } catch (err) {
        throw new IngestError(400, `line ${line}: malformed JSON: ${(err as Error).message}`);
      }
      if (!isRecord(row)) throw new IngestError(400, `line ${line} is not a JSON object`);
      rows.push(row);
    }
    start = end + 1;
  }
  // An empty upload is more likely lost than meant: as a replace it would clear the table.
  if (rows.length === 0) throw new IngestError(400, "NDJSON body has no rows");
  return rows;
}

/** Trims the whitespace JSON allows around a value, and nothing else (not U+00A0). */
function trimJsonSpace(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isJsonSpace(s.charCodeAt(a))) a++;
  while (b > a && isJsonSpace(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * Checks every row against the table: known columns, fitting types, and a
 * non-null index value when the table has an index.
 *
 * @throws {IngestError} 422 naming the row and column.
 */
export function checkRows(rows: Record<string, unknown>[], def: TableDef, what = "row"): void {
  const types = new Map(Object.entries(def.schema));
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const keys = Object.keys(row);
    // The engine skips an empty row when every row is empty and adds a null row otherwise.
    if (keys.length === 0) throw new IngestError(422, `${what} ${i} sets no column`);
    for (const key of keys) {
      const type = types.get(key);
      if (type === undefined) {
        throw new IngestError(422, `${what} ${i}: unknown column ${JSON.stringify(key)}`);
      }
      const problem = cellError(type, row[key]);
      if (problem) {
        throw new IngestError(422, `${what} ${i}, column ${JSON.stringify(key)}: ${problem}`);
      }
    }
    if (def.index !== null && (!Object.hasOwn(row, def.index) || row[def.index] === null)) {
      throw new IngestError(
        422,
        `${what} ${i}: index column ${JSON.stringify(def.index)} is missing`,
      );
    }
  }
}

/**
 * Checks a column batch against the table.
 *
 * @throws {IngestError} 422 naming the column and row.
 */
export function checkColumns(columns: Record<string, unknown[]>, def: TableDef): void {
  const types = new Map(Object.entries(def.schema));
  for (const key of Object.keys(columns)) {
    const type = types.get(key);
    if (type === undefined) throw new IngestError(422, `unknown column ${JSON.stringify(key)}`);
    const values = columns[key];
    for (let i = 0; i < values.length; i++) {
      const problem = cellError(type, values[i]);
      if (problem) {
        throw new IngestError(422, `column ${JSON.stringify(key)}, row ${i}: ${problem}`);
      }
    }
  }
  if (def.index !== null) {
    const values = Object.hasOwn(columns, def.index) ? columns[def.index] : undefined;
    const length = Object.values(columns)[0]?.length ?? 0;
    if (length > 0 && (!values || values.some((v) => v === null))) {
      throw new IngestError(422, `index column ${JSON.stringify(def.index)} is missing`);
    }
  }
}

/**
 * Infers a schema from rows or columns, for a table created by its first
 * batch. Integers that fit 32 bits are `integer`, other numbers `float`,
 * ISO dates and date-times `date` and `datetime`, all-null columns `string`.
 *
 * @throws {IngestError} 422 for a column mixing types, or nested values.
 */
export function inferSchema(batch: JsonBatch): Schema {
  const types = new Map<string, ColumnType | null>();
  const see = (key: string, value: unknown) => {
    if (!types.has(key)) {
      const problem = stringError(key);
      if (problem) throw new IngestError(422, `column name ${JSON.stringify(key)}: ${problem}`);
    }
    const t = inferCellType(value);
    if (t === "invalid") {
      throw new IngestError(422, `column ${JSON.stringify(key)}: nested values are not supported`);
    }
    const prev = types.get(key) ?? null;
    if (!types.has(key) || prev === null) {
      types.set(key, t);
      return;
    }
    if (t === null) return;
    const merged = mergeTypes(prev, t);
    if (!merged) {
      throw new IngestError(422, `column ${JSON.stringify(key)} mixes ${prev} and ${t} values`);
    }
    types.set(key, merged);
  };
  if (batch.shape === "rows") {
    for (const row of batch.rows) for (const key of Object.keys(row)) see(key, row[key]);
  } else {
    for (const key of Object.keys(batch.columns)) {
      if (batch.columns[key].length === 0) see(key, null);
      for (const v of batch.columns[key]) see(key, v);
    }
  }
  if (types.size === 0) {
    throw new IngestError(422, "cannot create a table from a batch without columns");
  }
  const schema: Schema = Object.create(null);
  for (const [key, t] of types) schema[key] = t ?? "string";
  return schema;
}
