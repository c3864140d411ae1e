/**
 * Just enough protobuf to read the envelope of a Perspective `Request` and to
 * write a `Response` carrying a `ServerError`. Field numbers follow
 * `perspective.proto` in the Perspective repository (checked against the
 * wire bytes of `@finos/perspective` 3.8.0).
 *
 * @module
 */

/** Thrown for bytes that are not a well-formed `Request`. */
export class ProtocolError extends Error {
  /** @param detail What is malformed. */
  constructor(detail: string) {
    super(detail);
    this.name = "ProtocolError";
  }
}

/** The envelope of one request. */
export interface RequestEnvelope {
  /** `Request.msg_id`: the client matches the response by it. */
  msgId: number;
  /** `Request.entity_id`: a table name, a view id, or empty. */
  entityId: string;
  /** Field number of the `client_req` oneof member, or 0 when there is none. */
  kind: number;
  /** The member's bytes. */
  body: Uint8Array;
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const strict = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** One decoded field: its number and either a varint or a byte range. */
export interface Field {
  /** Field number. */
  no: number;
  /** Wire type. */
  wire: number;
  /** Value of a varint field, truncated to 32 bits like a `uint32`. */
  int: number;
  /** Payload of a length-delimited field. */
  bytes: Uint8Array;
}

/**
 * Iterates the top-level fields of a protobuf message.
 *
 * @throws {ProtocolError} for truncated data or groups.
 */
export function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new ProtocolError("truncated varint");
      const b = buf[pos++];
      // Keep only the low 32 bits, as a uint32 decoder does.
      if (i < 5) value = (value + (b & 0x7f) * scale) % 0x1_0000_0000;
      scale *= 128;
      if ((b & 0x80) === 0) return value;
    }
    throw new ProtocolError("varint longer than 10 bytes");
  };
  while (pos < buf.length) {
    const key = varint();
    const no = key >>> 3;
    const wire = key & 7;
    if (no === 0) throw new ProtocolError("field number 0");
    if (wire === WIRE_VARINT) {
      yield { no, wire, int: varint(), bytes: EMPTY };
    } else if (wire === WIRE_LEN) {
      const len = varint();
      if (len > buf.length - pos) throw new ProtocolError("truncated field");
      yield { no, wire, int: 0, bytes: buf.subarray(pos, pos + len) };
      pos += len;
    } else if (wire === WIRE_I64 || wire === WIRE_I32) {
      const len = wire === WIRE_I64 ? 8 : 4;
      if (len > buf.length - pos) throw new ProtocolError("truncated fixed field");
      pos += len;
      yield { no, wire, int: 0, bytes: EMPTY };
    } else {
      throw new ProtocolError(`unsupported wire type ${wire}`);
    }
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Reads a `Request` envelope. Mirrors the engine's decoder where it matters
 * for security: the last `msg_id`/`entity_id` wins, and a request naming more
 * than one `client_req` member is refused outright rather than guessed at.
 *
 * @throws {ProtocolError} for anything malformed or ambiguous.
 */
export function decodeRequest(buf: Uint8Array): RequestEnvelope {
  let msgId = 0;
  let entityId = "";
  let kind = 0;
  let body: Uint8Array = EMPTY;
  for (const f of fields(buf)) {
    if (f.no === 1) {
      if (f.wire !== WIRE_VARINT) throw new ProtocolError("msg_id is not a varint");
      msgId = f.int;
    } else if (f.no === 2) {
      if (f.wire !== WIRE_LEN) throw new ProtocolError("entity_id is not a string");
      entityId = utf8(f.bytes, "entity_id");
    } else {
      if (f.wire !== WIRE_LEN) throw new ProtocolError(`field ${f.no} is not a message`);
      if (kind !== 0) throw new ProtocolError("more than one client_req member");
      kind = f.no;
      body = f.bytes;
    }
  }
  return { msgId, entityId, kind, body };
}

/** Reads a string field from a message, or undefined when absent (last one wins). */
export function stringField(buf: Uint8Array, no: number): string | undefined {
  let out: string | undefined;
  for (const f of fields(buf)) {
    if (f.no === no && f.wire === WIRE_LEN) out = utf8(f.bytes, `field ${no}`);
  }
  return out;
}

function utf8(bytes: Uint8Array, what: string): string {
  try {
    return strict.decode(bytes);
  } catch {
    throw new ProtocolError(`${what} is not valid UTF-8`);
  }
}

function pushVarint(out: number[], n: number): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

function pushBytes(out: number[], no: number, bytes: Uint8Array | number[]): void {
  pushVarint(out, (no << 3) | WIRE_LEN);
  pushVarint(out, bytes.length);
  for (const b of bytes) out.push(b);
}

/** Encodes `Response {msg_id, entity_id, <field>: body}`. */
export function encodeResponse(
  msgId: number,
  entityId: string,
  field: number,
  body: Uint8Array,
): Uint8Array {
  const out: number[] = [];
  pushVarint(out, (1 << 3) | WIRE_VARINT);
  pushVarint(out, msgId);
  if (entityId !== "") pushBytes(out, 2, encoder.encode(entityId));
  pushBytes(out, field, body);
  return new Uint8Array(out);
}

/** Encodes a list of length-delimited entries under one field number. */
export function encodeRepeated(field: number, entries: readonly Uint8Array[]): Uint8Array {
  const out: number[] = [];
  for (const e of entries) pushBytes(out, field, e);
  return new Uint8Array(out);
}

/** `Response.server_error`, per `perspective.proto`. */
export const SERVER_ERROR_FIELD = 50;

/**
 * Encodes `Response {msg_id, entity_id, server_error: {message}}`, which the
 * stock client turns into a rejected promise for that one call.
 */
export function encodeServerError(msgId: number, entityId: string, message: string): Uint8Array {
  const error: number[] = [];
  pushBytes(error, 1, encoder.encode(message));
  const out: number[] = [];
  pushVarint(out, (1 << 3) | WIRE_VARINT);
  pushVarint(out, msgId);
  if (entityId !== "") pushBytes(out, 2, encoder.encode(entityId));
  pushBytes(out, SERVER_ERROR_FIELD, error);
  return new Uint8Array(out);
}
