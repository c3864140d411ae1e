/**
 * Plain types and errors that every layer of the data path shares, from the
 * sources down to the engine: what a batch does, how its bytes are encoded,
 * a table's definition, and an error that carries an HTTP status.
 *
 * @module
 */

import type { Schema } from "./perspective.ts";

/** What a batch does to its table. */
export type BatchOp = "update" | "replace" | "remove" | "clear";

/** How a batch's bytes are encoded; the engine's `format` names. */
export type BatchFormat = "arrow" | "json" | "columns" | "ndjson" | "csv";

/** A table's definition as validation needs it. */
export interface TableDef {
  /** Column name to type. */
  schema: Schema;
  /** Index column, or null. */
  index: string | null;
  /** Row limit, or null. */
  limit: number | null;
}

/** The outcome of an applied batch. */
export interface BatchResult {
  /** Table name. */
  table: string;
  /** Rows in the batch; for `remove` and `clear`, rows removed. */
  rows: number;
  /** Table size after the batch. */
  size: number;
  /** Whether the batch created the table. */
  created: boolean;
  /**
   * The log position the batch was written at, when a log keeps positions;
   * a read naming it sees the batch.
   */
  position?: string;
}

/**
 * What the engine is asked to do with one batch, independent of where it
 * came from (a source through validation, or a log record on replay).
 */
export interface EngineBatch {
  /** Target table. */
  table: string;
  /** The operation. */
  op: BatchOp;
  /** Format of `data` as the engine reads it. */
  format: BatchFormat;
  /** The payload as the engine takes it; for `remove`, a JSON array of keys. */
  data: Uint8Array;
  /** Rows in the batch (keys for `remove`, 0 for `clear`). */
  rows: number;
  /**
   * Create the table with this definition first; an empty schema means the
   * engine infers it from a CSV payload.
   */
  create?: TableDef;
}

/**
 * An error with the HTTP status that describes it; the data path's layers
 * throw it and the HTTP layer turns it into problem+json.
 */
export class StatusError extends Error {
  /**
   * @param status The HTTP status, e.g. 422 for a batch that does not fit.
   * @param detail What is wrong, for the client.
   * @param headers Extra response headers, such as `Retry-After`.
   */
  constructor(
    readonly status: number,
    detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = "StatusError";
  }
}

/**
 * Thrown when the table changed between validation and application; the
 * sink validates the batch again.
 */
export class StaleBatchError extends Error {
  /** @param table The table that changed. */
  constructor(readonly table: string) {
    super(`table ${JSON.stringify(table)} changed while the batch was validated`);
    this.name = "StaleBatchError";
  }
}
