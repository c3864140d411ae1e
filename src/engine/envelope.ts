/**
 * Just enough protobuf to read and rewrite the envelope of a Perspective
 * `Request` or `Response`: `msg_id` (field 1), `entity_id` (field 2) and the
 * one `client_req` / `client_resp` member, whose field number is its kind.
 *
 * @module
 */

import {
  fields,
  pushBytes,
  pushVarint,
  pushVarintField,
  WIRE_LEN,
  WIRE_VARINT,
} from "../protocol/wire.ts";

/** A request or response envelope. */
export interface Envelope {
  /** `msg_id`. */
  msgId: number;
  /** `entity_id`: a table name, a view id, or empty. */
  entityId: string;
  /** Field number of the member, 0 when there is none. */
  kind: number;
  /** The member's bytes. */
  body: Uint8Array;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** Reads an envelope. */
export function decodeEnvelope(buf: Uint8Array): Envelope {
  const env: Envelope = { msgId: 0, entityId: "", kind: 0, body: EMPTY };
  for (const f of fields(buf)) {
    if (f.no === 1 && f.wire === WIRE_VARINT) env.msgId = f.int;
    else if (f.no === 2 && f.wire === WIRE_LEN) env.entityId = decoder.decode(f.bytes);
    else if (f.wire === WIRE_LEN) {
      env.kind = f.no;
      env.body = f.bytes;
    }
  }
  return env;
}

/**
 * The member's field number (its kind), read without decoding the rest:
 * 0 when there is none or the bytes are not an envelope.
 */
export function envelopeKind(buf: Uint8Array): number {
  try {
    for (const f of fields(buf)) {
      if (f.no !== 2 && f.wire === WIRE_LEN) return f.no;
    }
  } catch {
    // Not an envelope: it has no kind.
  }
  return 0;
}

/**
 * Writes an envelope. The body is copied in one block: an answer may carry
 * megabytes (a view's Arrow), which byte by byte would hold up the thread.
 */
export function encodeEnvelope(env: Envelope): Uint8Array {
  return encodeEnvelopeParts(env, env.kind === 0 ? [] : [env.body]);
}

/**
 * Writes an envelope whose member is the bytes of `parts` in order, each
 * copied once into the one buffer.
 */
export function encodeEnvelopeParts(
  env: Omit<Envelope, "body">,
  parts: readonly Uint8Array[],
): Uint8Array {
  const head: number[] = [];
  pushVarintField(head, 1, env.msgId);
  if (env.entityId !== "") pushBytes(head, 2, encoder.encode(env.entityId));
  if (env.kind === 0) return new Uint8Array(head);
  let length = 0;
  for (const p of parts) length += p.byteLength;
  pushVarint(head, (env.kind << 3) | WIRE_LEN);
  pushVarint(head, length);
  const out = new Uint8Array(head.length + length);
  out.set(head);
  let at = head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Encodes a message of one string field. */
export function stringMessage(no: number, value: string): Uint8Array {
  const out: number[] = [];
  pushBytes(out, no, encoder.encode(value));
  return new Uint8Array(out);
}

/** Reads a string field of a message (the last one wins), or undefined. */
export function readString(buf: Uint8Array, no: number): string | undefined {
  let out: string | undefined;
  for (const f of fields(buf)) {
    if (f.no === no && f.wire === WIRE_LEN) out = decoder.decode(f.bytes);
  }
  return out;
}

/** The bytes of a message's fields other than `skip`, for comparing configurations. */
export function withoutField(buf: Uint8Array, skip: number): string {
  const parts: string[] = [];
  for (const f of fields(buf)) {
    if (f.no === skip) continue;
    parts.push(`${f.no}:${f.wire}:${f.int}:${Array.from(f.bytes).join(",")}`);
  }
  return parts.join("|");
}

/** A copy of a message with string field `no` set to `value` (other fields kept, in order). */
export function replaceString(buf: Uint8Array, no: number, value: string): Uint8Array {
  const out: number[] = [];
  pushBytes(out, no, encoder.encode(value));
  for (const f of fields(buf)) {
    if (f.no === no) continue;
    if (f.wire === WIRE_VARINT) pushVarintField(out, f.no, f.int);
    else if (f.wire === WIRE_LEN) pushBytes(out, f.no, f.bytes);
    else throw new Error("fixed-width fields are not copied");
  }
  return new Uint8Array(out);
}

/** The first varint field `no` of a message, or undefined. */
export function readVarint(buf: Uint8Array, no: number): number | undefined {
  for (const f of fields(buf)) if (f.no === no && f.wire === WIRE_VARINT) return f.int;
  return undefined;
}
