import assert from "node:assert/strict";
import { fields, ProtocolError, pushBytes, pushVarintField } from "../../src/protocol/wire.ts";

Deno.test("fields() reads back what pushVarintField() and pushBytes() wrote", () => {
  const out: number[] = [];
  pushVarintField(out, 1, 300);
  pushVarintField(out, 3, 2 ** 32 - 1);
  pushBytes(out, 2, new TextEncoder().encode("table"));
  const got = [...fields(new Uint8Array(out))].map((f) => [f.no, f.wire, f.int, f.bytes.length]);
  assert.deepEqual(got, [[1, 0, 300, 0], [3, 0, 2 ** 32 - 1, 0], [2, 2, 0, 5]]);
});

Deno.test("fields() keeps only the low 32 bits of a long varint, as uint32 does", () => {
  const out: number[] = [];
  pushVarintField(out, 1, 2 ** 40 + 7);
  const [f] = fields(new Uint8Array(out));
  assert.equal(f.int, 7);
});

Deno.test("fields() refuses truncated data, field 0, groups and runaway varints", () => {
  const bad = [
    [0x0a, 0x05, 0x61], // length 5, one byte present
    [0x08], // varint key with no value
    [0x00, 0x01], // field number 0
    [0x0b], // start-group wire type
    [0x09, 1, 2, 3], // fixed64 cut short
    [0x08, ...Array(11).fill(0xff)], // varint longer than 10 bytes
  ];
  for (const bytes of bad) {
    assert.throws(() => [...fields(new Uint8Array(bytes))], ProtocolError, String(bytes));
  }
});
