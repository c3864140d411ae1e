/**
 * A handler with its own engine host and sink, for ingest tests that do not
 * need a socket.
 *
 * @module
 */

import assert from "node:assert/strict";
import { EngineHost } from "../../src/engine/host.ts";
import { createHandler, type Handler } from "../../src/server/handler.ts";
import { BatchSink, type SinkOptions } from "../../src/ingest/sink.ts";
import type { IngestEvent } from "../../src/ingest/sink.ts";
import { DEFAULT_LIMITS, Security, securityConfig } from "../../src/security/mod.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { columnsOf } from "./columns.ts";

/** What {@linkcode withApi} hands the test. */
export interface Api {
  /** The engine host. */
  host: EngineHost;
  /** The sink. */
  sink: BatchSink;
  /** Every ingest event so far. */
  events: IngestEvent[];
  /** The handler. */
  handler: Handler;
  /** Calls the handler for `path` below the root. */
  call(method: string, path: string, init?: RequestInit): Promise<Response>;
  /** `call` and parse the JSON body (problem bodies included). */
  // deno-lint-ignore no-explicit-any
  json(method: string, path: string, init?: RequestInit): Promise<{ status: number; body: any }>;
  /** All rows of a table as JSON columns, or undefined when it does not exist. */
  rows(table: string): Promise<Record<string, unknown[]> | undefined>;
}

/** Runs `fn` with a fresh host, sink and handler, and closes them afterwards. */
export async function withApi<T>(
  fn: (api: Api) => Promise<T>,
  options: SinkOptions = {},
): Promise<T> {
  const host = await EngineHost.create();
  const events: IngestEvent[] = [];
  const sink = new BatchSink(host, { ...options, onEvent: (e) => events.push(e) });
  // Open mode, with the per-client ingest rate limit out of the way of many quick requests.
  const security = new Security(
    securityConfig({
      limits: { ...DEFAULT_LIMITS, ingestRequestsPerSecond: 1e6, ingestBurst: 1e6 },
    }),
    silentLogger,
  );
  const handler = createHandler({ host, sink, security });
  const call = (method: string, path: string, init: RequestInit = {}) =>
    handler(new Request(`http://127.0.0.1${path}`, { method, ...init }));
  const api: Api = {
    host,
    sink,
    events,
    handler,
    call,
    async json(method, path, init) {
      const res = await call(method, path, init);
      const text = await res.text();
      return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
    },
    async rows(table) {
      const t = await host.table(table);
      return t && await columnsOf(host, t);
    },
  };
  try {
    return await fn(api);
  } finally {
    await sink.close();
    host.close();
  }
}

/** Request init for a body of `type`. */
export function body(
  type: string,
  data: BodyInit | Uint8Array,
  headers: Record<string, string> = {},
): RequestInit {
  return { body: data as BodyInit, headers: { "content-type": type, ...headers } };
}

/**
 * A write's acknowledgement without its log position, after checking that
 * the position is there: positions depend on how many changes came before.
 */
// deno-lint-ignore no-explicit-any
export function ack(body: any): Record<string, unknown> {
  const { position, ...rest } = body ?? {};
  assert.match(String(position), /^\d+(-\d+)?$/, `a log position in ${JSON.stringify(body)}`);
  return rest;
}
