/**
 * The protobuf wire format, as far as the service needs it to read and write
 * Perspective protocol envelopes: top-level field iteration and the two
 * writers for varint and length-delimited fields.
 *
 * @module
 */

/** Thrown for bytes that are not well-formed protobuf. */
export class ProtocolError extends Error {
  /** @param detail What is malformed. */
  constructor(detail: string) {
    super(detail);
    this.name = "ProtocolError";
  }
}

/** Wire type of a varint field. */
export const WIRE_VARINT = 0;
/** Wire type of a 64-bit fixed field. */
export const WIRE_I64 = 1;
/** Wire type of a length-delimited field (strings, bytes, messages). */
export const WIRE_LEN = 2;
/** Wire type of a 32-bit fixed field. */
export const WIRE_I32 = 5;

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

const EMPTY = new Uint8Array(0);

/**
 * Iterates the top-level fields of a protobuf message.
 *
 * @throws {ProtocolError} for truncated data, field number 0 or groups.
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

/** Appends a base-128 varint. */
export function pushVarint(out: number[], n: number): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

/** Appends a varint field. */
export function pushVarintField(out: number[], no: number, value: number): void {
  pushVarint(out, (no << 3) | WIRE_VARINT);
  pushVarint(out, value);
}

/** Appends a length-delimited field. */
export function pushBytes(out: number[], no: number, bytes: Uint8Array | readonly number[]): void {
  pushVarint(out, (no << 3) | WIRE_LEN);
  pushVarint(out, bytes.length);
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i]);
}
