/**
 * Runs batch validation in a worker with a deadline. The Arrow decoder can
 * loop forever on some corrupt bodies, and parsing a large JSON body takes
 * milliseconds; on the main thread either would stall every request and
 * session. Off it, the next batch is checked while the engine applies the
 * current one. Small text bodies are checked inline, where a round trip to
 * the worker would cost more than the check.
 *
 * @module
 */

import { type Batch, IngestError, type TableDef, type ValidBatch } from "./batch.ts";
import { validateBatch, type ValidateOptions } from "./validate.ts";

interface Job {
  batch: Batch;
  def?: TableDef;
  options: ValidateOptions;
  resolve: (valid: ValidBatch) => void;
  reject: (err: unknown) => void;
}

interface Reply {
  id: number;
  buffer: ArrayBuffer;
  valid?: Omit<ValidBatch, "batch">;
  error?: { status: number; detail: string };
}

/** Options for {@linkcode Validator}. */
export interface ValidatorOptions {
  /** Text bodies smaller than this are checked on the calling thread. @default 64 KiB */
  inlineBelowBytes?: number;
  /** Base time a body may take. @default 2000 ms */
  baseTimeoutMs?: number;
  /** Extra time per MiB of body. @default 200 ms */
  timeoutMsPerMiB?: number;
}

/** Validates batches, one at a time, in a worker. */
export class Validator {
  readonly #queue: Job[] = [];
  readonly #inlineBelow: number;
  readonly #base: number;
  readonly #perMiB: number;
  #worker?: { worker: Worker; ready: Promise<void> };
  #busy = false;
  #ids = 0;
  #closed = false;

  /** @param options Thresholds and deadlines. */
  constructor(options: ValidatorOptions = {}) {
    this.#inlineBelow = options.inlineBelowBytes ?? 64 * 1024;
    this.#base = options.baseTimeoutMs ?? 2000;
    this.#perMiB = options.timeoutMsPerMiB ?? 200;
  }

  /**
   * Validates a batch. The returned `valid.batch.bytes` may be a copy of
   * the argument's.
   *
   * @throws {IngestError} when the batch is refused.
   */
  validate(batch: Batch, def: TableDef | undefined, options: ValidateOptions): Promise<ValidBatch> {
    if (batch.format !== "arrow" && batch.bytes.byteLength < this.#inlineBelow) {
      try {
        return Promise.resolve(validateBatch(batch, def, options));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (this.#closed) return Promise.reject(new Error("validator is closed"));
    return new Promise((resolve, reject) => {
      this.#queue.push({ batch, def, options, resolve, reject });
      void this.#next();
    });
  }

  /** Stops the worker; pending validations reject. */
  close(): void {
    this.#closed = true;
    this.#worker?.worker.terminate();
    this.#worker = undefined;
    for (const job of this.#queue.splice(0)) job.reject(new Error("validator is closed"));
  }

  #spawn(): { worker: Worker; ready: Promise<void> } {
    const worker = new Worker(new URL("./validate_worker.ts", import.meta.url), { type: "module" });
    const ready = new Promise<void>((resolve, reject) => {
      const onReady = (event: MessageEvent) => {
        if (!event.data?.ready) return;
        worker.removeEventListener("message", onReady);
        worker.removeEventListener("error", onFail);
        resolve();
      };
      const onFail = (event: ErrorEvent) => {
        event.preventDefault();
        worker.removeEventListener("message", onReady);
        reject(new Error(`validation worker failed to start: ${event.message}`));
      };
      worker.addEventListener("message", onReady);
      worker.addEventListener("error", onFail);
    });
    return { worker, ready };
  }

  async #next(): Promise<void> {
    if (this.#busy || this.#closed) return;
    const job = this.#queue.shift();
    if (!job) return;
    this.#busy = true;
    const slot = this.#worker ??= this.#spawn();
    try {
      await slot.ready;
    } catch (err) {
      if (this.#worker === slot) this.#worker = undefined;
      slot.worker.terminate();
      this.#busy = false;
      job.reject(err);
      queueMicrotask(() => void this.#next());
      return;
    }
    if (this.#closed) return job.reject(new Error("validator is closed"));
    const worker = slot.worker;
    const id = ++this.#ids;
    const { bytes: given, ...rest } = job.batch;
    // The clone of a view copies its whole buffer: send a view that spans one.
    const whole = given.byteOffset === 0 && given.byteLength === given.buffer.byteLength;
    const bytes = whole ? given : given.slice();
    // A buffer the source handed over, or the copy just made, moves to the
    // worker; otherwise the source keeps its bytes (it may reuse them) and
    // the worker gets a copy. Either way the worker's buffer comes back.
    const transfer = job.batch.owned || !whole ? [bytes.buffer as ArrayBuffer] : [];
    const limit = this.#base + this.#perMiB * bytes.byteLength / (1024 * 1024);
    const finish = () => {
      clearTimeout(timer);
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
      this.#busy = false;
      queueMicrotask(() => void this.#next());
    };
    const onMessage = (event: MessageEvent<Reply>) => {
      if (event.data.id !== id) return;
      finish();
      const { valid, error } = event.data;
      if (error) return job.reject(new IngestError(error.status, error.detail));
      job.resolve({ ...valid!, batch: { ...job.batch, bytes: new Uint8Array(event.data.buffer) } });
    };
    const onError = (event: ErrorEvent) => {
      event.preventDefault();
      this.#replace(worker);
      finish();
      job.reject(new IngestError(400, `the body could not be decoded: ${event.message}`));
    };
    let armed = performance.now();
    const expire = () => {
      // A timer that fires late means the main thread was busy (a snapshot,
      // a long engine call), not that the body is slow to decode: the
      // worker's answer may be waiting, so the body gets its time again.
      // A body that loops the decoder meets a timer that fires on time.
      if (performance.now() - armed > limit * 1.5 + 50) {
        armed = performance.now();
        timer = setTimeout(expire, limit);
        return;
      }
      this.#replace(worker);
      finish();
      job.reject(new IngestError(400, "the body could not be decoded in time"));
    };
    let timer = setTimeout(expire, limit);
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
    try {
      worker.postMessage({ id, batch: rest, bytes, def: job.def, options: job.options }, transfer);
    } catch (err) {
      finish();
      job.reject(new IngestError(400, `the body could not be read: ${(err as Error).message}`));
    }
  }

  #replace(worker: Worker): void {
    worker.terminate();
    if (this.#worker?.worker === worker) this.#worker = undefined;
  }
}
