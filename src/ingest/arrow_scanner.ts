/**
 * Runs {@linkcode scanArrow} in a worker with a deadline. The Arrow decoder
 * can loop forever on some corrupt bodies; on the main thread that would
 * stall every request and session, so a body that takes too long is
 * refused and its worker replaced. Scanning off the main thread also lets
 * the next batch be checked while the engine applies the current one.
 *
 * @module
 */

import { IngestError } from "./batch.ts";
import type { ArrowScan } from "./validate_arrow.ts";

interface Job {
  bytes: Uint8Array;
  resolve: (value: { scan: ArrowScan; bytes: Uint8Array }) => void;
  reject: (err: unknown) => void;
}

interface Reply {
  id: number;
  buffer: ArrayBuffer;
  scan?: ArrowScan;
  error?: { status: number; detail: string };
}

/** Options for {@linkcode ArrowScanner}. */
export interface ArrowScannerOptions {
  /** Base time a body may take. @default 2000 ms */
  baseTimeoutMs?: number;
  /** Extra time per MiB of body. @default 200 ms */
  timeoutMsPerMiB?: number;
}

/** A worker that scans Arrow bodies one at a time. */
export class ArrowScanner {
  readonly #queue: Job[] = [];
  readonly #base: number;
  readonly #perMiB: number;
  #worker?: Worker;
  #busy = false;
  #ids = 0;
  #closed = false;

  /** @param options Deadlines. */
  constructor(options: ArrowScannerOptions = {}) {
    this.#base = options.baseTimeoutMs ?? 2000;
    this.#perMiB = options.timeoutMsPerMiB ?? 200;
  }

  /**
   * Scans a body. The bytes travel to the worker and back without copying;
   * use the returned `bytes`, not the argument, afterwards.
   *
   * @throws {IngestError} 400 for malformed or undecodable Arrow.
   */
  scan(bytes: Uint8Array): Promise<{ scan: ArrowScan; bytes: Uint8Array }> {
    if (this.#closed) return Promise.reject(new Error("arrow scanner is closed"));
    return new Promise((resolve, reject) => {
      this.#queue.push({ bytes, resolve, reject });
      this.#next();
    });
  }

  /** Stops the worker; pending scans reject. */
  close(): void {
    this.#closed = true;
    this.#worker?.terminate();
    this.#worker = undefined;
    for (const job of this.#queue.splice(0)) job.reject(new Error("arrow scanner is closed"));
  }

  #next(): void {
    if (this.#busy || this.#closed) return;
    const job = this.#queue.shift();
    if (!job) return;
    this.#busy = true;
    const worker = this.#worker ??= new Worker(new URL("./arrow_worker.ts", import.meta.url), {
      type: "module",
    });
    const id = ++this.#ids;
    // The worker takes ownership of an exact copy-free buffer.
    const exact = job.bytes.byteOffset === 0 && job.bytes.byteLength === job.bytes.buffer.byteLength
      ? job.bytes.buffer as ArrayBuffer
      : job.bytes.slice().buffer;
    const limit = this.#base + this.#perMiB * job.bytes.byteLength / (1024 * 1024);
    const finish = () => {
      clearTimeout(timer);
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
      this.#busy = false;
      queueMicrotask(() => this.#next());
    };
    const onMessage = (event: MessageEvent<Reply>) => {
      if (event.data.id !== id) return;
      finish();
      const bytes = new Uint8Array(event.data.buffer);
      if (event.data.error) {
        job.reject(new IngestError(event.data.error.status, event.data.error.detail));
      } else job.resolve({ scan: event.data.scan!, bytes });
    };
    const onError = (event: ErrorEvent) => {
      event.preventDefault();
      this.#replace(worker);
      finish();
      job.reject(new IngestError(400, `malformed Arrow IPC: ${event.message}`));
    };
    const timer = setTimeout(() => {
      this.#replace(worker);
      finish();
      job.reject(
        new IngestError(400, "malformed Arrow IPC: the body could not be decoded in time"),
      );
    }, limit);
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
    worker.postMessage({ id, buffer: exact }, [exact]);
  }

  #replace(worker: Worker): void {
    worker.terminate();
    if (this.#worker === worker) this.#worker = undefined;
  }
}
