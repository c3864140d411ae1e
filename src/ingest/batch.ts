/**
 * The unit of ingest: a {@linkcode Batch} that a source produces and the
 * sink validates, logs and applies.
 *
 * @module
 */

import type { ColumnType } from "../engine/perspective.ts";
import {
  type BatchFormat,
  type BatchOp,
  type BatchResult,
  StaleBatchError,
  StatusError,
  type TableDef,
} from "../engine/batch_types.ts";

export { StaleBatchError };
export type { BatchFormat, BatchOp, BatchResult, TableDef };

/** The batch operations, for validation of untrusted input. */
export const BATCH_OPS: readonly BatchOp[] = ["update", "replace", "remove", "clear"];

/** The batch formats. `json` bodies holding a column object become `columns`. */
export const BATCH_FORMATS: readonly BatchFormat[] = ["arrow", "json", "columns", "ndjson", "csv"];

/** How to create a table that a batch names but that does not exist yet. */
export interface CreateOptions {
  /** Column to upsert on. */
  index?: string;
  /** Rows kept before the oldest roll over. */
  limit?: number;
}

/**
 * One batch from a source. `remove` takes a JSON array of index keys in
 * `bytes`; `clear` ignores `bytes`.
 */
export interface Batch {
  /** Target table name. */
  table: string;
  /** The operation. */
  op: BatchOp;
  /** Encoding of `bytes`. */
  format: BatchFormat;
  /** The payload, exactly as the source received it (already decompressed). */
  bytes: Uint8Array;
  /**
   * Create the table from this batch when it does not exist (`update` only).
   * Undefined means the sink's default.
   */
  create?: boolean | CreateOptions;
  /**
   * The source hands `bytes` over and will not read them again, so the sink
   * may move their buffer to the validation thread instead of copying it.
   */
  owned?: boolean;
}

/** A batch that passed validation, ready for the batch log. */
export interface ValidBatch {
  /** The batch as submitted. */
  batch: Batch;
  /** Format to hand the engine (a `json` body of columns becomes `columns`). */
  format: BatchFormat;
  /** Rows in the batch (keys for `remove`, 0 for `clear`). */
  rows: number;
  /** For `remove`: the validated index keys. */
  keys?: unknown[];
  /**
   * When set, the table must be created with this definition first; an
   * empty schema means the engine infers it from the batch (CSV).
   */
  create?: TableDef;
  /** The definition the batch was validated against, when the table exists. */
  def?: TableDef;
  /**
   * Identity of the table the batch was validated against (the engine
   * handle), so a log can tell when the table was dropped or recreated since.
   */
  target?: object;
  /**
   * Payload to hand the engine instead of `batch.bytes`, when the engine
   * needs a different form (NDJSON replace goes in as JSON rows).
   */
  payload?: Uint8Array;
}

/** The column types the engine knows. */
export const COLUMN_TYPES: readonly ColumnType[] = [
  "string",
  "integer",
  "float",
  "boolean",
  "date",
  "datetime",
];

/** Whether `value` names an engine column type. */
export function isColumnType(value: unknown): value is ColumnType {
  return typeof value === "string" && (COLUMN_TYPES as readonly string[]).includes(value);
}

/**
 * A rejected batch or request, with the HTTP status that describes it.
 * Sources other than HTTP report it however suits them.
 */
export class IngestError extends StatusError {
  /**
   * @param status 400 malformed, 404 no table, 409 conflict, 413 too large,
   *   415 media type, 422 does not fit the schema.
   * @param detail What is wrong, for the client.
   */
  constructor(status: number, detail: string, headers?: Record<string, string>) {
    super(status, detail, headers);
    this.name = "IngestError";
  }
}
