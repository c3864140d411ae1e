/**
 * The sink every source hands its batches to: validate against the table,
 * append to the batch log (which applies), report an event. Batches for one
 * table are applied in submission order; a table dropped or recreated
 * between validation and application is validated again.
 *
 * @module
 */

import type { EngineHost } from "../engine/host.ts";
import type { Table } from "../engine/perspective.ts";
import { BatchApplier } from "../engine/apply.ts";
import { admitBatch } from "./admit.ts";
import {
  type Batch,
  type BatchResult,
  IngestError,
  StaleBatchError,
  type TableDef,
  type ValidBatch,
} from "./batch.ts";
import { type IngestLimits, limits as sharedLimits } from "./limits.ts";
import { type BatchLog, MemoryBatchLog } from "./log.ts";
import { Validator, type ValidatorOptions } from "./validator.ts";

/** One finished submission, for metrics and logs. */
export interface IngestEvent {
  /** Which source submitted it, e.g. `http` or a configured source's name. */
  source: string;
  /** Target table. */
  table: string;
  /** Operation. */
  op: Batch["op"];
  /** Body format. */
  format: Batch["format"];
  /** Payload bytes. */
  bytes: number;
  /** Rows applied; 0 when rejected. */
  rows: number;
  /** 200-class on success, else the error status (500 for unexpected failures). */
  status: number;
  /** Milliseconds from submission to acknowledgement. */
  durationMs: number;
  /** Why it was rejected. */
  error?: string;
}

/** Options for {@linkcode BatchSink}. */
export interface SinkOptions {
  /** Create tables named by `update` batches when missing. @default true */
  autoCreate?: boolean;
  /** Limits (JSON depth). @default the shared `limits` object */
  limits?: IngestLimits;
  /** The batch log. @default a {@linkcode MemoryBatchLog} applying to `host` */
  log?: BatchLog;
  /** Called once per submission, accepted or not. Must not throw. */
  onEvent?: (event: IngestEvent) => void;
  /** Validation worker thresholds and deadlines. */
  validator?: ValidatorOptions;
}

/** Where sources submit batches. */
export interface Sink {
  /**
   * Validates and applies a batch.
   *
   * @param source Name of the submitting source, for events.
   * @throws {IngestError} when the batch is refused; nothing was changed.
   */
  submit(batch: Batch, source?: string): Promise<BatchResult>;
}

/** The service's sink. */
export class BatchSink implements Sink {
  readonly #host: EngineHost;
  readonly #applier: BatchApplier;
  readonly #log: BatchLog;
  readonly #limits: IngestLimits;
  readonly #onEvent?: (event: IngestEvent) => void;
  readonly #defs = new WeakMap<Table, Promise<TableDef>>();
  readonly #listeners = new Set<(event: IngestEvent) => void>();
  readonly #validator: Validator;
  /** Whether unknown tables are created from `update` batches. */
  autoCreate: boolean;
  /** The limits in force for this sink's sources. */
  readonly limits: IngestLimits;

  /** @param host The engine host the batches go to. */
  constructor(host: EngineHost, options: SinkOptions = {}) {
    this.#host = host;
    this.#applier = new BatchApplier(host);
    this.#log = options.log ?? new MemoryBatchLog((v) => this.#applier.stage(v));
    this.#limits = options.limits ?? sharedLimits;
    this.limits = this.#limits;
    this.#onEvent = options.onEvent;
    this.#validator = new Validator(options.validator);
    this.autoCreate = options.autoCreate ?? true;
  }

  /** Adds an event listener (metrics, logs); returns a function that removes it. */
  listen(fn: (event: IngestEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Validates and applies a batch; see {@linkcode Sink.submit}. */
  async submit(batch: Batch, source = "unknown"): Promise<BatchResult> {
    const started = performance.now();
    const size = batch.bytes.byteLength;
    const event = (status: number, rows: number, error?: string) =>
      this.#emit({
        source,
        table: batch.table,
        op: batch.op,
        format: batch.format,
        bytes: size,
        rows,
        status,
        durationMs: performance.now() - started,
        error,
      });
    try {
      checkTableName(batch.table);
      let result: BatchResult | undefined;
      for (let attempt = 1; result === undefined; attempt++) {
        const current = await this.#lookup(batch.table);
        const valid = await this.#validate(batch, current?.def);
        // The body went to the validation worker and back.
        batch = valid.batch;
        valid.target = current?.table;
        using _room = await admitBatch(this.#host.memory, valid);
        try {
          result = await this.#log.append(valid);
        } catch (err) {
          // The table was dropped or created meanwhile: validate against what is there now.
          if (!(err instanceof StaleBatchError)) throw err;
          if (attempt >= 3) throw new IngestError(409, `${err.message}; retry`);
        }
      }
      event(result.created ? 201 : 200, result.rows);
      return result;
    } catch (err) {
      const status = err instanceof IngestError ? err.status : 500;
      event(status, 0, err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  /** The definition of a table, or undefined when it does not exist. */
  async definition(name: string): Promise<TableDef | undefined> {
    return (await this.#lookup(name))?.def;
  }

  /** Stops the log and the applier's private engine. */
  async close(): Promise<void> {
    this.#validator.close();
    await this.#log.close();
    await this.#applier.close();
  }

  #validate(batch: Batch, def: TableDef | undefined): Promise<ValidBatch> {
    return this.#validator.validate(batch, def, {
      autoCreate: this.autoCreate,
      maxJsonDepth: this.#limits.maxJsonDepth,
    });
  }

  async #lookup(name: string): Promise<{ table: Table; def: TableDef } | undefined> {
    const table = await this.#host.table(name);
    if (!table) return undefined;
    let def = this.#defs.get(table);
    if (!def) {
      def = Promise.all([table.schema(), table.get_index(), table.get_limit()]).then((
        [schema, index, limit],
      ) => ({ schema, index: index ?? null, limit: limit ?? null }));
      this.#defs.set(table, def);
    }
    try {
      return { table, def: await def };
    } catch {
      // Dropped while being described.
      this.#defs.delete(table);
      return undefined;
    }
  }

  #emit(event: IngestEvent): void {
    for (const fn of [this.#onEvent, ...this.#listeners]) {
      try {
        fn?.(event);
      } catch {
        // A broken listener must not turn an applied batch into an error.
      }
    }
  }
}

/** Longest table name accepted. */
export const MAX_TABLE_NAME = 255;

/**
 * Checks a table name: 1 to 255 characters, no control characters.
 *
 * @throws {IngestError} 400 otherwise.
 */
export function checkTableName(name: string): void {
  // deno-lint-ignore no-control-regex
  if (name.length === 0 || name.length > MAX_TABLE_NAME || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new IngestError(
      400,
      `table names are 1 to ${MAX_TABLE_NAME} characters without control characters`,
    );
  }
}
