import assert from "node:assert/strict";
import { tableFromArrays, tableToIPC } from "apache-arrow";
import { type Api, body, withApi } from "../support/ingest.ts";
import { EngineHost } from "../../src/engine/host.ts";
import { BatchSink } from "../../src/ingest/sink.ts";
import { createHandler } from "../../src/server/handler.ts";
import { DEFAULT_INGEST_LIMITS } from "../../src/ingest/limits.ts";

const SCHEMA = { id: "integer", name: "string", price: "float", day: "date" };
const ARROW = "application/vnd.apache.arrow.stream";
const json = (v: unknown) => body("application/json", JSON.stringify(v));

async function setup(api: Api): Promise<Record<string, unknown[]>> {
  await api.json("PUT", "/api/tables/t", json({ schema: SCHEMA, index: "id" }));
  await api.json("POST", "/api/tables/t/rows", json([{ id: 1, name: "a", price: 1.5 }, { id: 2 }]));
  return (await api.rows("t"))!;
}

/** Sends a request, checks the problem response, and checks the table did not change. */
async function refused(
  api: Api,
  before: Record<string, unknown[]>,
  status: number,
  method: string,
  init: RequestInit,
  path = "/api/tables/t/rows",
): Promise<string> {
  const res = await api.call(method, path, init);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const problem = await res.json();
  assert.equal(res.status, status, `${method} ${JSON.stringify(problem)}`);
  assert.equal(problem.status, status);
  assert.deepEqual(await api.rows("t"), before, "the table changed");
  return problem.detail;
}

Deno.test("malformed bodies are 400 and change nothing, including input the engine would take", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    const arrow = tableToIPC(tableFromArrays({ id: Int32Array.from([7, 8, 9]) }), "stream");
    for (const method of ["POST", "PUT"]) {
      await refused(api, before, 400, method, body("application/json", '[{"id": 5}, {"id": 6'));
      await refused(api, before, 400, method, body("application/json", '"rows"'));
      await refused(api, before, 400, method, body("application/json", "[1, 2]"));
      await refused(
        api,
        before,
        400,
        method,
        body("application/json", '{"id": [1, 2], "name": ["x"]}'),
      );
      await refused(api, before, 400, method, body("application/x-ndjson", '{"id": 5}\n{"id": \n'));
      await refused(
        api,
        before,
        400,
        method,
        body("application/x-ndjson", '{"id": 5} {"id": 6}\n'),
      );
      await refused(api, before, 400, method, body("text/csv", 'id,name\n5,x\n6,"y\n'));
      await refused(api, before, 400, method, body("text/csv", "id,name\n5,x,extra\n"));
      await refused(api, before, 400, method, body("text/csv", ""));
      await refused(api, before, 400, method, body(ARROW, arrow.slice(0, arrow.byteLength - 20)));
      await refused(
        api,
        before,
        400,
        method,
        body(ARROW, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])),
      );
      await refused(
        api,
        before,
        400,
        method,
        body("application/json", new Uint8Array([0x5b, 0xff, 0x5d])),
      );
    }
    await refused(
      api,
      before,
      400,
      "POST",
      body("application/json", "[{}]", { "content-encoding": "gzip" }),
    );
    await refused(api, before, 400, "DELETE", body("application/json", '{"id": 1}'));
  });
});

Deno.test("batches that do not fit the schema are 422 and change nothing", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    const cases: [string, string][] = [
      ["application/json", JSON.stringify([{ id: 3 }, { id: 4, zz: 1 }])],
      ["application/json", JSON.stringify([{ id: 3, price: "notanumber" }])],
      ["application/json", JSON.stringify([{ id: 3.5 }])],
      ["application/json", JSON.stringify([{ id: 3000000000 }])],
      ["application/json", JSON.stringify([{ id: 3, name: 12 }])],
      ["application/json", JSON.stringify([{ id: 3, name: { x: 1 } }])],
      ["application/json", JSON.stringify([{ id: 3, day: "05/01/2024" }])],
      ["application/json", JSON.stringify([{ name: "no index" }])],
      ["application/json", JSON.stringify({ id: [3], zz: [1] })],
      ["application/x-ndjson", '{"id": 3}\n{"id": 4, "price": true}\n'],
      ["text/csv", "id,zz\n3,1\n"],
      ["text/csv", "name\nno index\n"],
      ["text/csv", "id,price\n3,1.5\n4,hello\n"],
      ["text/csv", "id,name\n3,x\n,y\n"],
    ];
    for (const method of ["POST", "PUT"]) {
      for (const [type, data] of cases) await refused(api, before, 422, method, body(type, data));
      const arrowCases = [
        { id: Float64Array.from([3.5]) },
        { id: Int32Array.from([3]), zz: Int32Array.from([1]) },
        { id: Int32Array.from([3]), name: Int32Array.from([1]) },
        { id: BigInt64Array.from([3000000000n]) },
        { name: ["no index"] },
      ];
      for (const cols of arrowCases) {
        const bytes = tableToIPC(
          tableFromArrays(cols as unknown as Parameters<typeof tableFromArrays>[0]),
        );
        await refused(api, before, 422, method, body(ARROW, bytes));
      }
    }
    await refused(api, before, 422, "DELETE", json(["x"]));
    await refused(api, before, 422, "DELETE", json([null]));
  });
});

Deno.test("removing keys from a table without an index is 422", async () => {
  await withApi(async (api) => {
    await api.json("PUT", "/api/tables/t", json({ schema: SCHEMA }));
    await api.json("POST", "/api/tables/t/rows", json([{ id: 1 }]));
    await refused(api, (await api.rows("t"))!, 422, "DELETE", json([1]));
  });
});

/** Checks that `name` does not exist, by `GET /api/tables/{name}` and in the listing. */
async function assertNoTable(api: Api, name: string): Promise<void> {
  assert.equal((await api.json("GET", `/api/tables/${name}`)).status, 404, `${name} exists`);
  const list = await api.json("GET", "/api/tables");
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.map((t: { name: string }) => t.name), ["t"]);
}

Deno.test("an unknown table is 404 for every row route, and none of them creates it", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    await refused(api, before, 404, "PUT", json([{ id: 1 }]), "/api/tables/nope/rows");
    await refused(api, before, 404, "DELETE", json([1]), "/api/tables/nope/rows");
    await refused(api, before, 404, "DELETE", {}, "/api/tables/nope/rows");
    await refused(api, before, 404, "GET", {}, "/api/tables/nope/rows");
    await assertNoTable(api, "nope");
  });
});

Deno.test("POST rows with ?create=false to an unknown table is 404 and creates no table", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    for (const flag of ["false", "0"]) {
      await refused(
        api,
        before,
        404,
        "POST",
        json([{ id: 1, name: "x" }]),
        `/api/tables/nope/rows?create=${flag}`,
      );
      await assertNoTable(api, "nope");
    }
    // The same batch without the flag creates the table, so the 404 is the flag's doing.
    const created = await api.json("POST", "/api/tables/nope/rows", json([{ id: 1, name: "x" }]));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await api.json("GET", "/api/tables/nope")).status, 200);
  });
});

Deno.test("a different definition for an existing table is 409 and changes nothing", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    await refused(api, before, 409, "PUT", json({ schema: { id: "string" } }), "/api/tables/t");
    assert.equal((await api.json("GET", "/api/tables/t")).body.schema.id, "integer");
  });
});

Deno.test("unknown media types and codings are 415 and change nothing", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    await refused(api, before, 415, "POST", body("application/xml", "<rows/>"));
    await refused(api, before, 415, "POST", { body: "[]" });
    await refused(api, before, 415, "POST", body("text/csv; charset=latin1", "id\n3\n"));
    await refused(
      api,
      before,
      415,
      "POST",
      body("application/json", "[]", { "content-encoding": "br" }),
    );
    await refused(api, before, 415, "DELETE", body("text/csv", "id\n1\n"));
  });
});

/** A body stream that counts how many bytes the server pulled from it. */
function countingBody(total: number, chunk = 16 * 1024) {
  const counter = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (counter.pulled >= total) return controller.close();
      const n = Math.min(chunk, total - counter.pulled);
      counter.pulled += n;
      controller.enqueue(new Uint8Array(n).fill(0x20));
    },
  });
  return { stream, counter };
}

Deno.test("a body over the limit is 413, cut off after at most limit + 64 KiB read", async () => {
  const host = await EngineHost.create();
  const limits = {
    ...DEFAULT_INGEST_LIMITS,
    maxBodyBytes: 256 * 1024,
    maxDecodedBytes: 512 * 1024,
  };
  const sink = new BatchSink(host, { limits });
  const handler = createHandler({ host, sink });
  try {
    await handler(
      new Request("http://x/api/tables/t", { method: "PUT", ...json({ schema: SCHEMA }) }),
    );
    const { stream, counter } = countingBody(8 * 1024 * 1024);
    const res = await handler(
      new Request("http://x/api/tables/t/rows", {
        method: "POST",
        body: stream,
        headers: { "content-type": "application/json" },
      }),
    );
    assert.equal(res.status, 413);
    await res.body?.cancel();
    assert.ok(counter.pulled <= limits.maxBodyBytes + 64 * 1024, `read ${counter.pulled} bytes`);

    const declared = await handler(
      new Request("http://x/api/tables/t/rows", {
        method: "POST",
        body: "[]",
        headers: { "content-type": "application/json", "content-length": String(1e9) },
      }),
    );
    assert.equal(declared.status, 413);
    await declared.body?.cancel();

    // 4 MiB of spaces gzip to a few KiB: under the body limit, over the decoded one.
    const bomb = new Blob([" ".repeat(4 * 1024 * 1024)]).stream().pipeThrough(
      new CompressionStream("gzip"),
    );
    const packed = new Uint8Array(await new Response(bomb).arrayBuffer());
    assert.ok(packed.byteLength < limits.maxBodyBytes);
    const decoded = await handler(
      new Request("http://x/api/tables/t/rows", {
        method: "POST",
        body: packed,
        headers: { "content-type": "application/json", "content-encoding": "gzip" },
      }),
    );
    assert.equal(decoded.status, 413);
    assert.match((await decoded.json()).detail, /decoded/);
    assert.equal((await host.tableInfo("t"))!.size, 0);
  } finally {
    await sink.close();
    host.close();
  }
});

/** `text` compressed with `coding`. */
async function compress(coding: CompressionFormat, text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream(coding));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("well-formed row bodies over the size limits are 413 for POST, PUT and DELETE and change nothing", async () => {
  const limits = { ...DEFAULT_INGEST_LIMITS, maxBodyBytes: 64 * 1024, maxDecodedBytes: 128 * 1024 };
  await withApi(async (api) => {
    const before = await setup(api);
    const rows = (n: number) =>
      JSON.stringify(
        Array.from({ length: n }, (_, i) => ({ id: i + 1, name: `row ${i}`, price: i / 4 })),
      );
    // Keys 1 and 2, both in the table, so removing them would change it.
    const keys = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => i % 2 + 1));
    const plainRows = rows(2_000);
    const plainKeys = keys(40_000);
    const bigRows = rows(6_000);
    const bigKeys = keys(80_000);
    for (const text of [plainRows, plainKeys]) {
      assert.ok(text.length > limits.maxBodyBytes && text.length < limits.maxDecodedBytes);
    }
    const packedRows = await compress("deflate", bigRows);
    const packedKeys = await compress("deflate", bigKeys);
    for (const [text, packed] of [[bigRows, packedRows], [bigKeys, packedKeys]] as const) {
      assert.ok(text.length > limits.maxDecodedBytes, `${text.length} bytes decoded`);
      assert.ok(packed.byteLength < limits.maxBodyBytes, `${packed.byteLength} bytes sent`);
    }
    const deflate = { "content-encoding": "deflate" };
    const cases: [string, RequestInit, RegExp][] = [
      ["POST", body("application/json", plainRows), /request body/],
      ["PUT", body("application/json", plainRows), /request body/],
      ["DELETE", body("application/json", plainKeys), /request body/],
      ["POST", body("application/json", packedRows, deflate), /decoded/],
      ["PUT", body("application/json", packedRows, deflate), /decoded/],
      ["DELETE", body("application/json", packedKeys, deflate), /decoded/],
    ];
    for (const [method, init, detail] of cases) {
      assert.match(await refused(api, before, 413, method, init), detail, method);
    }
    // With room for them the same bodies are taken, so only their size refused them.
    limits.maxBodyBytes = limits.maxDecodedBytes = DEFAULT_INGEST_LIMITS.maxBodyBytes;
    for (const [method, init] of cases) {
      const res = await api.json(method, "/api/tables/t/rows", init);
      assert.equal(res.status, 200, `${method} ${JSON.stringify(res.body)}`);
    }
    assert.notDeepEqual(await api.rows("t"), before);
  }, { limits });
});

Deno.test("__proto__ and constructor keys never reach a prototype", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    const detail = await refused(
      api,
      before,
      422,
      "POST",
      body("application/json", '[{"id": 3, "__proto__": {"polluted": 1}}]'),
    );
    assert.match(detail, /__proto__/);
    await refused(
      api,
      before,
      422,
      "POST",
      body("application/json", '[{"id": 3, "constructor": {"prototype": {"polluted": 1}}}]'),
    );
    await refused(
      api,
      before,
      422,
      "POST",
      body("application/x-ndjson", '{"id": 3, "__proto__": {"polluted": 1}}\n'),
    );
    await refused(
      api,
      before,
      422,
      "POST",
      body("application/json", '{"id": [3], "constructor": [1]}'),
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const created = await api.json(
      "POST",
      "/api/tables/p/rows",
      body("application/json", '[{"__proto__": "x", "a": 1}]'),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(Object.keys((await api.json("GET", "/api/tables/p")).body.schema).sort(), [
      "__proto__",
      "a",
    ]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

Deno.test("deep nesting is refused with 400 before it is parsed", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    const deep = "[".repeat(1_000_000) + "]".repeat(1_000_000);
    assert.match(await refused(api, before, 400, "POST", body("application/json", deep)), /deeper/);
    await refused(api, before, 400, "POST", body("application/x-ndjson", `{"a": ${deep}}\n`));
    await refused(api, before, 400, "DELETE", body("application/json", deep));
    await refused(
      api,
      before,
      400,
      "PUT",
      body("application/json", `{"schema": ${"[".repeat(10_000)}${"]".repeat(10_000)}}`),
      "/api/tables/t2",
    );
  });
});
