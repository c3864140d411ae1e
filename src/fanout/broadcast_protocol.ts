/**
 * The broadcast wire protocol, served at `GET /websocket/broadcast/{table}`.
 *
 * 1. The server sends one text frame, a JSON {@linkcode BroadcastHello}: the
 *    table's schema, index and limit, so the subscriber builds a local table
 *    that behaves like the server's (upserts on the index, rolls over at the
 *    limit).
 * 2. Then binary frames, each one kind byte followed by an Arrow IPC stream:
 *    - {@linkcode FRAME_SNAPSHOT}: replace the local table's rows with these;
 *    - {@linkcode FRAME_DELTA}: update the local table with these rows.
 *    The first binary frame is always a snapshot. A snapshot also follows any
 *    change a row delta cannot express (remove, clear, replace).
 * 3. The server closes with {@linkcode CLOSE_TABLE_DELETED} when the table is
 *    dropped, and with the outbound queue's slow-consumer code when the
 *    subscriber falls behind; reconnecting starts again at step 1.
 *
 * Subscribers send nothing. Every subscriber of a table receives the same
 * bytes: the delta is computed once per poll, not once per viewer.
 *
 * @module
 */

import type { Schema } from "../engine/perspective.ts";

/** Binary frame kind: the rows that follow replace the subscriber's table. */
export const FRAME_SNAPSHOT = 1;
/** Binary frame kind: the rows that follow update the subscriber's table. */
export const FRAME_DELTA = 2;
/** Close code when the table is dropped while subscribed. */
export const CLOSE_TABLE_DELETED = 4004;

/** The first frame of a broadcast subscription. */
export interface BroadcastHello {
  /** Always `"hello"`. */
  type: "hello";
  /** Protocol version. */
  version: 1;
  /** Table name. */
  table: string;
  /** Column name to type. */
  schema: Schema;
  /** Index column, or null for an append-only table. */
  index: string | null;
  /** Row limit, or null when unbounded. */
  limit: number | null;
}

/** Builds a binary frame: the kind byte, then the Arrow bytes. */
export function encodeFrame(kind: number, arrow: Uint8Array | ArrayBuffer): Uint8Array {
  const body = arrow instanceof Uint8Array ? arrow : new Uint8Array(arrow);
  const frame = new Uint8Array(body.byteLength + 1);
  frame[0] = kind;
  frame.set(body, 1);
  return frame;
}

/** Splits a binary frame into its kind and its Arrow bytes (an ArrayBuffer copy). */
export function decodeFrame(frame: Uint8Array): { kind: number; arrow: ArrayBuffer } {
  return { kind: frame[0], arrow: frame.slice(1).buffer };
}

/** The table operations a subscriber needs. */
export interface ReplicaTable {
  /** Replaces every row. */
  replace(data: ArrayBuffer): Promise<unknown>;
  /** Upserts or appends rows. */
  update(data: ArrayBuffer): Promise<unknown>;
}

/**
 * Applies one binary frame to a subscriber's table.
 *
 * @throws {Error} for an unknown frame kind.
 */
export async function applyFrame(table: ReplicaTable, frame: Uint8Array): Promise<number> {
  const { kind, arrow } = decodeFrame(frame);
  if (kind === FRAME_SNAPSHOT) await table.replace(arrow);
  else if (kind === FRAME_DELTA) await table.update(arrow);
  else throw new Error(`unknown broadcast frame kind ${kind}`);
  return kind;
}
