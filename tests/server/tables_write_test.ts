import assert from "node:assert/strict";
import { ack, body, withApi } from "../support/ingest.ts";
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
    assert.deepEqual(ack(res.body), { table: "r", rows: 5, size: 3 });
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

const ROLLING = { schema: { n: "integer", tag: "string" }, limit: 5 };
const rolling = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ n: from + i, tag: `r${from + i}` }));

Deno.test("POST rows to a table with a limit keeps the newest rows of several batches, in order", async () => {
  await withApi(async (api) => {
    assert.deepEqual((await api.json("PUT", "/api/tables/r", json(ROLLING))).status, 201);
    const sizes = [];
    for (const from of [1, 4, 7]) {
      sizes.push(ack((await api.json("POST", "/api/tables/r/rows", json(rolling(from, 3)))).body));
    }
    assert.deepEqual(sizes, [
      { table: "r", rows: 3, size: 3 },
      { table: "r", rows: 3, size: 5 },
      { table: "r", rows: 3, size: 5 },
    ]);
    assert.deepEqual(await api.rows("r"), {
      n: [5, 6, 7, 8, 9],
      tag: ["r5", "r6", "r7", "r8", "r9"],
    });
  });
});

Deno.test("PUT rows of more rows than a table's limit keeps the newest of them, in order", async () => {
  await withApi(async (api) => {
    assert.deepEqual((await api.json("PUT", "/api/tables/r", json(ROLLING))).status, 201);
    for (const from of [1, 4, 7]) {
      assert.deepEqual(
        (await api.json("POST", "/api/tables/r/rows", json(rolling(from, 3)))).status,
        200,
      );
    }
    const res = await api.json("PUT", "/api/tables/r/rows", json(rolling(100, 7)));
    assert.deepEqual(ack(res.body), { table: "r", rows: 7, size: 5 });
    assert.deepEqual(await api.rows("r"), {
      n: [102, 103, 104, 105, 106],
      tag: ["r102", "r103", "r104", "r105", "r106"],
    });
  });
});

Deno.test("GET /api/tables lists every table's name, size, schema, index and limit, sorted by name", async () => {
  await withApi(async (api) => {
    // Created out of name order, so only sorting puts them in it.
    assert.deepEqual(
      (await api.json("PUT", "/api/tables/zeta", json({ schema: { n: "integer" }, limit: 2 })))
        .status,
      201,
    );
    await api.json("POST", "/api/tables/zeta/rows", json([{ n: 1 }, { n: 2 }, { n: 3 }]));
    assert.deepEqual((await api.json("PUT", "/api/tables/alpha", json(DEF))).status, 201);
    await api.json("POST", "/api/tables/alpha/rows", json([{ id: 1 }, { id: 2 }, { id: 1 }]));
    const res = await api.json("GET", "/api/tables");
    assert.deepEqual(res.status, 200);
    assert.deepEqual(res.body, [
      { name: "alpha", size: 2, schema: DEF.schema, index: "id", limit: null },
      { name: "zeta", size: 2, schema: { n: "integer" }, index: null, limit: 2 },
    ]);
  });
});
