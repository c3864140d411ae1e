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
import { type EngineBatch, StatusError } from "../engine/batch_types.ts";
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
import { type BatchLog, OrderedLog } from "../storage/log.ts";
import { sameDefinition } from "./table_def.ts";
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
  /** Applies batches to the host; shared with the log. @default a new one */
  applier?: BatchApplier;
  /** The batch log. @default a memory-only {@linkcode OrderedLog} applying to `host` */
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
  #log: BatchLog;
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
    this.#applier = options.applier ?? new BatchApplier(host);
    this.#log = options.log ?? new OrderedLog(host, this.#applier);
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
        using _room = await admitBatch(this.#host.memory, valid, current?.table);
        const engineBatch = toEngineBatch(valid);
        // A failed engine replace empties the table, so it is tried on a
        // private engine before it is logged.
        if (batch.op === "replace" && valid.def) {
          await this.#applier.rehearse(engineBatch, valid.def);
        }
        result = await this.#retryStale(attempt, async () => {
          const applied = await this.#log.append(
            { type: "batch", batch: engineBatch },
            () => this.#unchanged(batch.table, current?.table),
          );
          return { ...applied.result, ...(applied.position ? { position: applied.position } : {}) };
        });
      }
      event(result.created ? 201 : 200, result.rows);
      return result;
    } catch (err) {
      const status = err instanceof StatusError ? err.status : 500;
      event(status, 0, err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  /**
   * Creates a table through the log.
   *
   * @returns false when it exists with the same definition.
   * @throws {IngestError} 409 when it exists with another definition.
   */
  async createTable(name: string, def: TableDef): Promise<boolean> {
    checkTableName(name);
    for (let attempt = 1;; attempt++) {
      const current = await this.#lookup(name);
      if (current) {
        if (!sameDefinition(current.def, def)) {
          throw new IngestError(
            409,
            `table ${JSON.stringify(name)} exists with another definition`,
          );
        }
        return false;
      }
      const done = await this.#retryStale(attempt, async () => {
        await this.#log.append(
          { type: "create", table: name, def },
          () => this.#unchanged(name, undefined),
        );
        return true;
      });
      if (done) return true;
    }
  }

  /**
   * Drops a table through the log.
   *
   * @returns false when there is no such table.
   */
  async dropTable(name: string): Promise<boolean> {
    for (let attempt = 1;; attempt++) {
      const table = await this.#host.table(name);
      if (!table) return false;
      const done = await this.#retryStale(attempt, async () => {
        await this.#log.append({ type: "drop", table: name }, () => this.#unchanged(name, table));
        return true;
      });
      if (done) return true;
    }
  }

  /** Saves (or, with null, deletes) a setting through the log, e.g. a dashboard. */
  async setMeta(key: string, value: unknown): Promise<void> {
    await this.#log.append({ type: "meta", key, value });
  }

  /** A saved setting, or undefined. */
  meta(key: string): unknown {
    return this.#log.meta(key);
  }

  /** Keys of saved settings starting with `prefix`. */
  metaKeys(prefix: string): string[] {
    return this.#log.metaKeys(prefix);
  }

  /** Sends later changes to `log`: the durable one once recovery is done. */
  useLog(log: BatchLog): void {
    this.#log = log;
  }

  /** The log changes go through. */
  get log(): BatchLog {
    return this.#log;
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

  /** Refuses a change when the table is no longer the one it was checked against. */
  #unchanged(name: string, expected: Table | undefined): void {
    if (this.#host.peekTable(name) !== expected) throw new StaleBatchError(name);
  }

  /**
   * Runs `fn`; a stale table means "check again" (undefined) for the first
   * attempts and a 409 after that.
   */
  async #retryStale<T>(attempt: number, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      // The table was dropped or created meanwhile: check against what is there now.
      if (!(err instanceof StaleBatchError)) throw err;
      if (attempt >= 3) throw new IngestError(409, `${err.message}; retry`);
      return undefined;
    }
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

/** What the engine is asked to do with a validated batch; the form a log keeps. */
export function toEngineBatch(valid: ValidBatch): EngineBatch {
  const { batch } = valid;
  const data = batch.op === "remove"
    ? new TextEncoder().encode(JSON.stringify(valid.keys ?? []))
    : batch.op === "clear"
    ? new Uint8Array(0)
    : valid.payload ?? batch.bytes;
  return {
    table: batch.table,
    op: batch.op,
    format: valid.format,
    data,
    rows: valid.rows,
    ...(valid.create ? { create: valid.create } : {}),
  };
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
