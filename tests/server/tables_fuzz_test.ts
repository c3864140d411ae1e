import assert from "node:assert/strict";
import { tableFromArrays, tableToIPC } from "apache-arrow";
import { mulberry32 } from "../../src/engine/demo.ts";
import { body, withApi } from "../support/ingest.ts";
import {
  applyRows,
  fromColumns,
  type ModelRows,
  parsedRows,
  sorted,
} from "../support/json_model.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261122);
const CASES = Number(Deno.env.get("FUZZ_CASES") ?? 2000);

const ROWS = [
  { id: 1, name: "a", price: 1.5, ok: true, day: "2024-01-05" },
  { id: 2, name: 'b,"q"', price: -2, ok: false, day: "2024-02-29" },
  { id: 3, name: null, price: null, ok: null, day: null },
];
const SPARSE = [{ id: 4, name: "x" }, { id: 5, price: 2.5, day: "2024-03-01" }, {
  id: 1,
  ok: false,
}];
const TYPES = [
  "application/vnd.apache.arrow.stream",
  "application/vnd.apache.arrow.file",
  "application/json",
  "application/x-ndjson",
  "text/csv",
];

function seeds(): [string, Uint8Array][] {
  const enc = (s: string) => new TextEncoder().encode(s);
  const cols = {
    id: Int32Array.from([1, 2, 3]),
    name: ["a", "b", "c"],
    price: Float64Array.from([1.5, 2, 3]),
  };
  return [
    [TYPES[0], tableToIPC(tableFromArrays(cols), "stream")],
    [TYPES[1], tableToIPC(tableFromArrays(cols), "file")],
    [TYPES[2], enc(JSON.stringify(ROWS))],
    [TYPES[2], enc(JSON.stringify({ id: [4, 5], name: ["x", "y"], price: [1, 2] }))],
    [TYPES[3], enc(ROWS.map((r) => JSON.stringify(r)).join("\n"))],
    // Rows that name different columns reach the engine as rows, not columns.
    [TYPES[2], enc(JSON.stringify(SPARSE))],
    [TYPES[3], enc(SPARSE.map((r) => JSON.stringify(r)).join("\n"))],
    [
      TYPES[4],
      enc('id,name,price,ok,day\n1,a,1.5,true,2024-01-05\n2,"b,""q""",-2,false,2024-02-29\n'),
    ],
  ];
}

/** Bytes that break JSON and CSV in ways parsers disagree on, besides plain syntax. */
const INSERTS = [
  '"',
  "{",
  "[",
  ",",
  "\n",
  "}",
  "]",
  "\\",
  "\u0000",
  "1e999",
  "-",
  ":",
  "\\ud800",
  "\\udc00",
  "\u00a0",
  "\u2003",
  "\ufeff",
  "NULL",
  "NaN",
  "N/A",
  "99999999999",
  "1.5",
];

function mutate(rand: () => number, input: Uint8Array): Uint8Array {
  let out = input.slice();
  const edits = 1 + Math.floor(rand() * 4);
  const pick = (n: number) => Math.floor(rand() * n);
  for (let e = 0; e < edits; e++) {
    const at = pick(out.length + 1);
    switch (pick(7)) {
      case 0: // flip a byte
        if (out.length) out[pick(out.length)] ^= 1 << pick(8);
        break;
      case 1: // truncate
        out = out.slice(0, at);
        break;
      case 2: { // insert structural bytes
        const ins = new TextEncoder().encode(INSERTS[pick(INSERTS.length)]);
        out = new Uint8Array([...out.slice(0, at), ...ins, ...out.slice(at)]);
        break;
      }
      case 3: { // duplicate a slice
        const len = pick(64);
        out = new Uint8Array([...out.slice(0, at), ...out.slice(at, at + len), ...out.slice(at)]);
        break;
      }
      case 4: // overwrite with a random byte
        if (out.length) out[pick(out.length)] = pick(256);
        break;
      case 5: { // delete a slice
        const len = pick(32);
        out = new Uint8Array([...out.slice(0, at), ...out.slice(at + len)]);
        break;
      }
      case 6: // a byte order mark, which JSON.parse and the engine read differently
        out = new Uint8Array([0xef, 0xbb, 0xbf, ...out]);
        break;
    }
  }
  return out;
}

/** Compresses `data` with `format`. */
async function compress(data: Uint8Array, format: "gzip" | "deflate"): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const SCHEMA = { id: "integer", name: "string", price: "float", ok: "boolean", day: "date" };
const JSON_TYPES = new Set(["application/json", "application/x-ndjson"]);

Deno.test("mutated bodies get a 2xx or 4xx; refused ones change nothing, accepted JSON lands exactly", async () => {
  await withApi(async (api) => {
    await api.json(
      "PUT",
      "/api/tables/t",
      body("application/json", JSON.stringify({ schema: SCHEMA, index: "id" })),
    );
    const rand = mulberry32(SEED);
    const base = seeds();
    const statuses = new Map<number, number>();
    let model: ModelRows = new Map();
    let modelled = 0;
    for (let n = 0; n < CASES; n++) {
      const [seedType, seedBytes] = base[Math.floor(rand() * base.length)];
      const type = rand() < 0.15 ? TYPES[Math.floor(rand() * TYPES.length)] : seedType;
      const data = rand() < 0.85 ? mutate(rand, seedBytes) : seedBytes;
      const r = rand();
      const method = r < 0.75 ? "POST" : r < 0.9 ? "PUT" : "DELETE";
      const table = rand() < 0.1 ? `new${n}` : "t";
      const c = rand();
      const coding = c < 0.05 ? "gzip" : c < 0.1 ? "deflate" : undefined;
      const sent = coding ? await compress(data, coding) : data;
      const headers: Record<string, string> = coding ? { "content-encoding": coding } : {};
      const before = await api.rows("t");
      const res = await api.call(method, `/api/tables/${table}/rows`, body(type, sent, headers));
      const answer = await res.text();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const what = `case ${n} (seed ${SEED}): ${method} ${type}${coding ? ` ${coding}` : ""}`;
      assert.ok(
        (res.status >= 200 && res.status < 300) || (res.status >= 400 && res.status < 500),
        `${what} answered ${res.status}`,
      );
      if (table !== "t") continue;
      const after = (await api.rows("t"))!;
      if (res.status >= 400) {
        assert.deepEqual(after, before, `${what}: a refused batch changed the table`);
        continue;
      }
      assert.equal(JSON.parse(answer).size, after.id.length, `${what}: reported size`);
      const rows = method !== "DELETE" && JSON_TYPES.has(type) ? parsedRows(type, data) : undefined;
      if (rows) {
        if (method === "PUT") model = new Map();
        applyRows(model, rows, SCHEMA, "id");
        assert.equal(JSON.parse(answer).rows, rows.length, `${what}: reported rows`);
        assert.deepEqual(
          sorted(fromColumns(after, "id")),
          sorted(model),
          `${what}: the table is not what the accepted body says`,
        );
        modelled++;
      }
      model = fromColumns(after, "id");
    }
    assert.ok(
      modelled >= 20,
      `only ${modelled} accepted JSON bodies were checked against the model`,
    );
    // Still serving: a good batch goes in and reads back.
    const ok = await api.json(
      "POST",
      "/api/tables/t/rows",
      body("application/json", '[{"id": 999, "name": "after"}]'),
    );
    assert.equal(ok.status, 200);
    assert.equal((await api.json("GET", "/api/tables/t")).status, 200);
    assert.ok((await api.rows("t"))!.id.includes(999));
    console.log(
      `fuzz: ${CASES} cases, ${modelled} checked against the model, statuses ${
        JSON.stringify(Object.fromEntries(statuses))
      }`,
    );
  }, { validator: { baseTimeoutMs: 500 } });
});
