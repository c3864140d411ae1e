import assert from "node:assert/strict";
import { tableFromArrays, tableToIPC } from "apache-arrow";
import { mulberry32 } from "../../src/engine/demo.ts";
import { body, withApi } from "../support/ingest.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261122);
const CASES = Number(Deno.env.get("FUZZ_CASES") ?? 3000);
const BUDGET_MS = Number(Deno.env.get("FUZZ_MS") ?? 40_000);

const ROWS = [
  { id: 1, name: "a", price: 1.5, ok: true, day: "2024-01-05" },
  { id: 2, name: 'b,"q"', price: -2, ok: false, day: "2024-02-29" },
  { id: 3, name: null, price: null, ok: null, day: null },
];
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
    [
      TYPES[4],
      enc('id,name,price,ok,day\n1,a,1.5,true,2024-01-05\n2,"b,""q""",-2,false,2024-02-29\n'),
    ],
  ];
}

function mutate(rand: () => number, input: Uint8Array): Uint8Array {
  let out = input.slice();
  const edits = 1 + Math.floor(rand() * 4);
  const pick = (n: number) => Math.floor(rand() * n);
  for (let e = 0; e < edits; e++) {
    const at = pick(out.length + 1);
    switch (pick(6)) {
      case 0: // flip a byte
        if (out.length) out[pick(out.length)] ^= 1 << pick(8);
        break;
      case 1: // truncate
        out = out.slice(0, at);
        break;
      case 2: { // insert structural bytes
        const ins = new TextEncoder().encode(
          ['"', "{", "[", ",", "\n", "}", "]", "\\", "\u0000", "1e999", "-", ":"][pick(12)],
        );
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
    }
  }
  return out;
}

Deno.test("mutated Arrow, JSON, NDJSON and CSV bodies get a 2xx or 4xx, and the service still serves", async () => {
  await withApi(async (api) => {
    const schema = { id: "integer", name: "string", price: "float", ok: "boolean", day: "date" };
    await api.json(
      "PUT",
      "/api/tables/t",
      body("application/json", JSON.stringify({ schema, index: "id" })),
    );
    const rand = mulberry32(SEED);
    const base = seeds();
    const statuses = new Map<number, number>();
    const started = Date.now();
    let n = 0;
    for (; n < CASES && Date.now() - started < BUDGET_MS; n++) {
      const [seedType, seedBytes] = base[Math.floor(rand() * base.length)];
      const type = rand() < 0.15 ? TYPES[Math.floor(rand() * TYPES.length)] : seedType;
      const data = mutate(rand, seedBytes);
      const r = rand();
      const method = r < 0.75 ? "POST" : r < 0.9 ? "PUT" : "DELETE";
      const table = rand() < 0.1 ? `new${n}` : "t";
      const check = n % 40 === 0;
      const before = check ? await api.rows("t") : undefined;
      const res = await api.call(method, `/api/tables/${table}/rows`, body(type, data));
      await res.body?.cancel();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      assert.ok(
        (res.status >= 200 && res.status < 300) || (res.status >= 400 && res.status < 500),
        `case ${n} (seed ${SEED}): ${method} ${type} answered ${res.status}`,
      );
      if (check && res.status >= 400 && table === "t") {
        assert.deepEqual(
          await api.rows("t"),
          before,
          `case ${n}: a refused batch changed the table`,
        );
      }
    }
    assert.ok(n >= 500, `only ${n} cases ran in the time budget`);
    // Still serving: a good batch goes in and reads back.
    const ok = await api.json(
      "POST",
      "/api/tables/t/rows",
      body("application/json", '[{"id": 999, "name": "after"}]'),
    );
    assert.equal(ok.status, 200);
    assert.equal((await api.json("GET", "/api/tables/t")).status, 200);
    assert.ok((await api.rows("t"))!.id.includes(999));
    console.log(`fuzz: ${n} cases, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  }, { validator: { baseTimeoutMs: 500 } });
});
