/**
 * Just enough protobuf to read and rewrite the envelope of a Perspective
 * `Request` or `Response`: `msg_id` (field 1), `entity_id` (field 2) and the
 * one `client_req` / `client_resp` member, whose field number is its kind.
 *
 * @module
 */

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

/** Top-level fields of a message: number, wire type, varint value or bytes. */
export function* fields(
  buf: Uint8Array,
): Generator<{ no: number; wire: number; int: number; bytes: Uint8Array }> {
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new Error("truncated varint");
      const b = buf[pos++];
      if (i < 5) value = (value + (b & 0x7f) * scale) % 0x1_0000_0000;
      scale *= 128;
      if ((b & 0x80) === 0) return value;
    }
    throw new Error("varint too long");
  };
  while (pos < buf.length) {
    const key = varint();
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) yield { no, wire, int: varint(), bytes: EMPTY };
    else if (wire === 2) {
      const len = varint();
      if (len > buf.length - pos) throw new Error("truncated field");
      yield { no, wire, int: 0, bytes: buf.subarray(pos, pos + len) };
      pos += len;
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
      yield { no, wire, int: 0, bytes: EMPTY };
    } else throw new Error(`unsupported wire type ${wire}`);
  }
}

/** Reads an envelope. */
export function decodeEnvelope(buf: Uint8Array): Envelope {
  const env: Envelope = { msgId: 0, entityId: "", kind: 0, body: EMPTY };
  for (const f of fields(buf)) {
    if (f.no === 1 && f.wire === 0) env.msgId = f.int;
    else if (f.no === 2 && f.wire === 2) env.entityId = decoder.decode(f.bytes);
    else if (f.wire === 2) {
      env.kind = f.no;
      env.body = f.bytes;
    }
  }
  return env;
}

function pushVarint(out: number[], n: number): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

function pushBytes(out: number[], no: number, bytes: Uint8Array): void {
  pushVarint(out, (no << 3) | 2);
  pushVarint(out, bytes.length);
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i]);
}

/** Writes an envelope. */
export function encodeEnvelope(env: Envelope): Uint8Array {
  const out: number[] = [];
  pushVarint(out, 1 << 3);
  pushVarint(out, env.msgId);
  if (env.entityId !== "") pushBytes(out, 2, encoder.encode(env.entityId));
  if (env.kind !== 0) pushBytes(out, env.kind, env.body);
  return new Uint8Array(out);
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
  for (const f of fields(buf)) if (f.no === no && f.wire === 2) out = decoder.decode(f.bytes);
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
    if (f.wire === 0) {
      pushVarint(out, f.no << 3);
      pushVarint(out, f.int);
    } else if (f.wire === 2) pushBytes(out, f.no, f.bytes);
    else throw new Error("fixed-width fields are not copied");
  }
  return new Uint8Array(out);
}

/** The first varint field `no` of a message, or undefined. */
export function readVarint(buf: Uint8Array, no: number): number | undefined {
  for (const f of fields(buf)) if (f.no === no && f.wire === 0) return f.int;
  return undefined;
}
