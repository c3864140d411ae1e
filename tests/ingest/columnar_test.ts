import assert from "node:assert/strict";
import { rowsToColumns } from "../../src/ingest/columnar.ts";
import { body, withApi } from "../support/ingest.ts";

const json = (v: unknown) => body("application/json", JSON.stringify(v));
const ndjson = (rows: unknown[]) =>
  body("application/x-ndjson", rows.map((r) => JSON.stringify(r)).join("\n"));
const decode = (bytes: Uint8Array | undefined) =>
  bytes && JSON.parse(new TextDecoder().decode(bytes));

Deno.test("rowsToColumns() turns rows with one key set into columns", () => {
  const rows = [{ id: 1, name: "a" }, { name: "b", id: 2 }, { id: 3, name: null }];
  assert.deepEqual(decode(rowsToColumns(rows)), { id: [1, 2, 3], name: ["a", "b", null] });
});

Deno.test("rowsToColumns() leaves rows alone when a row omits or adds a key", () => {
  assert.equal(rowsToColumns([{ id: 1, name: "a" }, { id: 2 }]), undefined);
  assert.equal(rowsToColumns([{ id: 1 }, { id: 2, name: "b" }]), undefined);
  assert.equal(rowsToColumns([{ id: 1, a: 1 }, { id: 2, b: 1 }]), undefined);
  assert.equal(rowsToColumns([]), undefined);
});

Deno.test("rowsToColumns() keeps a __proto__ key as an ordinary column", () => {
  const row = JSON.parse('{"__proto__": 5, "id": 1}');
  const text = new TextDecoder().decode(rowsToColumns([row]));
  assert.equal(text, '{"__proto__":[5],"id":[1]}');
});

Deno.test("POST rows keeps partial-row upserts partial, whatever the rows' shape", async () => {
  await withApi(async (api) => {
    const def = { schema: { id: "integer", a: "float", b: "string" }, index: "id" };
    assert.equal((await api.json("PUT", "/api/tables/t", json(def))).status, 201);
    const full = [{ id: 1, a: 1, b: "x" }, { id: 2, a: 2, b: "y" }];
    assert.equal((await api.json("POST", "/api/tables/t/rows", json(full))).status, 200);
    // Row 1 omits b: it must keep "x"; row 2 sets b to null explicitly.
    const partial = [{ id: 1, a: 10 }, { id: 2, a: 20, b: null }];
    assert.equal((await api.json("POST", "/api/tables/t/rows", json(partial))).status, 200);
    assert.deepEqual(await api.rows("t"), { id: [1, 2], a: [10, 20], b: ["x", null] });
    // Uniform rows, which go to the engine as columns, upsert the same way.
    const uniform = [{ id: 2, a: 21 }, { id: 3, a: 3 }];
    assert.equal((await api.json("POST", "/api/tables/t/rows", ndjson(uniform))).status, 200);
    assert.deepEqual(await api.rows("t"), { id: [1, 2, 3], a: [10, 21, 3], b: ["x", null, null] });
  });
});

Deno.test("PUT rows replaces with uniform JSON and NDJSON rows", async () => {
  await withApi(async (api) => {
    const def = { schema: { id: "integer", a: "float" }, index: "id" };
    assert.equal((await api.json("PUT", "/api/tables/t", json(def))).status, 201);
    const rows = [{ id: 1, a: 1 }, { id: 2, a: 2 }];
    assert.equal((await api.json("PUT", "/api/tables/t/rows", json(rows))).status, 200);
    assert.deepEqual(await api.rows("t"), { id: [1, 2], a: [1, 2] });
    const next = [{ id: 7, a: 7 }];
    assert.equal((await api.json("PUT", "/api/tables/t/rows", ndjson(next))).status, 200);
    assert.deepEqual(await api.rows("t"), { id: [7], a: [7] });
  });
});
