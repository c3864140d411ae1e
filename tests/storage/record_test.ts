import assert from "node:assert/strict";
import type { TableDef } from "../../src/engine/batch_types.ts";
import {
  type Change,
  decodeRecord,
  encodeRecord,
  RecordFormatError,
} from "../../src/storage/record.ts";

const DEF: TableDef = {
  schema: { z: "integer", a: "string", m: "float" },
  index: "z",
  limit: null,
};
const bytes = (text: string) => new TextEncoder().encode(text);

const CHANGES: Change[] = [
  { type: "create", table: "t", def: DEF },
  { type: "create", table: "rolling", def: { schema: { x: "float" }, index: null, limit: 7 } },
  { type: "drop", table: "t" },
  {
    type: "batch",
    batch: { table: "t", op: "update", format: "json", data: bytes('[{"z":1}]'), rows: 1 },
  },
  {
    type: "batch",
    batch: {
      table: "naïve 表",
      op: "replace",
      format: "csv",
      data: bytes("a\n1\n"),
      rows: 1,
      create: { schema: {}, index: null, limit: null },
    },
  },
  {
    type: "batch",
    batch: { table: "t", op: "clear", format: "json", data: new Uint8Array(0), rows: 0 },
  },
  { type: "meta", key: "dashboard:sales", value: { layout: [1, 2], title: "Ventes €" } },
  { type: "meta", key: "dashboard:sales", value: null },
];

Deno.test("every kind of change survives encode and decode, sequence number included", () => {
  for (const [i, change] of CHANGES.entries()) {
    const seq = 2 ** 40 + i;
    const decoded = decodeRecord(encodeRecord({ seq, change }));
    assert.equal(decoded.seq, seq);
    if (change.type === "batch" && decoded.change.type === "batch") {
      const { data, ...rest } = decoded.change.batch;
      const { data: sent, ...expected } = change.batch;
      assert.deepEqual(rest, expected);
      assert.deepEqual([...data], [...sent]);
    } else {
      assert.deepEqual(decoded.change, change);
    }
  }
});

Deno.test("a schema keeps its column order through a record", () => {
  const decoded = decodeRecord(encodeRecord({ seq: 1, change: CHANGES[0] }));
  assert.equal(decoded.change.type, "create");
  if (decoded.change.type === "create") {
    assert.deepEqual(Object.keys(decoded.change.def.schema), ["z", "a", "m"]);
  }
});

Deno.test("a batch's payload is carried as is, binary bytes included", () => {
  const data = Uint8Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff);
  const body = encodeRecord({
    seq: 9,
    change: { type: "batch", batch: { table: "t", op: "update", format: "arrow", data, rows: 3 } },
  });
  const decoded = decodeRecord(body);
  assert.equal(decoded.change.type, "batch");
  if (decoded.change.type === "batch") {
    assert.deepEqual([...decoded.change.batch.data], [...data]);
    // A view into the body, not a copy: replay reads large batches without copying them.
    assert.equal(decoded.change.batch.data.buffer, body.buffer);
  }
});

Deno.test("decodeRecord refuses a short body, another version, an unknown type and a bad header", () => {
  const good = encodeRecord({ seq: 1, change: CHANGES[0] });
  const cases: [string, Uint8Array][] = [
    ["short", good.slice(0, 10)],
    ["version", Uint8Array.from(good, (b, i) => i === 0 ? 2 : b)],
    ["type", Uint8Array.from(good, (b, i) => i === 1 ? 9 : b)],
    ["header length", Uint8Array.from(good, (b, i) => i === 12 ? 0xff : b)],
    ["header text", Uint8Array.from(good, (b, i) => i === 16 ? 0xff : b)],
  ];
  for (const [what, body] of cases) {
    assert.throws(() => decodeRecord(body), RecordFormatError, what);
  }
});
