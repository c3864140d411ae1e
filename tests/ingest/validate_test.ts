import assert from "node:assert/strict";
import { cellError, isIsoDate, isIsoDateTime } from "../../src/ingest/cells.ts";
import { scanCsv } from "../../src/ingest/validate_csv.ts";
import { checkDepth } from "../../src/ingest/json_safe.ts";
import { validateBatch } from "../../src/ingest/validate.ts";
import { IngestError } from "../../src/ingest/batch.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("cellError() refuses what the engine would coerce silently", () => {
  assert.equal(cellError("integer", 5), undefined);
  assert.match(cellError("integer", 1.5)!, /integer/);
  assert.match(cellError("integer", 2 ** 31)!, /32-bit/);
  assert.match(cellError("float", "1.5")!, /number/);
  assert.match(cellError("string", 12)!, /string/);
  assert.match(cellError("boolean", 1)!, /true or false/);
  assert.equal(cellError("date", "2024-02-29"), undefined);
  assert.ok(cellError("date", "2023-02-29"));
  assert.equal(cellError("datetime", "2024-01-05 10:11:12.345+02:00"), undefined);
  assert.ok(cellError("datetime", "2024-01-05T25:00:00"));
  assert.equal(cellError("float", null), undefined);
  assert.ok(isIsoDate("2024-12-31") && !isIsoDate("2024-13-01"));
  assert.ok(isIsoDateTime("2024-12-31T23:59:59Z") && !isIsoDateTime("2024-12-31T23:60:00Z"));
});

Deno.test("scanCsv() counts records with quoted commas, quotes and line breaks", () => {
  const scan = scanCsv(enc('a,b\r\n"x,1","say ""hi"""\n"multi\nline",2\n\n3,\n'));
  assert.deepEqual(scan.header, ["a", "b"]);
  assert.equal(scan.rows, 3);
  assert.throws(() => scanCsv(enc('a,b\n"open,1\n')), IngestError);
  assert.throws(() => scanCsv(enc("a,b\n1\n")), /fields/);
  assert.throws(
    () => scanCsv(enc("a,b\n1,2\n,3\n"), "a"),
    (e) => e instanceof IngestError && e.status === 422,
  );
  assert.equal(scanCsv(enc("a,b\n")).rows, 0);
});

Deno.test("checkDepth() counts brackets outside strings only", () => {
  checkDepth(enc('[{"a": "[[[[[[[[[["}]'), 3);
  checkDepth(enc('["\\"[[[["]'), 2);
  assert.throws(() => checkDepth(enc("[[[[1]]]]"), 3), /deeper than 3/);
});

Deno.test("validateBatch() infers a schema for a new table and checks it", () => {
  const valid = validateBatch(
    { table: "n", op: "update", format: "json", bytes: enc('{"a": [1, 2.5], "b": ["x", null]}') },
    undefined,
  );
  assert.equal(valid.format, "columns");
  assert.deepEqual({ ...valid.create!.schema }, { a: "float", b: "string" });
  assert.throws(
    () => validateBatch({ table: "n", op: "replace", format: "json", bytes: enc("[]") }, undefined),
    (e) => e instanceof IngestError && e.status === 404,
  );
});
