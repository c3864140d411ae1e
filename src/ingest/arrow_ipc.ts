/**
 * The Arrow IPC framing, checked against the bytes before any decoder
 * reads them: every message's length, flatbuffer header, vectors and
 * buffer regions, and an Arrow file's footer blocks. apache-arrow's reader
 * trusts all of these, and a corrupt one can make it allocate until the
 * whole process runs out of memory; the engine's readers refuse a
 * truncated body or a delta before its first dictionary, which the JS
 * reader would take. `validate_arrow.ts` runs these walks first.
 *
 * @module
 */

import { IngestError } from "./batch.ts";

const FILE_MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"

/** Whether the bytes start with the Arrow file format's magic. */
export function isArrowFile(bytes: Uint8Array): boolean {
  return FILE_MAGIC.every((b, i) => bytes[i] === b);
}

const HEADER_SCHEMA = 1;
const HEADER_DICTIONARY_BATCH = 2;
const HEADER_RECORD_BATCH = 3;

/**
 * Walks an Arrow stream's messages. The JS reader stops quietly at a
 * truncated message, which the engine refuses, so the framing is checked
 * here; and the JS reader takes a delta for a dictionary not sent yet,
 * which the engine refuses too. A replacement is judged by the values the
 * record batches carry (see `arrow_dictionary.ts`): one that no batch
 * uses does not reach the engine's table.
 *
 * @throws {Error} for broken framing or a delta before its first dictionary.
 */
export function walkStream(bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sent = new Set<bigint>();
  let at = 0;
  while (at < bytes.byteLength) {
    if (at + 4 > bytes.byteLength) throw new Error("truncated message header");
    let len = view.getInt32(at, true);
    at += 4;
    if (len === -1) {
      if (at + 4 > bytes.byteLength) throw new Error("truncated message header");
      len = view.getInt32(at, true);
      at += 4;
    }
    if (len === 0) return;
    if (len < 0 || at + len > bytes.byteLength) throw new Error("truncated message metadata");
    const message = readMessage(bytes.subarray(at, at + len));
    at += len;
    if (message.bodyLength < 0 || at + message.bodyLength > bytes.byteLength) {
      throw new Error("truncated message body");
    }
    at += message.bodyLength;
    const dictionary = message.dictionary;
    if (!dictionary) continue;
    if (dictionary.isDelta && !sent.has(dictionary.id)) {
      throw new Error(`delta for dictionary id ${dictionary.id} before its first dictionary`);
    }
    sent.add(dictionary.id);
  }
}

/**
 * Walks the blocks an Arrow file's footer lists, which is how readers find
 * its messages, checking that each lies before the footer. The engine's
 * file reader refuses a second dictionary for an id unless it is a delta,
 * as the format requires, and a delta before the first.
 *
 * @throws {IngestError} 422 for a replacement.
 * @throws {Error} for a broken footer or block, or a delta before its first dictionary.
 */
export function walkFile(bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.byteLength - FILE_MAGIC.length;
  if (end < 8 + 4 || !FILE_MAGIC.every((b, i) => bytes[end + i] === b)) {
    throw new Error("Arrow file does not end with its magic bytes");
  }
  const footerLength = view.getInt32(end - 4, true);
  const footerStart = end - 4 - footerLength;
  if (footerLength <= 0 || footerStart < 8) throw new Error("Arrow file footer out of bounds");
  // Footer fields: version, schema, dictionaries, recordBatches; both are
  // vectors of Block structs: offset (int64), metaDataLength (int32),
  // padding, bodyLength (int64).
  const footer = FlatTable.root(bytes.subarray(footerStart, end - 4));
  const schema = footer.table(1);
  if (!schema) throw new Error("Arrow file footer without a schema");
  checkSchema(schema);
  const block = (kind: string, blocks: ElementVector, i: number) => {
    const offset = Number(blocks.view.getBigInt64(blocks.at + 24 * i, true));
    const metaDataLength = blocks.view.getInt32(blocks.at + 24 * i + 8, true);
    if (!(offset >= 8 && metaDataLength > 8 && offset + metaDataLength <= footerStart)) {
      throw new Error(`Arrow file ${kind} block ${i} out of bounds`);
    }
    let meta = offset + 4;
    let len = view.getInt32(offset, true);
    if (len === -1) {
      len = view.getInt32(offset + 4, true);
      meta += 4;
    }
    if (len <= 0 || meta + len > offset + metaDataLength) {
      throw new Error(`Arrow file ${kind} block ${i} out of bounds`);
    }
    const message = readMessage(bytes.subarray(meta, meta + len));
    if (message.bodyLength < 0 || offset + metaDataLength + message.bodyLength > footerStart) {
      throw new Error(`Arrow file ${kind} block ${i} out of bounds`);
    }
    return message;
  };
  const batches = footer.vector(3, 24);
  for (let i = 0; i < batches.length; i++) {
    if (block("record batch", batches, i).type !== HEADER_RECORD_BATCH) {
      throw new Error(`Arrow file record batch block ${i} is not a record batch`);
    }
  }
  const dictionaries = footer.vector(2, 24);
  const sent = new Set<bigint>();
  for (let i = 0; i < dictionaries.length; i++) {
    const dictionary = block("dictionary", dictionaries, i).dictionary;
    if (!dictionary) throw new Error(`Arrow file dictionary block ${i} is not a dictionary`);
    if (!sent.has(dictionary.id)) {
      if (dictionary.isDelta) {
        throw new Error(`delta for dictionary id ${dictionary.id} before its first dictionary`);
      }
      sent.add(dictionary.id);
    } else if (!dictionary.isDelta) {
      throw new IngestError(
        422,
        `Arrow dictionary replacement (dictionary id ${dictionary.id} sent twice) is not ` +
          "supported in an Arrow file; send one dictionary per column, deltas, or plain Utf8",
      );
    }
  }
}

/** What the walkers need from one Arrow message's flatbuffer metadata. */
interface MessageInfo {
  /** `MessageHeader`: 1 Schema, 2 DictionaryBatch, 3 RecordBatch. */
  type: number;
  /** Bytes of body after the metadata. */
  bodyLength: number;
  /** For a dictionary batch, its id and whether it is a delta. */
  dictionary?: { id: bigint; isDelta: boolean };
}

/**
 * Reads an Arrow `Message` flatbuffer. The JS reader trusts a batch's
 * vectors and buffer regions; one that reaches past its metadata or body
 * can make it allocate until the whole process runs out of memory, worker
 * or not, so they are checked here.
 */
function readMessage(meta: Uint8Array): MessageInfo {
  // Message fields: version, header_type, header, bodyLength.
  const message = FlatTable.root(meta);
  const type = message.uint8(1);
  const bodyLength = Number(message.int64(3));
  const info: MessageInfo = { type, bodyLength };
  let batch: FlatTable | undefined;
  if (type === HEADER_SCHEMA) {
    const schema = message.table(2);
    if (schema) checkSchema(schema);
  } else if (type === HEADER_RECORD_BATCH) {
    batch = message.table(2);
  } else if (type === HEADER_DICTIONARY_BATCH) {
    // DictionaryBatch fields: id, data (a RecordBatch), isDelta.
    const header = message.table(2);
    if (!header) throw new Error("dictionary batch message without a header");
    info.dictionary = { id: header.int64(0), isDelta: header.uint8(2) !== 0 };
    batch = header.table(1);
  }
  if (batch) {
    // RecordBatch fields: length, nodes (FieldNode structs: length and
    // null_count), buffers (Buffer structs: offset and length), all int64.
    batch.vector(1, 16);
    const buffers = batch.vector(2, 16);
    for (let i = 0; i < buffers.length; i++) {
      const offset = buffers.view.getBigInt64(buffers.at + 16 * i, true);
      const length = buffers.view.getBigInt64(buffers.at + 16 * i + 8, true);
      if (offset < 0n || length < 0n || offset + length > BigInt(bodyLength)) {
        throw new Error(`buffer ${i} lies outside its message body`);
      }
    }
  }
  return info;
}

/**
 * Checks the vectors of a `Schema` table (fields, their children and
 * metadata) against its buffer. Children may be shared, which would make a
 * reader visit a subtree many times, so visits are capped by the buffer's
 * size.
 */
function checkSchema(schema: FlatTable): void {
  let budget = schema.view.byteLength / 4;
  const visit = (fields: FlatTable[]) => {
    for (const field of fields) {
      if (--budget < 0) throw new Error("schema names more fields than it holds");
      // Field fields: name, nullable, type_type, type, dictionary, children, custom_metadata.
      field.vector(6, 4);
      visit(field.tables(5));
    }
  };
  // Schema fields: endianness, fields, custom_metadata, features.
  schema.vector(2, 4);
  schema.vector(3, 8);
  visit(schema.tables(1));
}

/** Fixed-size elements in a flatbuffer vector: where the first starts, and how many. */
interface ElementVector {
  view: DataView;
  at: number;
  length: number;
}

/** A table in a flatbuffer, read by field slot; absent fields read as their default 0. */
class FlatTable {
  private constructor(readonly view: DataView, readonly at: number) {}

  /** The root table of a flatbuffer. */
  static root(buffer: Uint8Array): FlatTable {
    const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    return new FlatTable(view, view.getUint32(0, true));
  }

  /** Where a field's value sits, or -1 when the field is absent. */
  #field(slot: number): number {
    const vtable = this.at - this.view.getInt32(this.at, true);
    const size = this.view.getUint16(vtable, true);
    if (vtable < 0 || vtable + size > this.view.byteLength) throw new Error("vtable out of bounds");
    const entry = 4 + 2 * slot;
    if (entry >= size) return -1;
    const offset = this.view.getUint16(vtable + entry, true);
    return offset === 0 ? -1 : this.at + offset;
  }

  /** An unsigned byte (or bool) field. */
  uint8(slot: number): number {
    const at = this.#field(slot);
    return at < 0 ? 0 : this.view.getUint8(at);
  }

  /** A 64-bit integer field. */
  int64(slot: number): bigint {
    const at = this.#field(slot);
    return at < 0 ? 0n : this.view.getBigInt64(at, true);
  }

  /** A table field, or undefined when absent. */
  table(slot: number): FlatTable | undefined {
    const at = this.#field(slot);
    return at < 0 ? undefined : new FlatTable(this.view, at + this.view.getUint32(at, true));
  }

  /** A vector of `size`-byte elements, checked to lie within the buffer. */
  vector(slot: number, size: number): ElementVector {
    const at = this.#field(slot);
    if (at < 0) return { view: this.view, at: 0, length: 0 };
    const start = at + this.view.getUint32(at, true);
    const length = this.view.getUint32(start, true);
    if (start + 4 + length * size > this.view.byteLength) throw new Error("vector out of bounds");
    return { view: this.view, at: start + 4, length };
  }

  /** A vector of tables. */
  tables(slot: number): FlatTable[] {
    const { view, at, length } = this.vector(slot, 4);
    return Array.from({ length }, (_, i) => {
      const element = at + 4 * i;
      return new FlatTable(view, element + view.getUint32(element, true));
    });
  }
}
