/**
 * Joins windows of one view's Arrow output into one Arrow IPC stream.
 *
 * The engine answers each `to_arrow({start_row, end_row})` with a whole IPC
 * stream of its own: a schema, a dictionary batch per string column, the
 * record batch and an end-of-stream marker. Its string columns are
 * dictionary-encoded with a dictionary per window, so the windows cannot be
 * concatenated as they are. {@linkcode ArrowStreamJoiner} re-encodes each
 * window with plain Utf8 string columns, writes the schema once, then each
 * window's record batches, then one end-of-stream marker: a stream that
 * needs no dictionary bookkeeping from its reader.
 *
 * @module
 */

import {
  type Data,
  DataType,
  type Dictionary,
  Field,
  makeData,
  RecordBatch,
  RecordBatchReader,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Utf8,
} from "apache-arrow";

/** The IPC stream's end-of-stream marker: a continuation and a zero length. */
const EOS = new Uint8Array(Int32Array.of(-1, 0).buffer);

/**
 * Re-encodes windows of one view's `to_arrow` output into one IPC stream,
 * window by window, so that only one window is held at a time.
 */
export class ArrowStreamJoiner {
  #schema: Schema | undefined;
  #signature = "";

  /** Whether a window has been pushed, so the schema is out. */
  get started(): boolean {
    return this.#schema !== undefined;
  }

  /**
   * The bytes one window adds to the stream: with the first window the
   * schema, then the window's record batches.
   *
   * @param window One `to_arrow` answer: a whole IPC stream.
   * @throws {Error} for a window whose columns differ from the first one's,
   *   or with a dictionary of other values than strings.
   */
  push(window: Uint8Array): Uint8Array {
    const reader = RecordBatchReader.from(window).open();
    // The reader forgets its schema once it has read the last batch.
    const schema = plainSchema(reader.schema);
    const batches = [...reader];
    const signature = schema.fields.map((f) => `${f.name}:${f.type}`).join("\u0000");
    const first = this.#schema === undefined;
    if (first) {
      this.#schema = schema;
      this.#signature = signature;
    } else if (signature !== this.#signature) {
      throw new Error("an Arrow window's columns differ from the first window's");
    }
    const writer = new RecordBatchStreamWriter();
    // Writes the schema at once, so that a window without batches still has one.
    writer.reset(undefined, this.#schema);
    for (const batch of batches) writer.write(plainBatch(this.#schema!, batch));
    const bytes = writer.toUint8Array(true);
    return first ? bytes : bytes.subarray(schemaMessageLength(bytes));
  }

  /**
   * The end-of-stream marker, after the last window.
   *
   * @throws {Error} when no window was pushed: the stream would have no schema.
   */
  end(): Uint8Array {
    if (!this.#schema) throw new Error("an Arrow stream needs at least one window");
    return EOS.slice();
  }
}

/**
 * Joins whole `to_arrow` answers of one view, in row order, into one IPC
 * stream.
 */
export function joinArrowWindows(windows: Iterable<Uint8Array>): Uint8Array {
  const joiner = new ArrowStreamJoiner();
  const parts: Uint8Array[] = [];
  for (const window of windows) parts.push(joiner.push(window));
  parts.push(joiner.end());
  return concatBytes(parts);
}

/** One buffer holding `parts` in order. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.byteLength;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Bytes of the stream's first message, the schema: it has no body. */
function schemaMessageLength(stream: Uint8Array): number {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  if (view.getInt32(0, true) !== -1) throw new Error("an Arrow stream without a continuation");
  return 8 + view.getInt32(4, true);
}

/** `schema` with each dictionary of strings as a plain Utf8 column. */
function plainSchema(schema: Schema): Schema {
  const fields = schema.fields.map((f) => {
    if (!DataType.isDictionary(f.type)) return f;
    if (!DataType.isUtf8(f.type.dictionary)) {
      throw new Error(`column ${JSON.stringify(f.name)} is a dictionary of ${f.type.dictionary}`);
    }
    return new Field(f.name, new Utf8(), f.nullable, f.metadata);
  });
  return new Schema(fields, schema.metadata);
}

/** `batch` under `schema`, its dictionary columns decoded to plain strings. */
function plainBatch(schema: Schema, batch: RecordBatch): RecordBatch {
  const children = batch.data.children.map((child) =>
    DataType.isDictionary(child.type) ? plainUtf8(child as Data<Dictionary>) : child
  );
  const data = makeData({
    type: new Struct(schema.fields),
    length: batch.numRows,
    nullCount: 0,
    children,
  });
  return new RecordBatch(schema, data);
}

/**
 * A dictionary column's values as a Utf8 column: each row's string bytes
 * copied out of the dictionary, nulls kept.
 */
function plainUtf8(data: Data<Dictionary>): Data<Utf8> {
  const { offsets: dictOffsets, bytes: dictBytes } = flatDictionary(
    data.dictionary!.data as Data<Utf8>[],
  );
  // Perspective's keys are 32-bit; wider ones are read through Number().
  const raw = data.values as ArrayLike<number | bigint>;
  const keys = raw instanceof Int32Array || raw instanceof Uint32Array ||
      raw instanceof Int16Array || raw instanceof Uint16Array ||
      raw instanceof Int8Array || raw instanceof Uint8Array
    ? raw
    : Int32Array.from(raw as ArrayLike<number | bigint>, Number);
  const n = data.length;
  const base = data.offset;
  const nulls = data.nullCount;
  const valid = nulls > 0 && data.nullBitmap && data.nullBitmap.length > 0
    ? data.nullBitmap
    : undefined;
  const offsets = new Int32Array(n + 1);
  const bitmap = nulls > 0 ? new Uint8Array((n + 7) >> 3) : undefined;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const at = base + i;
    if (!valid || ((valid[at >> 3] >> (at & 7)) & 1) === 1) {
      const k = keys[at] as number;
      total += dictOffsets[k + 1] - dictOffsets[k];
      if (bitmap) bitmap[i >> 3] |= 1 << (i & 7);
    }
    offsets[i + 1] = total;
  }
  // Byte by byte: strings are short, and a subarray per row would leave
  // the garbage collector a million small objects per export.
  const bytes = new Uint8Array(total);
  for (let i = 0; i < n; i++) {
    let to = offsets[i];
    const stop = offsets[i + 1];
    if (to === stop) continue;
    let from = dictOffsets[keys[base + i] as number];
    while (to < stop) bytes[to++] = dictBytes[from++];
  }
  return makeData({
    type: new Utf8(),
    length: n,
    nullCount: nulls,
    nullBitmap: bitmap,
    valueOffsets: offsets,
    data: bytes,
  });
}

/** A dictionary's strings as one offsets array and one byte array, whatever its chunks. */
function flatDictionary(chunks: Data<Utf8>[]): { offsets: Int32Array; bytes: Uint8Array } {
  if (chunks.length === 1 && chunks[0].offset === 0) {
    return { offsets: chunks[0].valueOffsets, bytes: chunks[0].values };
  }
  let count = 0;
  let size = 0;
  for (const c of chunks) {
    count += c.length;
    size += c.valueOffsets[c.offset + c.length] - c.valueOffsets[c.offset];
  }
  const offsets = new Int32Array(count + 1);
  const bytes = new Uint8Array(size);
  let row = 0;
  let at = 0;
  for (const c of chunks) {
    const start = c.valueOffsets[c.offset];
    const end = c.valueOffsets[c.offset + c.length];
    bytes.set(c.values.subarray(start, end), at);
    for (let i = 1; i <= c.length; i++) {
      offsets[row + i] = at + c.valueOffsets[c.offset + i] - start;
    }
    row += c.length;
    at += end - start;
  }
  return { offsets, bytes };
}
