/**
 * Just enough protobuf to read the envelope of a Perspective `Request` and to
 * write a `Response` carrying a `ServerError`. Field numbers follow
 * `perspective.proto` in the Perspective repository (checked against the
 * wire bytes of `@finos/perspective` 3.8.0).
 *
 * @module
 */

import {
  fields,
  ProtocolError,
  pushBytes,
  pushVarintField,
  WIRE_LEN,
  WIRE_VARINT,
} from "../protocol/wire.ts";
import { SERVER_ERROR } from "../protocol/messages.ts";

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

const strict = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

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

/** Encodes `Response {msg_id, entity_id, <field>: body}`. */
export function encodeResponse(
  msgId: number,
  entityId: string,
  field: number,
  body: Uint8Array,
): Uint8Array {
  const out: number[] = [];
  pushVarintField(out, 1, msgId);
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

/**
 * Encodes `Response {msg_id, entity_id, server_error: {message}}`, which the
 * stock client turns into a rejected promise for that one call.
 */
export function encodeServerError(msgId: number, entityId: string, message: string): Uint8Array {
  const error: number[] = [];
  pushBytes(error, 1, encoder.encode(message));
  const out: number[] = [];
  pushVarintField(out, 1, msgId);
  if (entityId !== "") pushBytes(out, 2, encoder.encode(entityId));
  pushBytes(out, SERVER_ERROR, error);
  return new Uint8Array(out);
}
