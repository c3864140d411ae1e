/**
 * Size and shape limits for ingest, in one mutable object so the security
 * layer and the config file can set them.
 *
 * @module
 */

/** Ingest limits. */
export interface IngestLimits {
  /** Bytes of request body read before a 413. @default 16 MiB */
  maxBodyBytes: number;
  /**
   * Bytes after `Content-Encoding` is undone, before a 413. JSON costs about
   * 35 times its size in memory while it is validated, so this bounds memory
   * per request. @default 32 MiB
   */
  maxDecodedBytes: number;
  /** Nesting depth of a JSON document before a 400. @default 32 */
  maxJsonDepth: number;
}

/** The defaults, for reference and for resetting. */
export const DEFAULT_INGEST_LIMITS: Readonly<IngestLimits> = Object.freeze({
  maxBodyBytes: 16 * 1024 * 1024,
  maxDecodedBytes: 32 * 1024 * 1024,
  maxJsonDepth: 32,
});

/**
 * The process-wide defaults. Routes and sinks built without their own
 * limits read this object on every request; `startService` copies it (with
 * the config file's `limits` on top) when it starts, so set fields before
 * starting the service.
 */
export const limits: IngestLimits = { ...DEFAULT_INGEST_LIMITS };
