/**
 * Shared set-up for the WebSocket edit tests: reading a table back over
 * HTTP, the sink's edit events, raw protocol requests, and a seam that holds
 * the sink's submissions.
 *
 * @module
 */

import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import type { Service } from "../../src/service.ts";
import type { IngestEvent } from "../../src/ingest/sink.ts";
import type { Client } from "../../src/engine/perspective.ts";
import { fields, pushBytes, pushVarintField } from "../../src/protocol/wire.ts";
import { READER, withSecuredService, WRITER, wsUrl } from "./helpers.ts";

/** Three rows of an indexed table. */
export const ROWS = [{ id: 1, name: "a", x: 1.5 }, { id: 2, name: "b", x: 2.5 }, {
  id: 3,
  name: "c",
  x: 3.5,
}];

/** The table's rows as the HTTP API exports them. */
export async function apiRows(service: Service, table: string): Promise<unknown[]> {
  const res = await fetch(new URL(`api/tables/${table}/rows?format=json`, service.url), {
    headers: { authorization: `Bearer ${READER}` },
  });
  assert.equal(res.status, 200, await res.clone().text());
  return await res.json();
}

/** Rows sorted by `id`. */
export function byId(rows: unknown[]): unknown[] {
  return [...rows].sort((a, b) => (a as { id: number }).id - (b as { id: number }).id);
}

/** Records the sink's events from WebSocket edits. */
export function editEvents(service: Service): IngestEvent[] {
  const events: IngestEvent[] = [];
  service.sink.listen((e) => e.source === "websocket" && events.push(e));
  return events;
}

/** Runs `fn` with a service and a stock client holding the write token. */
export async function withWriter(
  fn: (service: Service, client: Client) => Promise<void>,
): Promise<void> {
  await withSecuredService({}, async (service) => {
    const client = await perspective.websocket(wsUrl(service, WRITER));
    try {
      await fn(service, client);
    } finally {
      await client.terminate();
    }
  });
}

/** Encodes a `Request` whose `client_req` member `kind` holds `body`. */
export function request(msgId: number, entityId: string, kind: number, body: number[]): Uint8Array {
  const out: number[] = [];
  pushVarintField(out, 1, msgId);
  pushBytes(out, 2, new TextEncoder().encode(entityId));
  pushBytes(out, kind, body);
  return new Uint8Array(out);
}

/** `TableUpdateReq { data: MakeTableData { <member>: bytes } }`. */
export function updateWith(member: number, bytes: Uint8Array): number[] {
  const data: number[] = [];
  pushBytes(data, member, bytes);
  const body: number[] = [];
  pushBytes(body, 1, data);
  return body;
}

/** The next message a socket receives. */
export function nextMessage(ws: WebSocket): Promise<Uint8Array> {
  return new Promise((resolve) => {
    ws.addEventListener("message", (e) => resolve(new Uint8Array(e.data)), { once: true });
  });
}

/** Sends a request and reads the answer's top-level fields by number. */
export async function answer(ws: WebSocket, bytes: Uint8Array): Promise<Map<number, Uint8Array>> {
  const reply = nextMessage(ws);
  ws.send(bytes);
  const out = new Map<number, Uint8Array>();
  for (const f of fields(await reply)) {
    out.set(f.no, f.bytes.length ? f.bytes : new Uint8Array([f.int]));
  }
  return out;
}

/** Holds every sink submission until released: a seam for a slow log. */
export function holdSink(service: Service): { hold(): void; release(): void } {
  let held: PromiseWithResolvers<void> | undefined;
  const submit = service.sink.submit.bind(service.sink);
  service.sink.submit = async (batch, source) => {
    await held?.promise;
    return await submit(batch, source);
  };
  return {
    hold: () => void (held = Promise.withResolvers()),
    release: () => held?.resolve(),
  };
}

/** Counts the messages a socket receives. */
export function counter(ws: WebSocket): { count: number } {
  const c = { count: 0 };
  ws.addEventListener("message", () => c.count++);
  return c;
}
