/**
 * Validation of Arrow IPC batches (stream or file): the whole body must
 * decode, column types must be ones the engine stores without silent loss,
 * and an index column must have no nulls. {@linkcode scanArrow} decodes
 * (in a worker, see `validator.ts`, since a corrupt body can send the
 * decoder into a loop) and returns a plain summary that the checks read.
 * Before the decoder sees a body, its message framing and the vectors and
 * buffer regions each message describes are checked against its bytes:
 * the decoder trusts them, and a corrupt one can make it allocate until
 * the whole process runs out of memory, worker or not.
 *
 * Dictionary-encoded string columns are held to what the engine reads
 * correctly. Within one body, it reads a column's dictionaries as one
 * growing list of distinct values: deltas, and replacements that repeat the
 * dictionary so far before adding to it, come out right; a replacement with
 * other values keeps the old ones (indices 0 and 1 of a replacement
 * ["r", "s"] read as the first dictionary's "p" and "q"), a repeated value
 * shifts every later one, and a null value turns into "". Its file reader
 * refuses any replacement, and both its readers a delta before the first
 * dictionary. All of these are refused here, before the engine sees them.
 *
 * @module
 */

import { checkColumnData } from "./arrow_buffers.ts";
import { type DataType, RecordBatchReader, Type, type Vector } from "apache-arrow";
import type { ColumnType, Schema } from "../engine/perspective.ts";
import { IngestError, type TableDef } from "./batch.ts";

/** One column of an Arrow body. */
export interface ArrowField {
  /** Column name. */
  name: string;
  /** The Arrow type, for messages. */
  arrowType: string;
  /** The engine type it maps to, or null when the engine cannot store it. */
  type: ColumnType | null;
  /** Whether the type is an integer wider than the engine's 32 bits. */
  wideInt: boolean;
  /** Whether any value falls outside the 32-bit integer range. */
  outOfInt32: boolean;
  /** Nulls over all batches. */
  nulls: number;
}

/** What an Arrow body holds. */
export interface ArrowScan {
  /** Columns in order. */
  fields: ArrowField[];
  /** Rows over all record batches. */
  rows: number;
}

/**
 * Reads every record batch of an Arrow stream or file and summarizes it.
 *
 * @throws {IngestError} 400 when the body is not complete, valid Arrow IPC;
 *   422 for dictionaries the engine would read wrongly or refuse.
 */
export function scanArrow(bytes: Uint8Array): ArrowScan {
  if (bytes.byteLength < 8) {
    throw new IngestError(400, "not an Arrow IPC stream or file: too short");
  }
  try {
    if (isArrowFile(bytes)) walkFile(bytes);
    else walkStream(bytes);
    const reader = RecordBatchReader.from(bytes);
    reader.open();
    const schema = reader.schema;
    if (!schema) throw new Error("no schema message");
    const seen = new Set<string>();
    const fields: ArrowField[] = schema.fields.map((f) => {
      if (seen.has(f.name)) {
        throw new IngestError(400, `Arrow schema repeats ${JSON.stringify(f.name)}`);
      }
      seen.add(f.name);
      return {
        name: f.name,
        arrowType: String(f.type),
        type: engineType(f.type) ?? null,
        wideInt: f.type.typeId === Type.Int && !fitsInt32(f.type),
        outOfInt32: false,
        nulls: 0,
      };
    });
    const dictionaries = schema.fields.map((f) =>
      f.type.typeId === Type.Dictionary && engineType(f.type) === "string"
        ? new DictionaryValues(f.name, (f.type as unknown as { id: number }).id)
        : undefined
    );
    let rows = 0;
    for (const batch of reader) {
      rows += batch.numRows;
      for (let i = 0; i < fields.length; i++) {
        const child = batch.getChildAt(i);
        if (!child) continue;
        fields[i].nulls += child.nullCount;
        for (const data of child.data) checkColumnData(data);
        dictionaries[i]?.check(child);
        if (fields[i].wideInt && !fields[i].outOfInt32) {
          for (const v of child) {
            if (v === null) continue;
            const n = Number(v);
            if (n < -2147483648 || n > 2147483647) {
              fields[i].outOfInt32 = true;
              break;
            }
          }
        }
      }
    }
    return { fields, rows };
  } catch (err) {
    if (err instanceof IngestError) throw err;
    throw new IngestError(400, `malformed Arrow IPC: ${message(err)}`);
  }
}

const FILE_MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"

/** Whether the bytes start with the Arrow file format's magic. */
function isArrowFile(bytes: Uint8Array): boolean {
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
 * record batches carry (see {@linkcode DictionaryValues}): one that no batch
 * uses does not reach the engine's table.
 *
 * @throws {Error} for broken framing or a delta before its first dictionary.
 */
function walkStream(bytes: Uint8Array): void {
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
function walkFile(bytes: Uint8Array): void {
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

/**
 * Follows one dictionary-encoded string column over the record batches:
 * each batch's dictionary must hold the previous batch's values, in order,
 * before any new ones, and values must be distinct and not null.
 */
class DictionaryValues {
  readonly #values: string[] = [];
  readonly #seen = new Set<string>();
  #last?: Vector;

  constructor(readonly name: string, readonly id: number) {}

  /**
   * Checks one batch's column.
   *
   * @throws {IngestError} 422 when the engine would read it wrongly.
   */
  check(column: Vector): void {
    const dictionary = (column.data[0] as { dictionary?: Vector } | undefined)?.dictionary;
    if (!dictionary || dictionary === this.#last) return;
    const known = this.#values.length;
    if (!this.#extends(dictionary)) {
      throw new IngestError(
        422,
        `column ${JSON.stringify(this.name)}: Arrow dictionary replacement (dictionary id ` +
          `${this.id} sent again with other values) is not supported; ` +
          "send one dictionary per column, deltas, or plain Utf8",
      );
    }
    for (let i = known; i < dictionary.length; i++) {
      const value = dictionary.get(i) as string | null;
      if (value === null) {
        throw new IngestError(
          422,
          `column ${JSON.stringify(this.name)}: the Arrow dictionary holds a null value, ` +
            'which the engine stores as ""; mark nulls in the indices instead',
        );
      }
      if (this.#seen.has(value)) {
        throw new IngestError(
          422,
          `column ${JSON.stringify(this.name)}: the Arrow dictionary holds ` +
            `${JSON.stringify(value)} twice, which shifts the values after it in the engine; ` +
            "send distinct dictionary values",
        );
      }
      this.#seen.add(value);
      this.#values.push(value);
    }
    this.#last = dictionary;
  }

  /** Whether `dictionary` starts with the values seen so far. */
  #extends(dictionary: Vector): boolean {
    if (dictionary.length < this.#values.length) return false;
    const last = this.#last;
    // The JS reader appends a delta's chunk to the previous chunks, so
    // shared chunks prove the prefix without comparing it.
    if (last && last.data.every((chunk, i) => dictionary.data[i] === chunk)) return true;
    for (let i = 0; i < this.#values.length; i++) {
      if (dictionary.get(i) !== this.#values[i]) return false;
    }
    return true;
  }
}

/** The engine type an Arrow type maps to, or undefined when unsupported. */
export function engineType(type: DataType): ColumnType | undefined {
  switch (type.typeId) {
    case Type.Int:
      return "integer";
    case Type.Float:
      return (type as unknown as { precision: number }).precision === 0 ? undefined : "float";
    case Type.Utf8:
    case Type.LargeUtf8:
      return "string";
    case Type.Dictionary: {
      const inner = (type as unknown as { dictionary: DataType }).dictionary;
      return inner.typeId === Type.Utf8 || inner.typeId === Type.LargeUtf8 ? "string" : undefined;
    }
    case Type.Bool:
      return "boolean";
    case Type.Date:
      return "date";
    case Type.Timestamp:
      return "datetime";
    case Type.Null:
      return "string";
    default:
      return undefined;
  }
}

function fitsInt32(type: DataType): boolean {
  const t = type as unknown as { bitWidth: number; isSigned: boolean };
  return t.bitWidth < 32 || (t.bitWidth === 32 && t.isSigned);
}

function fits(field: ArrowField, target: ColumnType): string | undefined {
  if (field.type === null) return `Arrow type ${field.arrowType} is not supported`;
  if (field.type === target) {
    return target === "integer" && field.outOfInt32
      ? "a value is outside the 32-bit integer range"
      : undefined;
  }
  if (target === "float" && field.type === "integer") return undefined;
  return `Arrow type ${field.arrowType} does not fit a ${target} column`;
}

/**
 * Checks a scanned Arrow body against the table.
 *
 * @throws {IngestError} 422 for unknown columns, types that do not fit, or
 *   nulls in the index column.
 */
export function checkArrow(scan: ArrowScan, def: TableDef): void {
  const types = new Map(Object.entries(def.schema));
  for (const field of scan.fields) {
    const target = types.get(field.name);
    if (target === undefined) {
      throw new IngestError(422, `unknown column ${JSON.stringify(field.name)}`);
    }
    const problem = fits(field, target);
    if (problem) throw new IngestError(422, `column ${JSON.stringify(field.name)}: ${problem}`);
  }
  if (def.index !== null && scan.rows > 0) {
    const index = scan.fields.find((f) => f.name === def.index);
    if (!index) throw new IngestError(422, `index column ${JSON.stringify(def.index)} is missing`);
    if (index.nulls > 0) {
      throw new IngestError(422, `index column ${JSON.stringify(def.index)} has null values`);
    }
  }
}

/**
 * The schema of a table created from an Arrow body.
 *
 * @throws {IngestError} 422 for column types the engine cannot store.
 */
export function arrowSchema(scan: ArrowScan): Schema {
  if (scan.fields.length === 0) {
    throw new IngestError(422, "cannot create a table from an Arrow body without columns");
  }
  const schema: Schema = Object.create(null);
  for (const field of scan.fields) {
    if (!field.type) {
      throw new IngestError(
        422,
        `column ${JSON.stringify(field.name)}: Arrow type ${field.arrowType} is not supported`,
      );
    }
    schema[field.name] = field.type;
  }
  return schema;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
