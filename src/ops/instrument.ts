/**
 * Feeds the HTTP and ingest metrics from the requests themselves, so every
 * ingest route is counted the same way whichever module serves it.
 *
 * @module
 */

import type { Handler } from "../server/handler.ts";
import { ingestFormat, type ServiceMetrics } from "./service_metrics.ts";

/** The ingest path below the base path: `POST|PUT|DELETE /api/tables/{table}/rows`. */
const INGEST_PATH = /^\/api\/tables\/[^/]+\/rows\/?$/;
const INGEST_METHODS = new Set(["POST", "PUT", "DELETE"]);

/**
 * Wraps a handler to record each request's method, status and time to
 * headers, and for ingest requests their format, status, body bytes, rows
 * (from the `{rows}` the route answers with) and latency.
 *
 * @param basePath Stripped before matching the ingest path. @default ""
 */
export function withMetrics(handler: Handler, metrics: ServiceMetrics, basePath = ""): Handler {
  return async (req, info) => {
    const t0 = performance.now();
    const path = new URL(req.url).pathname.slice(basePath.length);
    const ingest = INGEST_METHODS.has(req.method) && INGEST_PATH.test(path);
    let counted: { bytes: number } | undefined;
    if (ingest) {
      metrics.markBatch();
      if (req.body) {
        counted = { bytes: 0 };
        req = countedRequest(req, counted);
      }
    }
    metrics.inflight(1);
    let res: Response;
    try {
      res = await handler(req, info);
    } catch (err) {
      metrics.inflight(-1);
      throw err;
    }
    metrics.inflight(-1);
    const seconds = (performance.now() - t0) / 1000;
    metrics.observeHttp(req.method, res.status, seconds);
    if (ingest) {
      metrics.observeIngest({
        format: ingestFormat(req.body ? req.headers.get("content-type") : null),
        status: res.status,
        bytes: counted?.bytes ?? 0,
        rows: res.ok ? await rowsOf(res) : 0,
        seconds,
      });
    }
    return res;
  };
}

/** A copy of `req` whose body adds each chunk's size to `counter.bytes` as it is read. */
function countedRequest(req: Request, counter: { bytes: number }): Request {
  const body = req.body!.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        counter.bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    }),
  );
  return new Request(req, { body, duplex: "half" } as RequestInit);
}

/** The `rows` count of an ingest route's JSON answer, or 0. */
async function rowsOf(res: Response): Promise<number> {
  if (!res.headers.get("content-type")?.includes("json")) return 0;
  try {
    const body = await res.clone().json();
    const rows = Number(body?.rows);
    return Number.isFinite(rows) && rows > 0 ? rows : 0;
  } catch {
    return 0;
  }
}
