/**
 * One JSON log line per HTTP request: method, path, status, duration and
 * bytes. The query string is never logged, since it may carry a token.
 *
 * @module
 */

import type { Logger } from "./log.ts";
import type { Handler } from "./http.ts";

/** Options for {@linkcode withRequestLog}. */
export interface RequestLogOptions {
  /**
   * Paths (below any base path, exact match) logged at `debug` rather than
   * `info`, so probes and scrapes do not flood the log.
   * @default ["/healthz", "/readyz", "/metrics"]
   */
  quietPaths?: readonly string[];
  /** The service's base path, stripped before matching `quietPaths`. @default "" */
  basePath?: string;
}

/** What one request line carries besides time, level and message. */
export interface RequestLine {
  /** HTTP method. */
  method: string;
  /** URL path without the query string. */
  path: string;
  /** Response status. */
  status: number;
  /** Milliseconds from the request to the end of the response body. */
  duration_ms: number;
  /** Response body bytes sent. */
  bytes: number;
}

/**
 * Wraps a handler so each request produces one `request` log line once its
 * response body has been sent (or abandoned by the client).
 */
export function withRequestLog(
  handler: Handler,
  log: Logger,
  options: RequestLogOptions = {},
): Handler {
  const base = options.basePath ?? "";
  const quiet = new Set(
    (options.quietPaths ?? ["/healthz", "/readyz", "/metrics"]).map((p) => base + p),
  );
  return async (req, info) => {
    const t0 = performance.now();
    const path = new URL(req.url).pathname;
    const res = await handler(req, info);
    const write = (bytes: number) => {
      const line: RequestLine = {
        method: req.method,
        path,
        status: res.status,
        duration_ms: Math.round((performance.now() - t0) * 100) / 100,
        bytes,
      };
      if (quiet.has(path) && res.status < 400) log.debug("request", { ...line });
      else log.info("request", { ...line });
    };
    const length = res.headers.get("content-length");
    // An upgrade response must be returned as is, and a body of known size needs no counting.
    if (req.method === "HEAD" || res.status === 101 || res.body === null) {
      write(0);
      return res;
    }
    if (length !== null) {
      write(Number(length));
      return res;
    }
    return new Response(countBytes(res.body, write), {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  };
}

/** Passes a body through, calling `done(bytes)` once when it ends, fails or is cancelled. */
function countBytes(
  body: ReadableStream<Uint8Array>,
  done: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  let bytes = 0;
  let finished = false;
  const finish = () => {
    if (!finished) {
      finished = true;
      done(bytes);
    }
  };
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: end, value } = await reader.read();
        if (end) {
          finish();
          controller.close();
          return;
        }
        bytes += value.byteLength;
        controller.enqueue(value);
      } catch (err) {
        finish();
        controller.error(err);
      }
    },
    async cancel(reason) {
      finish();
      await reader.cancel(reason);
    },
    // Reads ahead of the socket by nothing: a streamed body (an export) is
    // produced as the client takes it.
  }, { highWaterMark: 0 });
}
