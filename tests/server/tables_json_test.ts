import assert from "node:assert/strict";
import { type Api, body, withApi } from "../support/ingest.ts";

const SCHEMA = { k: "string", x: "float", n: "integer", day: "date", ts: "datetime" };
const JSON_TYPE = "application/json";
const NDJSON = "application/x-ndjson";

/** A table indexed by `k` holding rows a and b. */
async function setup(api: Api, name = "t"): Promise<Record<string, unknown[]>> {
  const put = await api.json("PUT", `/api/tables/${name}`, {
    ...body(JSON_TYPE, JSON.stringify({ schema: SCHEMA, index: "k" })),
  });
  assert.equal(put.status, 201);
  const post = await api.json(
    "POST",
    `/api/tables/${name}/rows`,
    body(JSON_TYPE, '[{"k": "a", "x": 1.5}, {"k": "b", "n": 2}]'),
  );
  assert.equal(post.status, 200);
  return (await api.rows(name))!;
}

/** Sends `text` by POST and PUT and checks both are refused with `status`, leaving the table as it was. */
async function refusedBoth(
  api: Api,
  before: Record<string, unknown[]>,
  status: number,
  type: string,
  text: string | Uint8Array,
  pattern: RegExp,
): Promise<void> {
  for (const method of ["POST", "PUT"]) {
    const res = await api.call(method, "/api/tables/t/rows", body(type, text));
    const problem = await res.json();
    assert.equal(res.status, status, `${method} ${JSON.stringify(text)}: ${problem.detail}`);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    assert.match(problem.detail, pattern);
    assert.deepEqual(await api.rows("t"), before, `${method} ${JSON.stringify(text)} changed rows`);
  }
}

const BOM = new Uint8Array([0xef, 0xbb, 0xbf]);
const withBom = (text: string) => new Uint8Array([...BOM, ...new TextEncoder().encode(text)]);

Deno.test("numbers past the float range, and lone surrogates, are 422 and change nothing", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    // Rows that share keys and rows that do not take different paths to the engine.
    for (const rows of ['[{"k": "c", "x": 1e999}]', '[{"k": "c", "x": 1e999}, {"k": "d"}]']) {
      await refusedBoth(api, before, 422, JSON_TYPE, rows, /float range/);
      const lines = rows.slice(1, -1).replace("}, {", "}\n{");
      await refusedBoth(api, before, 422, NDJSON, lines, /float range/);
    }
    await refusedBoth(api, before, 422, JSON_TYPE, '{"k": ["c"], "x": [-1e400]}', /float range/);
    for (const rows of ['[{"k": "\\ud800"}]', '[{"k": "c", "x": 1}, {"k": "x\\udc00y"}]']) {
      await refusedBoth(api, before, 422, JSON_TYPE, rows, /unpaired UTF-16 surrogate/);
    }
    await refusedBoth(
      api,
      before,
      422,
      NDJSON,
      '{"k": "c"}\n{"k": "d"}\n{"k": "e", "x": 1}\n{"k": "\\ud800"}\n',
      /line 3.*surrogate/,
    );
  });
});

Deno.test("epoch milliseconds outside what the engine stores exactly are 422", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    const cases: [string, unknown, RegExp][] = [
      ["ts", 1e20, /outside the range of a date-time/],
      ["ts", 1.5, /whole epoch milliseconds/],
      ["day", -1e15, /years 0 to 9999/],
      ["day", 253402300800000, /years 0 to 9999/],
      ["day", 1.5, /whole epoch milliseconds/],
      ["day", -1, /before 1970 and not a whole day/],
    ];
    for (const [column, value, pattern] of cases) {
      await refusedBoth(
        api,
        before,
        422,
        JSON_TYPE,
        JSON.stringify([{ k: "c", [column]: value }]),
        pattern,
      );
    }
  });
});

Deno.test("epoch milliseconds the engine stores exactly are kept as sent", async () => {
  await withApi(async (api) => {
    await setup(api);
    const rows = [
      { k: "c", day: -86400000, ts: -1 },
      { k: "d", day: -62167219200000, ts: 8.64e15 },
      { k: "e", day: 253402214400000, ts: -8.64e15 },
      { k: "f", day: 86400000 + 5, ts: 1700000000123 },
    ];
    const res = await api.json("POST", "/api/tables/t/rows", body(JSON_TYPE, JSON.stringify(rows)));
    assert.equal(res.status, 200);
    const got = (await api.rows("t"))!;
    const at = (k: string) => got.k.indexOf(k);
    assert.deepEqual(rows.map((r) => got.ts[at(r.k)]), rows.map((r) => r.ts));
    // A date keeps the day; a time of day after 1970 is dropped.
    assert.deepEqual(
      rows.map((r) => got.day[at(r.k)]),
      [-86400000, -62167219200000, 253402214400000, 86400000],
    );
  });
});

Deno.test("a byte order mark before JSON or NDJSON rows is read past, and every row lands", async () => {
  await withApi(async (api) => {
    await setup(api);
    const cases: [string, string, string[]][] = [
      [JSON_TYPE, '[{"k": "c", "x": 3}, {"k": "d"}]', ["c", "d"]],
      [NDJSON, '{"k": "e", "x": 5}\n{"k": "f"}\n', ["e", "f"]],
      [JSON_TYPE, '{"k": ["g"], "x": [7]}', ["g"]],
    ];
    for (const [type, text, keys] of cases) {
      const res = await api.json("POST", "/api/tables/t/rows", body(type, withBom(text)));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.rows, keys.length);
      const got = (await api.rows("t"))!;
      for (const k of keys) assert.ok(got.k.includes(k), `${k} missing after ${text}`);
    }
    assert.equal((await api.rows("t"))!.k.length, 7);
    // A table a BOM-prefixed body creates gets its rows too.
    const created = await api.json(
      "POST",
      "/api/tables/fresh/rows?index=k",
      body(NDJSON, withBom('{"k": "a", "v": 1}\n{"k": "b"}\n')),
    );
    assert.equal(created.status, 201);
    assert.deepEqual((await api.rows("fresh"))!.k, ["a", "b"]);
  });
});

Deno.test("NDJSON takes JSON whitespace around a line and nothing else", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    await refusedBoth(api, before, 400, NDJSON, '{"k": "c"}\u00a0\n{"k": "d"}\n', /line 1/);
    await refusedBoth(api, before, 400, NDJSON, '\u2003{"k": "c"}\n', /line 1/);
    const ok = await api.json("POST", "/api/tables/t/rows", body(NDJSON, ' \t{"k": "c"}\t\r\n\n'));
    assert.equal(ok.status, 200);
    assert.equal(ok.body.rows, 1);
  });
});

Deno.test("an empty NDJSON body is 400 and a replace with it keeps the table", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    for (const text of ["", "\n\n", "  \r\n"]) {
      await refusedBoth(api, before, 400, NDJSON, text, /no rows/);
    }
  });
});

Deno.test("a row that sets no column is 422, so the reported row count is what lands", async () => {
  await withApi(async (api) => {
    const put = await api.json(
      "PUT",
      "/api/tables/log",
      body(JSON_TYPE, JSON.stringify({ schema: { n: "integer" } })),
    );
    assert.equal(put.status, 201);
    for (
      const [type, text] of [[JSON_TYPE, "[{}, {}]"], [JSON_TYPE, '[{}, {"n": 1}]'], [
        NDJSON,
        "{}\n{}\n",
      ]]
    ) {
      const res = await api.json("POST", "/api/tables/log/rows", body(type, text));
      assert.equal(res.status, 422, text);
      assert.match(res.body.detail, /sets no column/);
    }
    assert.deepEqual(await api.rows("log"), { n: [] });
    const ok = await api.json(
      "POST",
      "/api/tables/log/rows",
      body(JSON_TYPE, '[{"n": 1}, {"n": null}]'),
    );
    assert.equal(ok.body.rows, 2);
    assert.deepEqual(await api.rows("log"), { n: [1, null] });
  });
});

Deno.test("?index= or ?limit= that disagree with an existing table are 409", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    const rows = body(JSON_TYPE, '[{"k": "c"}]');
    for (const query of ["index=n", "limit=100", "index=k&limit=5"]) {
      const res = await api.json("POST", `/api/tables/t/rows?${query}`, rows);
      assert.equal(res.status, 409, query);
      assert.match(res.body.detail, /exists with/);
      assert.deepEqual(await api.rows("t"), before);
    }
    const same = await api.json(
      "POST",
      "/api/tables/t/rows?index=k",
      body(JSON_TYPE, '[{"k": "c"}]'),
    );
    assert.equal(same.status, 200);
  });
});

Deno.test("CSV declared without a header row is 415; a quoted UTF-8 charset is accepted", async () => {
  await withApi(async (api) => {
    const before = await setup(api);
    await refusedBoth(api, before, 415, "text/csv; header=absent", "c,1\n", /header row/);
    for (
      const type of [
        "text/csv; header=present",
        "text/csv; charset='utf-8'",
        'text/csv; charset="UTF-8"',
      ]
    ) {
      const res = await api.json("POST", "/api/tables/t/rows", body(type, "k,x\nc,1.5\n"));
      assert.equal(res.status, 200, type);
    }
  });
});
