/**
 * Decode-and-validate for every batch, whatever source it came from: turns a
 * {@linkcode Batch} into a {@linkcode ValidBatch} or throws an
 * {@linkcode IngestError}. Pure: it never touches the engine.
 *
 * @module
 */

import type { Schema } from "../engine/perspective.ts";
import {
  type Batch,
  type CreateOptions,
  IngestError,
  type TableDef,
  type ValidBatch,
} from "./batch.ts";
import { cellError } from "./cells.ts";
import { parseJson } from "./json_safe.ts";
import { type ArrowScan, arrowSchema, checkArrow, scanArrow } from "./validate_arrow.ts";
import { checkCsvHeader, checkCsvNewTable, scanCsv } from "./validate_csv.ts";
import {
  checkColumns,
  checkRows,
  inferSchema,
  type JsonBatch,
  parseJsonBatch,
  parseNdjson,
} from "./validate_json.ts";
import { rowsToColumns } from "./columnar.ts";

/** Options for {@linkcode validateBatch}. */
export interface ValidateOptions {
  /** Create unknown tables from `update` batches. @default true */
  autoCreate?: boolean;
  /** JSON nesting limit. @default 32 */
  maxJsonDepth?: number;
  /** The Arrow body's scan, when done already (in a worker). @default scanned here */
  arrow?: ArrowScan;
}

/**
 * Validates a batch against its table's definition.
 *
 * @param def The table's definition, or undefined when it does not exist.
 * @throws {IngestError} 400 malformed, 404 no table, 422 does not fit.
 */
export function validateBatch(
  batch: Batch,
  def: TableDef | undefined,
  options: ValidateOptions = {},
): ValidBatch {
  const maxDepth = options.maxJsonDepth ?? 32;
  const arrow = () => options.arrow ?? scanArrow(batch.bytes);
  if (def === undefined) {
    const create = batch.create ?? options.autoCreate ?? true;
    if (batch.op !== "update" || create === false) {
      throw new IngestError(404, `no table named ${JSON.stringify(batch.table)}`);
    }
    return validateCreate(batch, create === true ? {} : create, maxDepth, arrow);
  }
  if (typeof batch.create === "object") checkCreateOptions(batch, batch.create, def);
  return { ...validateExisting(batch, def, maxDepth, arrow), def };
}

/**
 * `?index=` and `?limit=` describe the table a batch would create; on a
 * table that exists they must agree with it, or the sender's idea of the
 * table is wrong (upserts it expects would append, say).
 *
 * @throws {IngestError} 409 when they differ.
 */
function checkCreateOptions(batch: Batch, options: CreateOptions, def: TableDef): void {
  const differs = (what: string, asked: unknown, actual: unknown) =>
    new IngestError(
      409,
      `table ${JSON.stringify(batch.table)} exists with ${what} ${JSON.stringify(actual)}, ` +
        `not ${JSON.stringify(asked)}`,
    );
  if (options.index !== undefined && options.index !== def.index) {
    throw differs("index", options.index, def.index);
  }
  if (options.limit !== undefined && options.limit !== def.limit) {
    throw differs("limit", options.limit, def.limit);
  }
}

function validateExisting(
  batch: Batch,
  def: TableDef,
  maxDepth: number,
  arrow: () => ArrowScan,
): ValidBatch {
  switch (batch.op) {
    case "clear":
      return { batch, format: batch.format, rows: 0 };
    case "remove":
      return validateRemove(batch, def, maxDepth);
    case "update":
    case "replace":
      return validateData(batch, def, maxDepth, arrow);
    default:
      throw new IngestError(400, `unknown batch operation ${JSON.stringify(batch.op)}`);
  }
}

function validateData(
  batch: Batch,
  def: TableDef,
  maxDepth: number,
  arrow: () => ArrowScan,
): ValidBatch {
  switch (batch.format) {
    case "arrow": {
      const scan = arrow();
      checkArrow(scan, def);
      return { batch, format: "arrow", rows: scan.rows };
    }
    case "csv": {
      const scan = scanCsv(batch.bytes, def.index, def.schema);
      checkCsvHeader(scan.header, def);
      return { batch, format: "csv", rows: scan.rows };
    }
    case "ndjson": {
      const rows = parseNdjson(batch.bytes, maxDepth);
      checkRows(rows, def, "line");
      return { batch, ...jsonPayload({ shape: "rows", rows }) };
    }
    case "json":
    case "columns": {
      const parsed = parseJsonBatch(batch.bytes, maxDepth);
      return { batch, ...checkJson(parsed, def) };
    }
    default:
      throw new IngestError(415, `unknown batch format ${JSON.stringify(batch.format)}`);
  }
}

function checkJson(
  parsed: JsonBatch,
  def: TableDef,
): Pick<ValidBatch, "format" | "rows" | "payload"> {
  if (parsed.shape === "rows") checkRows(parsed.rows, def);
  else checkColumns(parsed.columns, def);
  return jsonPayload(parsed);
}

/**
 * What the engine gets for a validated JSON or NDJSON batch: always text
 * this service wrote from the values it checked, never the client's bytes.
 * The engine's JSON reader disagrees with `JSON.parse` on some input (a
 * byte order mark, for one) and then drops rows without an error, so only
 * the validated values may reach it.
 */
function jsonPayload(parsed: JsonBatch): Pick<ValidBatch, "format" | "rows" | "payload"> {
  if (parsed.shape === "columns") {
    return { format: "columns", rows: parsed.length, payload: encodeJson(parsed.columns) };
  }
  const rows = parsed.rows.length;
  const columns = rowsToColumns(parsed.rows);
  if (columns) return { format: "columns", rows, payload: columns };
  return { format: "json", rows, payload: encodeJson(parsed.rows) };
}

const encoder = new TextEncoder();

/** `JSON.stringify` keeps own keys such as `__proto__` as plain keys, as `JSON.parse` made them. */
function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

function validateRemove(batch: Batch, def: TableDef, maxDepth: number): ValidBatch {
  if (def.index === null) {
    throw new IngestError(
      422,
      `table ${JSON.stringify(batch.table)} has no index to remove rows by`,
    );
  }
  const keys = parseJson(batch.bytes, maxDepth);
  if (!Array.isArray(keys)) throw new IngestError(400, "expected a JSON array of index keys");
  const type = def.schema[def.index];
  for (let i = 0; i < keys.length; i++) {
    const problem = keys[i] === null ? "null is not a key" : cellError(type, keys[i]);
    if (problem) throw new IngestError(422, `key ${i}: ${problem}`);
  }
  return { batch, format: "json", rows: keys.length, keys };
}

function validateCreate(
  batch: Batch,
  options: CreateOptions,
  maxDepth: number,
  arrow: () => ArrowScan,
): ValidBatch {
  const index = options.index ?? null;
  const limit = options.limit ?? null;
  if (index !== null && limit !== null) {
    throw new IngestError(400, "a table takes an index or a limit, not both");
  }
  if (limit !== null && !(Number.isInteger(limit) && limit > 0)) {
    throw new IngestError(400, "limit must be a positive integer");
  }
  const create = (schema: Schema | undefined) => {
    if (schema && index !== null && !Object.hasOwn(schema, index)) {
      throw new IngestError(400, `index column ${JSON.stringify(index)} is not in the batch`);
    }
    return { schema: schema ?? {}, index, limit };
  };
  switch (batch.format) {
    case "arrow": {
      const scan = arrow();
      const def = create(arrowSchema(scan));
      checkArrow(scan, def);
      return { batch, format: "arrow", rows: scan.rows, create: def };
    }
    case "csv": {
      const scan = scanCsv(batch.bytes, index);
      checkCsvNewTable(scan);
      const names = new Set(scan.header);
      if (names.size !== scan.header.length || scan.header.includes("")) {
        throw new IngestError(400, "CSV header has empty or repeated column names");
      }
      if (index !== null && !names.has(index)) {
        throw new IngestError(400, `index column ${JSON.stringify(index)} is not in the batch`);
      }
      // The engine infers CSV column types from the whole body.
      return { batch, format: "csv", rows: scan.rows, create: { schema: {}, index, limit } };
    }
    case "ndjson": {
      const rows = parseNdjson(batch.bytes, maxDepth);
      const def = create(inferSchema({ shape: "rows", rows }));
      checkRows(rows, def, "line");
      return { batch, ...jsonPayload({ shape: "rows", rows }), create: def };
    }
    case "json":
    case "columns": {
      const parsed = parseJsonBatch(batch.bytes, maxDepth);
      const def = create(inferSchema(parsed));
      return { batch, ...checkJson(parsed, def), create: def };
    }
    default:
      throw new IngestError(415, `unknown batch format ${JSON.stringify(batch.format)}`);
  }
}
