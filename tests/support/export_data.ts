/**
 * Tables of every column type for export tests, and readers for what
 * exports produce.
 *
 * @module
 */

import { MessageHeader, MessageReader, tableFromIPC } from "apache-arrow";

/** A table definition with a column of each type. */
export const TYPED_SCHEMA = {
  id: "integer",
  s: "string",
  f: "float",
  b: "boolean",
  d: "date",
  t: "datetime",
} as const;

const TEXTS = ["a", 'c,"q"', "line\nbreak", "", "ünï ✓", "x"];

/**
 * `n` rows of {@linkcode TYPED_SCHEMA}, deterministic, with nulls in every
 * column but `id`, and strings that need quoting in CSV and escaping in JSON.
 */
export function typedRows(n: number): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    rows.push({
      id: i,
      s: i % 7 === 3 ? null : `${TEXTS[i % TEXTS.length]}${i % 11}`,
      f: i % 5 === 1 ? null : i / 4 - 100,
      b: i % 6 === 2 ? null : i % 2 === 0,
      d: i % 9 === 4
        ? null
        : new Date(Date.UTC(2000, 0, 1 + (i % 3000))).toISOString().slice(0, 10),
      t: i % 8 === 5 ? null : new Date(Date.UTC(2020, 0, 1) + i * 61_001).toISOString(),
    });
  }
  return rows;
}

/** `rows` rows of an integer, a string and a float column, as columns. */
export function bigColumns(rows: number): Record<string, unknown[]> {
  const id = Array.from({ length: rows }, (_, i) => i);
  return { id, s: id.map((i) => `s${i % 977}`), f: id.map((i) => i / 8) };
}

/** Reads a whole body as bytes. */
export async function readAll(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** An Arrow IPC stream's rows as plain objects. */
export function arrowRows(bytes: Uint8Array): Record<string, unknown>[] {
  return tableFromIPC(bytes).toArray().map((row) => row.toJSON());
}

/** How many schema messages an Arrow IPC stream holds. */
export function schemaMessages(bytes: Uint8Array): number {
  const reader = new MessageReader(bytes);
  let schemas = 0;
  for (let m = reader.readMessage(); m; m = reader.readMessage()) {
    if (m.headerType === MessageHeader.Schema) schemas++;
    if (m.bodyLength > 0) reader.readMessageBody(m.bodyLength);
  }
  return schemas;
}

/** NDJSON text as parsed rows. */
export function ndjsonRows(text: string): unknown[] {
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}
