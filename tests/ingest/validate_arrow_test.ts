import assert from "node:assert/strict";
import {
  type Data,
  Dictionary,
  Field,
  Int32,
  makeData,
  MessageHeader,
  MessageReader,
  RecordBatch,
  RecordBatchFileReader,
  RecordBatchFileWriter,
  RecordBatchReader,
  RecordBatchStreamWriter,
  RecordBatchWriter,
  Schema,
  Struct,
  Utf8,
  Vector,
  vectorFromArray,
} from "apache-arrow";
import { EngineHost } from "../../src/engine/host.ts";
import type { Table } from "../../src/engine/perspective.ts";
import { IngestError } from "../../src/ingest/batch.ts";
import { scanArrow } from "../../src/ingest/validate_arrow.ts";
import { body, withApi } from "../support/ingest.ts";
import { columnsOf } from "../support/columns.ts";

// Bodies are built with apache-arrow's writers, which send a dictionary
// again whenever a batch's dictionary is not the previous batch's: a
// replacement when its first chunk differs, deltas for chunks added after
// the previous ones. `shape()` shows what each body really holds.

const SCHEMA = new Schema([
  new Field("id", new Int32(), false),
  new Field("sym", new Dictionary(new Utf8(), new Int32(), 0), true),
]);
const TABLE = { id: "integer", sym: "string" } as const;
const STREAM = "application/vnd.apache.arrow.stream";

type UpdateOptions = Parameters<Table["update"]>[1];

/** One chunk of dictionary values. */
function utf8(values: (string | null)[]): Data<Utf8> {
  return vectorFromArray(values, new Utf8()).data[0];
}

/** A dictionary made of chunks; a later batch sharing the first chunks gets deltas. */
function dict(...chunks: Data<Utf8>[]): Vector<Utf8> {
  return new Vector(chunks);
}

/** A record batch of `SCHEMA` whose `sym` column indexes `dictionary`. */
function batch(dictionary: Vector<Utf8>, indices: number[], ids: number[]): RecordBatch {
  const sym = makeData({
    type: SCHEMA.fields[1].type as Dictionary<Utf8, Int32>,
    length: indices.length,
    nullCount: 0,
    data: Int32Array.from(indices),
    dictionary,
  });
  const id = makeData({
    type: new Int32(),
    length: ids.length,
    nullCount: 0,
    data: Int32Array.from(ids),
  });
  const struct = makeData({
    type: new Struct(SCHEMA.fields),
    length: ids.length,
    nullCount: 0,
    children: [id, sym],
  });
  return new RecordBatch(SCHEMA, struct);
}

/**
 * The base writer's dictionary step, which writes a dictionary batch as
 * told; the file writer's own refuses replacements.
 */
function writeDictionary(
  writer: RecordBatchWriter,
  dictionary: Data,
  id: number,
  isDelta: boolean,
): RecordBatchWriter {
  return RecordBatchWriter.prototype["_writeDictionaryBatch"].call(writer, dictionary, id, isDelta);
}

/** apache-arrow's file writer refuses replacements; this one writes them, as a careless writer would. */
class ReplacingFileWriter extends RecordBatchFileWriter {
  protected override _writeDictionaryBatch(dictionary: Data, id: number, isDelta = false): this {
    return writeDictionary(this, dictionary, id, isDelta) as this;
  }
}

/** Marks every dictionary a delta, the first one included. */
class DeltaOnlyStreamWriter extends RecordBatchStreamWriter {
  protected override _writeDictionaryBatch(dictionary: Data, id: number): this {
    return writeDictionary(this, dictionary, id, true) as this;
  }
}

/** The same for the file format. */
class DeltaOnlyFileWriter extends RecordBatchFileWriter {
  protected override _writeDictionaryBatch(dictionary: Data, id: number): this {
    return writeDictionary(this, dictionary, id, true) as this;
  }
}

function write(batches: RecordBatch[], writer: RecordBatchWriter): Uint8Array {
  writer.reset(undefined, SCHEMA);
  for (const b of batches) writer.write(b);
  writer.finish();
  return writer.toUint8Array(true);
}

const stream = (...batches: RecordBatch[]) => write(batches, new RecordBatchStreamWriter());
const file = (...batches: RecordBatch[]) => write(batches, new ReplacingFileWriter());

/** One word per message, as `D0` (dictionary id 0), `D0+` (a delta) and `R` (record batch). */
function describe(header: MessageHeader, dictionary?: { id: number; isDelta: boolean }): string {
  if (header === MessageHeader.Schema) return "S";
  if (header === MessageHeader.RecordBatch) return "R";
  return `D${dictionary!.id}${dictionary!.isDelta ? "+" : ""}`;
}

/** The messages of a stream, or of a file's dictionary blocks then "|" and its record batches. */
function shape(bytes: Uint8Array): string {
  const words: string[] = [];
  const read = (reader: MessageReader) => {
    const message = reader.readMessage();
    if (!message) return false;
    const header = message.header() as unknown as { id: number; isDelta: boolean };
    words.push(describe(message.headerType, header));
    reader.readMessageBody(message.bodyLength);
    return true;
  };
  if (new TextDecoder().decode(bytes.subarray(0, 6)) !== "ARROW1") {
    const reader = new MessageReader(bytes);
    while (read(reader));
    return words.join(" ");
  }
  const footer = (RecordBatchFileReader.from(bytes) as RecordBatchFileReader).open().footer!;
  for (let i = 0; i < footer.numDictionaries; i++) {
    read(new MessageReader(bytes.subarray(Number(footer.getDictionaryBatch(i)!.offset))));
  }
  words.push("|", ...[...footer.recordBatches()].map(() => "R"));
  return words.join(" ");
}

/** `sym` as apache-arrow reads it: what the sender means. */
function sent(bytes: Uint8Array): unknown[] {
  const out: unknown[] = [];
  for (const b of RecordBatchReader.from(bytes)) out.push(...b.getChild("sym")!.toArray());
  return out;
}

/** `sym` as a fresh in-process engine stores it, or the engine's error. */
async function stored(bytes: Uint8Array): Promise<unknown[] | string> {
  const host = await EngineHost.create();
  try {
    const table = await host.createTable("t", { ...TABLE });
    try {
      await table.update(bytes.slice().buffer, { format: "arrow" } as UpdateOptions);
      await host.flush();
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    return (await columnsOf(host, table)).sym;
  } finally {
    host.close();
  }
}

const refused = (status: number, pattern: RegExp) => (err: unknown) =>
  err instanceof IngestError && err.status === status && pattern.test(err.message);

/** POSTs a body to a fresh `t` holding one row; returns the status and `sym` afterwards. */
async function post(bytes: Uint8Array, type = STREAM): Promise<[number, unknown[]]> {
  return await withApi(async (api) => {
    const def = { schema: TABLE, index: "id" };
    const put = body("application/json", JSON.stringify(def));
    assert.equal((await api.json("PUT", "/api/tables/t", put)).status, 201);
    const seed = body("application/json", JSON.stringify([{ id: 0, sym: "z" }]));
    assert.equal((await api.json("POST", "/api/tables/t/rows", seed)).status, 200);
    const res = await api.json("POST", "/api/tables/t/rows", body(type, bytes));
    return [res.status, (await api.rows("t"))!.sym];
  });
}

Deno.test("scanArrow() refuses a stream that replaces a dictionary with other values", async () => {
  const bytes = stream(
    batch(dict(utf8(["p", "q"])), [0, 1], [1, 2]),
    batch(dict(utf8(["r", "s"])), [0, 1], [3, 4]),
  );
  assert.equal(shape(bytes), "S D0 R D0 R");
  assert.deepEqual(sent(bytes), ["p", "q", "r", "s"]);
  // What the refusal prevents: the engine keeps reading the first dictionary.
  assert.deepEqual(await stored(bytes), ["p", "q", "p", "q"]);
  assert.throws(
    () => scanArrow(bytes),
    refused(422, /column "sym": Arrow dictionary replacement \(dictionary id 0 .*plain Utf8/),
  );
  assert.deepEqual(await post(bytes), [422, ["z"]]);
});

Deno.test("scanArrow() accepts delta dictionaries, which the engine stores as sent", async () => {
  const base = utf8(["p", "q"]);
  const more = utf8(["r", "s"]);
  const bytes = stream(
    batch(dict(base), [0, 1], [1, 2]),
    batch(dict(base, more), [2, 3], [3, 4]),
    batch(dict(base, more, utf8(["t"])), [4, 0], [5, 6]),
  );
  assert.equal(shape(bytes), "S D0 R D0+ R D0+ R");
  const values = ["p", "q", "r", "s", "t", "p"];
  assert.deepEqual(sent(bytes), values);
  assert.deepEqual(await stored(bytes), values);
  assert.equal(scanArrow(bytes).rows, 6);
  assert.deepEqual(await post(bytes), [200, ["z", ...values]]);
});

Deno.test("scanArrow() accepts a replacement that repeats the dictionary before adding to it", async () => {
  // pyarrow's default when a dictionary grows, and apache-arrow's when a
  // batch brings an equal dictionary of its own: the engine reads both right.
  const bytes = stream(
    batch(dict(utf8(["p", "q"])), [0, 1], [1, 2]),
    batch(dict(utf8(["p", "q"])), [1, 0], [3, 4]),
    batch(dict(utf8(["p", "q", "r"])), [2, 1], [5, 6]),
  );
  assert.equal(shape(bytes), "S D0 R D0 R D0 R");
  const values = ["p", "q", "q", "p", "r", "q"];
  assert.deepEqual(sent(bytes), values);
  assert.deepEqual(await stored(bytes), values);
  assert.equal(scanArrow(bytes).rows, 6);
  assert.deepEqual(await post(bytes), [200, ["z", ...values]]);
});

Deno.test("scanArrow() judges a replacement by the dictionaries the record batches use", async () => {
  // Schema, then ["p", "q"] replaced by ["r", "s"] before any record batch:
  // the messages of a two-batch replacement stream, rearranged.
  const [schema, first, batch1, second, batch2, end] = messages(
    stream(
      batch(dict(utf8(["p", "q"])), [0, 1], [1, 2]),
      batch(dict(utf8(["r", "s"])), [0, 1], [3, 4]),
    ),
  );
  const unused = concat(schema, first, second, batch1, batch2, end);
  assert.equal(shape(unused), "S D0 D0 R R");
  assert.deepEqual(sent(unused), ["r", "s", "r", "s"]);
  assert.deepEqual(await stored(unused), ["r", "s", "r", "s"]);
  assert.equal(scanArrow(unused).rows, 4);
});

Deno.test("scanArrow() refuses dictionary values that are repeated or null", async () => {
  const repeated = stream(batch(dict(utf8(["p", "p", "q"])), [2, 1, 0], [1, 2, 3]));
  assert.deepEqual(sent(repeated), ["q", "p", "p"]);
  assert.deepEqual(await stored(repeated), ["p", "q", "p"]);
  assert.throws(() => scanArrow(repeated), refused(422, /holds "p" twice/));
  assert.deepEqual(await post(repeated), [422, ["z"]]);

  const base = utf8(["p", "q"]);
  const again = stream(batch(dict(base), [0, 1], [1, 2]), batch(dict(base, utf8(["p"])), [2], [3]));
  assert.equal(shape(again), "S D0 R D0+ R");
  assert.throws(() => scanArrow(again), refused(422, /holds "p" twice/));

  const nulls = stream(batch(dict(utf8(["p", null, "q"])), [2, 1, 0], [1, 2, 3]));
  assert.deepEqual(sent(nulls), ["q", null, "p"]);
  assert.deepEqual(await stored(nulls), ["q", "", "p"]);
  assert.throws(() => scanArrow(nulls), refused(422, /null value/));
});

Deno.test("scanArrow() refuses a dictionary replacement in an Arrow file", async () => {
  for (const second of [["r", "s"], ["p", "q"]]) {
    const bytes = file(
      batch(dict(utf8(["p", "q"])), [0, 1], [1, 2]),
      batch(dict(utf8(second)), [0, 1], [3, 4]),
    );
    assert.equal(shape(bytes), "D0 D0 | R R");
    assert.deepEqual(sent(bytes), [...second, ...second]);
    // The format does not allow it, and the engine refuses it even when the
    // values are the same.
    assert.match(String(await stored(bytes)), /Unsupported dictionary replacement in IPC file/);
    assert.throws(
      () => scanArrow(bytes),
      refused(422, /dictionary replacement \(dictionary id 0 sent twice\).*Arrow file/),
    );
    assert.deepEqual(await post(bytes, "application/vnd.apache.arrow.file"), [422, ["z"]]);
  }
});

Deno.test("scanArrow() accepts delta dictionaries in an Arrow file", async () => {
  const base = utf8(["p", "q"]);
  const bytes = file(
    batch(dict(base), [0, 1], [1, 2]),
    batch(dict(base, utf8(["r"])), [2, 0], [3, 4]),
  );
  assert.equal(shape(bytes), "D0 D0+ | R R");
  const values = ["p", "q", "r", "p"];
  assert.deepEqual(sent(bytes), values);
  assert.deepEqual(await stored(bytes), values);
  assert.equal(scanArrow(bytes).rows, 4);
  assert.deepEqual(await post(bytes, "application/vnd.apache.arrow.file"), [200, ["z", ...values]]);
});

Deno.test("scanArrow() refuses a delta before the first dictionary as malformed", async () => {
  const batches = [batch(dict(utf8(["p", "q"])), [0, 1], [1, 2])];
  const bodies = [
    write(batches, new DeltaOnlyStreamWriter()),
    write(batches, new DeltaOnlyFileWriter()),
  ];
  assert.deepEqual(bodies.map(shape), ["S D0+ R", "D0+ | R"]);
  for (const bytes of bodies) {
    // apache-arrow reads it; the engine does not.
    assert.deepEqual(sent(bytes), ["p", "q"]);
    assert.match(String(await stored(bytes)), /Dictionary with id 0 not found/);
    assert.throws(() => scanArrow(bytes), refused(400, /delta for dictionary id 0 before/));
  }
});

/** A stream's messages, each with its framing and body. */
function messages(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const reader = new MessageReader(bytes);
  let at = 0;
  for (let message = reader.readMessage(); message; message = reader.readMessage()) {
    reader.readMessageBody(message.bodyLength);
    const view = new DataView(bytes.buffer, bytes.byteOffset + at);
    const length = view.getInt32(4, true);
    const next = at + 8 + length + message.bodyLength;
    out.push(bytes.subarray(at, next));
    at = next;
  }
  out.push(bytes.subarray(at));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
