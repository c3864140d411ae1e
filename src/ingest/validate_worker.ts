/**
 * Worker side of `validator.ts`: runs {@linkcode validateBatch} off the main
 * thread, where a corrupt body that loops a decoder can be cut off and a
 * large JSON parse does not stall sessions.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import type { Batch, TableDef } from "./batch.ts";
import { IngestError } from "./batch.ts";
import { validateBatch, type ValidateOptions } from "./validate.ts";

interface Request {
  id: number;
  batch: Omit<Batch, "bytes">;
  bytes: Uint8Array;
  def?: TableDef;
  options: ValidateOptions;
}

self.onmessage = (event: MessageEvent<Request>) => {
  const { id, batch, bytes, def, options } = event.data;
  const buffer = bytes.buffer as ArrayBuffer;
  try {
    const { batch: _, ...valid } = validateBatch({ ...batch, bytes }, def, options);
    const transfer = valid.payload ? [buffer, valid.payload.buffer as ArrayBuffer] : [buffer];
    self.postMessage({ id, buffer, valid }, transfer);
  } catch (err) {
    const status = err instanceof IngestError ? err.status : 400;
    const detail = err instanceof Error ? err.message : String(err);
    self.postMessage({ id, buffer, error: { status, detail } }, [buffer]);
  }
};

// Deadlines start once the worker has loaded, not while it compiles.
self.postMessage({ ready: true });
