import assert from "node:assert/strict";
import { tableFromArrays, tableFromIPC, tableToIPC } from "apache-arrow";
import { ack, type Api, body, withApi } from "../support/ingest.ts";
import { TYPED_SCHEMA } from "../support/export_data.ts";

const SCHEMA = { id: "integer", name: "string", price: "float" };
const ROWS = [
  { id: 1, name: "a", price: 1.5 },
  { id: 2, name: "b", price: 2.5 },
];
const ARROW = "application/vnd.apache.arrow.stream";
const json = (v: unknown) => body("application/json", JSON.stringify(v));

async function setup(api: Api, index: string | null = "id"): Promise<void> {
  const def = index ? { schema: SCHEMA, index } : { schema: SCHEMA };
  assert.equal((await api.json("PUT", "/api/tables/t", json(def))).status, 201);
  assert.equal((await api.json("POST", "/api/tables/t/rows", json(ROWS))).status, 200);
}

function arrowBytes(
  cols: Record<string, unknown>,
  format: "stream" | "file" = "stream",
): Uint8Array {
  // deno-lint-ignore no-explicit-any
  return tableToIPC(tableFromArrays(cols as any), format);
}

async function gzip(text: string, format: CompressionFormat = "gzip"): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("POST rows accepts every format and upserts on the index", async () => {
  await withApi(async (api) => {
    await setup(api);
    const cases: [string, BodyInit, number][] = [
      ["text/csv", "id,name\n1,csv\n3,c\n", 3],
      ["application/x-ndjson", '{"id":4,"price":4.5}\r\n\n{"id":2,"name":"nd"}\n', 4],
      ["application/json", JSON.stringify({ id: [5, 6], name: ["e", "f"] }), 6],
      [ARROW, arrowBytes({ id: Int32Array.from([7]), name: ["g"] }) as BodyInit, 7],
      [
        "application/vnd.apache.arrow.file",
        arrowBytes(
          { id: Int32Array.from([8]), price: Float64Array.from([8.5]) },
          "file",
        ) as BodyInit,
        8,
      ],
    ];
    for (const [type, data, size] of cases) {
      const res = await api.json("POST", "/api/tables/t/rows", body(type, data));
      assert.equal(res.status, 200, `${type}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.size, size, type);
    }
    const rows = (await api.rows("t"))!;
    assert.deepEqual(rows.id, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(rows.name, ["csv", "nd", "c", null, "e", "f", "g", null]);
    assert.deepEqual(rows.price, [1.5, 2.5, null, 4.5, null, null, null, 8.5]);
  });
});

Deno.test("POST rows accepts gzip and deflate bodies", async () => {
  await withApi(async (api) => {
    await setup(api);
    for (
      const [coding, format, id] of [["gzip", "gzip", 10], ["deflate", "deflate", 11], [
        "deflate",
        "deflate-raw",
        12,
      ]] as const
    ) {
      const res = await api.json(
        "POST",
        "/api/tables/t/rows",
        body(
          "application/json",
          await gzip(JSON.stringify([{ id, name: coding }]), format) as BodyInit,
          { "content-encoding": coding },
        ),
      );
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    assert.deepEqual((await api.rows("t"))!.id, [1, 2, 10, 11, 12]);
  });
});

Deno.test("PUT rows replaces every row, in each format", async () => {
  await withApi(async (api) => {
    await setup(api);
    const cases: [string, BodyInit, number[]][] = [
      ["application/json", JSON.stringify([{ id: 9 }]), [9]],
      ["application/x-ndjson", '{"id":7}\n{"id":8}\n', [7, 8]],
      ["text/csv", "id\n3\n", [3]],
      [ARROW, arrowBytes({ id: Int32Array.from([4, 5]) }) as BodyInit, [4, 5]],
    ];
    for (const [type, data, ids] of cases) {
      const res = await api.json("PUT", "/api/tables/t/rows", body(type, data));
      assert.equal(res.status, 200, `${type}: ${JSON.stringify(res.body)}`);
      assert.deepEqual((await api.rows("t"))!.id, ids, type);
    }
  });
});

Deno.test("DELETE rows removes index keys, and clears without a body", async () => {
  await withApi(async (api) => {
    await setup(api);
    await api.json("POST", "/api/tables/t/rows", json([{ id: 3 }]));
    const removed = await api.json("DELETE", "/api/tables/t/rows", json([1, 3, 99]));
    assert.deepEqual(ack(removed.body), { table: "t", rows: 2, size: 1 });
    assert.deepEqual((await api.rows("t"))!.id, [2]);
    const cleared = await api.json("DELETE", "/api/tables/t/rows");
    assert.deepEqual(ack(cleared.body), { table: "t", rows: 1, size: 0 });
    assert.deepEqual((await api.json("GET", "/api/tables/t")).body.schema, SCHEMA);
  });
});

Deno.test("GET rows exports each format, and an Arrow export POSTs back to the same rows", async () => {
  await withApi(async (api) => {
    await setup(api);
    const csv = await api.call("GET", "/api/tables/t/rows?format=csv");
    assert.equal(csv.headers.get("content-type"), "text/csv; charset=utf-8");
    assert.match(await csv.text(), /^"id","name","price"\n1,"a",1.5\n2,"b",2.5\n$/);
    assert.deepEqual(await (await api.call("GET", "/api/tables/t/rows")).json(), ROWS);
    const nd = await api.call("GET", "/api/tables/t/rows", {
      headers: { accept: "application/x-ndjson" },
    });
    assert.deepEqual((await nd.text()).trim().split("\n").map((l) => JSON.parse(l)), ROWS);
    const cols = await (await api.call("GET", "/api/tables/t/rows?format=columns")).json();
    assert.deepEqual(cols.id, [1, 2]);
    assert.equal(
      (await api.call("GET", "/api/tables/t/rows", { headers: { accept: "image/png" } })).status,
      406,
    );
    assert.equal((await api.call("GET", "/api/tables/t/rows?format=xml")).status, 400);
    assert.equal((await api.call("GET", "/api/tables/nope/rows")).status, 404);

    const arrow = await api.call("GET", "/api/tables/t/rows", { headers: { accept: ARROW } });
    assert.equal(arrow.headers.get("content-type"), ARROW);
    const bytes = new Uint8Array(await arrow.arrayBuffer());
    assert.equal(tableFromIPC(bytes).numRows, 2);
    const back = await api.json("POST", "/api/tables/copy/rows", body(ARROW, bytes as BodyInit));
    assert.deepEqual(ack(back.body), { table: "copy", rows: 2, size: 2 });
    assert.deepEqual(await api.rows("copy"), await api.rows("t"));
    assert.deepEqual((await api.json("GET", "/api/tables/copy")).body.schema, SCHEMA);
  });
});

Deno.test("POST rows creates a missing table from the batch, honouring index and limit", async () => {
  await withApi(async (api) => {
    const res = await api.json(
      "POST",
      "/api/tables/new/rows?index=k",
      json([{ k: "a", n: 1, x: 1.5, b: true, d: "2024-01-05", t: "2024-01-05T10:11:12Z" }]),
    );
    assert.equal(res.status, 201);
    const info = (await api.json("GET", "/api/tables/new")).body;
    assert.deepEqual(info.schema, {
      k: "string",
      n: "integer",
      x: "float",
      b: "boolean",
      d: "date",
      t: "datetime",
    });
    assert.equal(info.index, "k");
    await api.json("POST", "/api/tables/new/rows", json([{ k: "a", n: 2 }]));
    assert.deepEqual((await api.rows("new"))!.n, [2]);

    const csv = await api.json(
      "POST",
      "/api/tables/roll/rows?limit=2",
      body("text/csv", "k,v\na,1\nb,2\nc,3\n"),
    );
    assert.deepEqual(ack(csv.body), { table: "roll", rows: 3, size: 2 });
    assert.equal((await api.json("GET", "/api/tables/roll")).body.limit, 2);

    const mixed = await api.json("POST", "/api/tables/mixed/rows", json([{ a: 1 }, { a: "x" }]));
    assert.equal(mixed.status, 422);
    assert.equal((await api.json("GET", "/api/tables/mixed")).status, 404);
    const both = await api.json("POST", "/api/tables/both/rows?index=a&limit=2", json([{ a: 1 }]));
    assert.equal(both.status, 400);
    const missing = await api.json("POST", "/api/tables/idx/rows?index=zz", json([{ a: 1 }]));
    assert.equal(missing.status, 400);
    assert.equal((await api.json("GET", "/api/tables/idx")).status, 404);
  });
});

Deno.test("POST rows returns 404 for a missing table when auto-create is off", async () => {
  await withApi(async (api) => {
    assert.equal(
      (await api.json("POST", "/api/tables/x/rows?create=false", json([{ a: 1 }]))).status,
      404,
    );
    assert.equal((await api.json("GET", "/api/tables/x")).status, 404);
  });
  await withApi(async (api) => {
    assert.equal((await api.json("POST", "/api/tables/x/rows", json([{ a: 1 }]))).status, 404);
    assert.equal((await api.json("PUT", "/api/tables/x/rows", json([{ a: 1 }]))).status, 404);
    assert.equal((await api.json("DELETE", "/api/tables/x/rows")).status, 404);
    assert.equal((await api.json("GET", "/api/tables/x")).status, 404);
  }, { autoCreate: false });
});

Deno.test("ingest events count rows, bytes and errors per submission", async () => {
  await withApi(async (api) => {
    await setup(api);
    await api.json("POST", "/api/tables/t/rows", json([{ id: "x" }]));
    const [create, bad] = [api.events[0], api.events[1]];
    assert.equal(create.source, "http");
    assert.equal(create.rows, 2);
    assert.equal(create.status, 200);
    assert.ok(create.bytes > 0);
    assert.equal(bad.status, 422);
    assert.equal(bad.rows, 0);
  });
});

type Row = { id: number; name: string; price: number };
type Coding = "gzip" | "deflate";
const CODINGS: Coding[] = ["gzip", "deflate"];
const ENCODED: [string, (rows: Row[]) => Uint8Array][] = [
  [ARROW, (rows) =>
    arrowBytes({
      id: Int32Array.from(rows.map((r) => r.id)),
      name: rows.map((r) => r.name),
      price: Float64Array.from(rows.map((r) => r.price)),
    })],
  ["text/csv", (rows) =>
    new TextEncoder().encode(
      `id,name,price\n${rows.map((r) => `${r.id},${r.name},${r.price}\n`).join("")}`,
    )],
  [
    "application/x-ndjson",
    (rows) => new TextEncoder().encode(rows.map((r) => JSON.stringify(r) + "\n").join("")),
  ],
];

async function compress(data: Uint8Array, format: Coding): Promise<BodyInit> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer()) as BodyInit;
}

function columnsOf(rows: Row[]): Record<string, unknown[]> {
  return {
    id: rows.map((r) => r.id),
    name: rows.map((r) => r.name),
    price: rows.map((r) => r.price),
  };
}

/** Two rows per content type and coding, each with its own ids and values. */
function encodedCases(): {
  type: string;
  coding: Coding;
  rows: Row[];
  encode: (r: Row[]) => Uint8Array;
}[] {
  const cases = [];
  let k = 0;
  for (const [type, encode] of ENCODED) {
    for (const coding of CODINGS) {
      const rows = [0, 1].map((j) => ({
        id: 10 + 2 * k + j,
        name: `${coding}-${k}-${j}`,
        price: k + 0.25 * (j + 1),
      }));
      cases.push({ type, coding, rows, encode });
      k++;
    }
  }
  return cases;
}

Deno.test("POST rows accepts gzip and deflate Arrow, CSV and NDJSON bodies", async () => {
  await withApi(async (api) => {
    await setup(api);
    const expected: Row[] = [...ROWS];
    for (const { type, coding, rows, encode } of encodedCases()) {
      const res = await api.json(
        "POST",
        "/api/tables/t/rows",
        body(type, await compress(encode(rows), coding), { "content-encoding": coding }),
      );
      const what = `${type} ${coding}`;
      assert.equal(res.status, 200, `${what}: ${JSON.stringify(res.body)}`);
      expected.push(...rows);
      assert.deepEqual(ack(res.body), { table: "t", rows: 2, size: expected.length }, what);
      assert.deepEqual(await api.rows("t"), columnsOf(expected), what);
    }
  });
});

Deno.test("PUT rows replaces every row from gzip and deflate Arrow, CSV and NDJSON bodies", async () => {
  await withApi(async (api) => {
    await setup(api);
    for (const { type, coding, rows, encode } of encodedCases()) {
      const res = await api.json(
        "PUT",
        "/api/tables/t/rows",
        body(type, await compress(encode(rows), coding), { "content-encoding": coding }),
      );
      const what = `${type} ${coding}`;
      assert.equal(res.status, 200, `${what}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(ack(res.body), { table: "t", rows: 2, size: 2 }, what);
      assert.deepEqual(await api.rows("t"), columnsOf(rows), what);
    }
  });
});

const TYPED_DEF = { schema: { ...TYPED_SCHEMA }, index: "id" };
const TYPED_ROWS = [
  { id: 1, s: "a", f: 1.5, b: true, d: "2024-01-05", t: "2024-01-05T10:11:12.345Z" },
  { id: 2, s: null, f: null, b: false, d: null, t: "1969-12-31T23:59:59Z" },
  { id: 3, s: 'c,"q"', f: -0.25, b: null, d: "1999-12-31", t: null },
];
/** TYPED_ROWS as the engine holds them: dates and date-times as epoch milliseconds. */
const TYPED_COLUMNS = {
  id: [1, 2, 3],
  s: ["a", null, 'c,"q"'],
  f: [1.5, null, -0.25],
  b: [true, false, null],
  d: [Date.UTC(2024, 0, 5), null, Date.UTC(1999, 11, 31)],
  t: [Date.UTC(2024, 0, 5, 10, 11, 12, 345), -1000, null],
};

/**
 * Exports a table of every column type with `?format=`, POSTs the export
 * into a new table of the same definition, and returns both tables' rows.
 */
async function roundTrip(
  api: Api,
  format: string,
  type: string,
): Promise<[Record<string, unknown[]>, Record<string, unknown[]>]> {
  assert.equal((await api.json("PUT", "/api/tables/src", json(TYPED_DEF))).status, 201);
  assert.equal((await api.json("POST", "/api/tables/src/rows", json(TYPED_ROWS))).status, 200);
  const exported = await api.call("GET", `/api/tables/src/rows?format=${format}`);
  assert.equal(exported.status, 200);
  const data = new Uint8Array(await exported.arrayBuffer());
  assert.equal((await api.json("PUT", "/api/tables/copy", json(TYPED_DEF))).status, 201);
  const back = await api.json("POST", "/api/tables/copy/rows", body(type, data as BodyInit));
  assert.equal(back.status, 200, JSON.stringify(back.body));
  assert.deepEqual(ack(back.body), { table: "copy", rows: 3, size: 3 });
  return [(await api.rows("src"))!, (await api.rows("copy"))!];
}

for (
  const [format, type] of [
    ["arrow", ARROW],
    ["json", "application/json"],
    ["ndjson", "application/x-ndjson"],
    ["columns", "application/json"],
  ]
) {
  Deno.test(`GET rows?format=${format} exports every column type and its nulls, and POSTs back to the same rows`, async () => {
    await withApi(async (api) => {
      const [original, copy] = await roundTrip(api, format, type);
      assert.deepEqual(original, TYPED_COLUMNS);
      assert.deepEqual(copy, original);
    });
  });
}

Deno.test("GET rows?format=csv exports every column type and its nulls, and POSTs back to the same rows but for a null string, which comes back empty", async () => {
  // CSV writes a null as an empty field, and a string column keeps an empty
  // field as the empty string (see src/ingest/validate_csv.ts).
  await withApi(async (api) => {
    const [original, copy] = await roundTrip(api, "csv", "text/csv");
    assert.deepEqual(original, TYPED_COLUMNS);
    assert.deepEqual(copy, { ...TYPED_COLUMNS, s: ["a", "", 'c,"q"'] });
  });
});
