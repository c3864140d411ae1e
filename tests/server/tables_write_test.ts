import assert from "node:assert/strict";
import { body, withApi } from "../support/ingest.ts";
import { MAX_DEFINITION_BYTES } from "../../src/server/tables_write.ts";

const DEF = { schema: { id: "integer", name: "string", price: "float" }, index: "id" };
const json = (v: unknown) => body("application/json", JSON.stringify(v));

async function compressed(format: CompressionFormat, text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("PUT /api/tables/{table} returns 201, 200 for the same definition, 409 for another", async () => {
  await withApi(async (api) => {
    const created = await api.json("PUT", "/api/tables/t", json(DEF));
    assert.deepEqual(created.status, 201);
    assert.deepEqual(created.body, { name: "t", size: 0, ...DEF, limit: null });
    assert.deepEqual((await api.json("PUT", "/api/tables/t", json(DEF))).status, 200);
    const other = await api.json("PUT", "/api/tables/t", json({ ...DEF, index: "name" }));
    assert.deepEqual(other.status, 409);
    assert.deepEqual((await api.json("GET", "/api/tables/t")).body.index, "id");
  });
});

Deno.test("PUT /api/tables/{table} returns 400 naming the bad field and creates nothing", async () => {
  await withApi(async (api) => {
    for (
      const [def, field] of [
        [{ schema: { a: "money" } }, "schema.a"],
        [{ schema: {} }, "schema"],
        [{ schema: { a: "integer" }, index: "b" }, "index"],
        [{ schema: { a: "integer" }, limit: 0 }, "limit"],
        [{ schema: { a: "integer" }, index: "a", limit: 5 }, "limit"],
        [{ schema: { a: "integer" }, extra: 1 }, "extra"],
      ] as const
    ) {
      const res = await api.json("PUT", "/api/tables/bad", json(def));
      assert.deepEqual(res.status, 400, JSON.stringify(def));
      assert.ok(res.body.detail.startsWith(`${field}:`), res.body.detail);
    }
    const malformed = await api.json("PUT", "/api/tables/bad", body("application/json", "{"));
    assert.deepEqual(malformed.status, 400);
    assert.deepEqual((await api.json("GET", "/api/tables/bad")).status, 404);
  });
});

Deno.test("PUT /api/tables/{table} returns 415 for a non-JSON definition", async () => {
  await withApi(async (api) => {
    const res = await api.json("PUT", "/api/tables/t", body("text/csv", "a\n1\n"));
    assert.deepEqual(res.status, 415);
    assert.deepEqual((await api.json("GET", "/api/tables/t")).status, 404);
  });
});

Deno.test("PUT /api/tables/{table} accepts a gzip or deflate definition", async () => {
  await withApi(async (api) => {
    for (const [table, coding] of [["g", "gzip"], ["d", "deflate"]] as const) {
      const data = await compressed(coding, JSON.stringify(DEF));
      const res = await api.json(
        "PUT",
        `/api/tables/${table}`,
        body("application/json", data, { "content-encoding": coding }),
      );
      assert.deepEqual(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(res.body, { name: table, size: 0, ...DEF, limit: null });
      assert.deepEqual((await api.json("GET", `/api/tables/${table}`)).body.index, "id");
    }
  });
});

Deno.test("PUT /api/tables/{table} returns 415 for an unknown content coding and creates nothing", async () => {
  await withApi(async (api) => {
    const res = await api.json(
      "PUT",
      "/api/tables/t",
      body("application/json", JSON.stringify(DEF), { "content-encoding": "br" }),
    );
    assert.deepEqual(res.status, 415);
    assert.deepEqual((await api.json("GET", "/api/tables/t")).status, 404);
  });
});

Deno.test("PUT /api/tables/{table} returns 413 for an oversize definition and creates nothing", async () => {
  // Valid JSON past the limit, so only the size can refuse it.
  const columns = Array.from({ length: MAX_DEFINITION_BYTES / 8 }, (_, i) => `"c${i}":"string"`);
  const text = `{"schema":{${columns.join(",")}}}`;
  assert.ok(text.length > MAX_DEFINITION_BYTES);
  await withApi(async (api) => {
    const plain = await api.json("PUT", "/api/tables/big", body("application/json", text));
    assert.deepEqual(plain.status, 413);
    // Compressed it is small on the wire; the decoded size is what is limited.
    const gz = await compressed("gzip", text);
    assert.ok(gz.byteLength < MAX_DEFINITION_BYTES);
    const encoded = await api.json(
      "PUT",
      "/api/tables/big",
      body("application/json", gz, { "content-encoding": "gzip" }),
    );
    assert.deepEqual(encoded.status, 413);
    assert.deepEqual((await api.json("GET", "/api/tables/big")).status, 404);
  });
});

Deno.test("PUT /api/tables/{table} with a limit makes a rolling table", async () => {
  await withApi(async (api) => {
    assert.deepEqual(
      (await api.json("PUT", "/api/tables/r", json({ schema: { n: "integer" }, limit: 3 }))).status,
      201,
    );
    const res = await api.json(
      "POST",
      "/api/tables/r/rows",
      json([1, 2, 3, 4, 5].map((n) => ({ n }))),
    );
    assert.deepEqual(res.body, { table: "r", rows: 5, size: 3 });
    assert.deepEqual(new Set((await api.rows("r"))!.n), new Set([3, 4, 5]));
  });
});

Deno.test("DELETE /api/tables/{table} returns 204, then 404", async () => {
  await withApi(async (api) => {
    await api.json("PUT", "/api/tables/t", json(DEF));
    assert.deepEqual((await api.call("DELETE", "/api/tables/t")).status, 204);
    assert.deepEqual((await api.json("GET", "/api/tables/t")).status, 404);
    assert.deepEqual((await api.json("DELETE", "/api/tables/t")).status, 404);
    // The name is free again, for another definition.
    assert.deepEqual(
      (await api.json("PUT", "/api/tables/t", json({ schema: { x: "string" } }))).status,
      201,
    );
    assert.deepEqual(
      (await api.json("POST", "/api/tables/t/rows", json([{ x: "a" }]))).status,
      200,
    );
  });
});

Deno.test("GET /api/openapi.json describes every /api/tables route", async () => {
  await withApi(async (api) => {
    const res = await api.json("GET", "/api/openapi.json");
    assert.deepEqual(res.status, 200);
    assert.deepEqual(res.body.openapi, "3.1.0");
    const rows = res.body.paths["/api/tables/{table}/rows"];
    assert.deepEqual(Object.keys(rows).filter((k) => k !== "parameters").sort(), [
      "delete",
      "get",
      "post",
      "put",
    ]);
    assert.deepEqual(
      Object.keys(res.body.paths["/api/tables/{table}"]).filter((k) => k !== "parameters").sort(),
      ["delete", "get", "put"],
    );
    assert.ok(rows.post.requestBody.content["application/vnd.apache.arrow.stream"]);
  });
});
