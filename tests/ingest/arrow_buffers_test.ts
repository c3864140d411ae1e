import assert from "node:assert/strict";
import {
  Bool,
  DateDay,
  Dictionary,
  Int32,
  makeData,
  RecordBatchReader,
  Table,
  tableToIPC,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
} from "apache-arrow";
import { checkColumnData } from "../../src/ingest/arrow_buffers.ts";
import { body, withApi } from "../support/ingest.ts";

const FIXTURE = new URL("./fixtures/dictionary_index_out_of_range.arrow", import.meta.url);

function checkAll(bytes: Uint8Array): void {
  const reader = RecordBatchReader.from(bytes);
  reader.open();
  for (const batch of reader) {
    for (let i = 0; i < batch.numCols; i++) checkColumnData(batch.getChildAt(i)!.data[0]);
  }
}

Deno.test("checkColumnData() passes sound columns of every supported type, with nulls and slices", () => {
  const table = new Table({
    s: vectorFromArray(["a", "é", null, "ccc", "日本"], new Utf8()),
    d: vectorFromArray(["x", "y", "x", null, "z"], new Dictionary(new Utf8(), new Int32())),
    ts: vectorFromArray([1, 2, 3, null, 5], new TimestampMillisecond()),
    b: vectorFromArray([true, false, null, true, false], new Bool()),
    day: vectorFromArray([new Date(0), null, new Date(86400000), new Date(0), null], new DateDay()),
    n: vectorFromArray([1, 2, 3, 4, null], new Int32()),
  });
  for (const format of ["stream", "file"] as const) checkAll(tableToIPC(table, format));
  for (const name of ["s", "d", "n"] as const) {
    checkColumnData(table.getChild(name)!.slice(1, 4).data[0]);
  }
});

Deno.test("checkColumnData() refuses dictionary indices outside the dictionary", () => {
  const dictionary = vectorFromArray(["p", "q"], new Utf8());
  const type = new Dictionary(new Utf8(), new Int32());
  const data = (indices: number[], nullBitmap?: Uint8Array) =>
    makeData({
      type,
      length: indices.length,
      data: Int32Array.from(indices),
      dictionary,
      nullBitmap,
    });
  checkColumnData(data([0, 1, 1]));
  assert.throws(() => checkColumnData(data([0, 2])), /index 2 outside a dictionary of 2/);
  assert.throws(() => checkColumnData(data([-1])), /index -1 outside/);
  // A null slot's index is not read, whatever it holds.
  checkColumnData(data([0, 99], Uint8Array.from([0b01])));
});

Deno.test("checkColumnData() refuses string offsets outside the bytes, decreasing, or splitting UTF-8", () => {
  const text = (offsets: number[], bytes: number[]) =>
    makeData({
      type: new Utf8(),
      length: offsets.length - 1,
      valueOffsets: Int32Array.from(offsets),
      data: Uint8Array.from(bytes),
    });
  const abc = [0x61, 0x62, 0x63];
  checkColumnData(text([0, 1, 3], abc));
  assert.throws(() => checkColumnData(text([0, 1, 9], abc)), /outside the value bytes/);
  assert.throws(() => checkColumnData(text([0, 2, 1, 3], abc)), /decrease/);
  const e = [0xc3, 0xa9, 0x61]; // "éa"
  checkColumnData(text([0, 2, 3], e));
  assert.throws(() => checkColumnData(text([0, 1, 3], e)), /not valid UTF-8/);
  assert.throws(() => checkColumnData(text([0, 2], [0xff, 0xfe])), /not valid UTF-8/);
});

/** A sound Arrow stream whose one dictionary index is patched to 2^30 + 2. */
function badIndexStream(): Uint8Array {
  const names = ["p", "q", "r", "p", "q", "r"];
  const table = new Table({
    id: vectorFromArray([1, 2, 3, 4, 5, 6], new Int32()),
    name: vectorFromArray(names, new Dictionary(new Utf8(), new Int32())),
  });
  const bytes = tableToIPC(table, "stream");
  const pattern = Uint8Array.from([0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  const at = bytes.findIndex((_, i) => pattern.every((b, j) => bytes[i + j] === b));
  assert.ok(at >= 0, "the index buffer is in the body");
  bytes[at + 11] = 0x40;
  return bytes;
}

Deno.test("an Arrow body with a dictionary index past its dictionary is 400 and the table stays readable", async () => {
  await withApi(async (api) => {
    const schema = { id: "integer", name: "string" };
    await api.json(
      "PUT",
      "/api/tables/t",
      body("application/json", JSON.stringify({ schema, index: "id" })),
    );
    await api.json(
      "POST",
      "/api/tables/t/rows",
      body("application/json", '[{"id": 1, "name": "a"}]'),
    );
    const before = await api.rows("t");
    const ARROW = "application/vnd.apache.arrow.stream";
    for (const method of ["POST", "PUT"]) {
      const res = await api.json(method, "/api/tables/t/rows", body(ARROW, badIndexStream()));
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(res.body.detail, /dictionary index 1073741826 outside a dictionary of 3/);
      assert.deepEqual(await api.rows("t"), before);
    }
    // The fuzz case that made the engine read gigabytes: refused, whichever check sees it first.
    const found = await api.json(
      "PUT",
      "/api/tables/t/rows",
      body("application/vnd.apache.arrow.file", await Deno.readFile(FIXTURE)),
    );
    assert.equal(found.status, 400);
    assert.deepEqual(await api.rows("t"), before);
  });
});
