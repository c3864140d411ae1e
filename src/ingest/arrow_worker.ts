/**
 * Worker side of `arrow_scanner.ts`: decodes Arrow bodies off the main
 * thread, where a corrupt body that loops the decoder can be cut off.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { IngestError } from "./batch.ts";
import { scanArrow } from "./validate_arrow.ts";

self.onmessage = (event: MessageEvent<{ id: number; buffer: ArrayBuffer }>) => {
  const { id, buffer } = event.data;
  try {
    const scan = scanArrow(new Uint8Array(buffer));
    self.postMessage({ id, buffer, scan }, [buffer]);
  } catch (err) {
    const status = err instanceof IngestError ? err.status : 400;
    const detail = err instanceof Error ? err.message : String(err);
    self.postMessage({ id, buffer, error: { status, detail } }, [buffer]);
  }
};
