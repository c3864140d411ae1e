import assert from "node:assert/strict";
import { EngineHost } from "../../src/engine/host.ts";
import type { Schema, Table } from "../../src/engine/perspective.ts";
import { IngestError } from "../../src/ingest/batch.ts";
import { validateBatch } from "../../src/ingest/validate.ts";
import { checkCsvNewTable, CSV_NULLS, scanCsv } from "../../src/ingest/validate_csv.ts";
import { body, withApi } from "../support/ingest.ts";
import { columnsOf } from "../support/columns.ts";

type UpdateOptions = Parameters<Table["update"]>[1];

const enc = (s: string) => new TextEncoder().encode(s);
const NULLS = [...CSV_NULLS].filter((s) => s !== "");

const refused = (status: number, pattern: RegExp) => (err: unknown) =>
  err instanceof IngestError && err.status === status && pattern.test(err.message);

/** Runs `fn` with a fresh in-process engine. */
async function withEngine<T>(fn: (host: EngineHost) => Promise<T>): Promise<T> {
  const host = await EngineHost.create();
  try {
    return await fn(host);
  } finally {
    host.close();
  }
}

/** Updates a new table of `schema` with `csv`, skipping validation: what the engine does alone. */
async function engineUpdate(
  schema: Schema,
  csv: string,
  index?: string,
): Promise<Record<string, unknown[]> | string> {
  return await withEngine(async (host) => {
    const table = await host.createTable("t", schema, index ? { index } : {});
    try {
      await table.update(csv, { format: "csv" } as UpdateOptions);
      return await columnsOf(host, table);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  });
}

/** Creates a table from `csv`, skipping validation: its inferred schema and rows. */
async function engineCreate(
  csv: string,
  index?: string,
): Promise<{ schema: Schema; rows: Record<string, unknown[]> }> {
  return await withEngine(async (host) => {
    const table = await host.createTable("t", csv, index ? { index } : {});
    return { schema: await table.schema() as Schema, rows: await columnsOf(host, table) };
  });
}

Deno.test("the engine reads exactly CSV_NULLS as null in CSV columns of every type but string", async () => {
  const types = ["integer", "float", "date", "datetime", "boolean"] as const;
  for (const quote of ["", '"']) {
    const cells = NULLS.map((s) => quote + s + quote);
    const csv = "k,i,f,d,t,b,s\n" +
      cells.map((c, k) => `${k},${c},${c},${c},${c},${c},${c}\n`).join("") +
      `${NULLS.length},,,,,,\n`;
    const rows = await engineUpdate(
      {
        k: "integer",
        i: "integer",
        f: "float",
        d: "date",
        t: "datetime",
        b: "boolean",
        s: "string",
      },
      csv,
    );
    assert.ok(typeof rows === "object", String(rows));
    for (
      const [column, type] of [["i", types[0]], ["f", types[1]], ["d", types[2]], ["t", types[3]], [
        "b",
        types[4],
      ]]
    ) {
      assert.deepEqual(rows[column], Array(NULLS.length + 1).fill(null), `${type}, quote ${quote}`);
    }
    // String columns keep every string, the empty one included.
    assert.deepEqual(rows.s, [...NULLS, ""]);
  }
  // Near misses are not null: a string column keeps them, others refuse them.
  for (const miss of ["None", "Null", "na", " NA", "NA ", "#n/a"]) {
    for (const type of types) {
      const result = await engineUpdate({ k: "integer", v: type }, `k,v\n1,${miss}\n`);
      assert.equal(
        typeof result,
        "string",
        `${type} ${JSON.stringify(miss)}: ${JSON.stringify(result)}`,
      );
    }
    assert.deepEqual(await engineUpdate({ k: "integer", v: "string" }, `k,v\n1,${miss}\n`), {
      k: [1],
      v: [miss],
    });
  }
});

Deno.test("scanCsv() refuses an index value the engine reads as null", async () => {
  const schema: Schema = { id: "integer", price: "float" };
  // What the refusal prevents: a row whose index is null.
  assert.deepEqual(await engineUpdate(schema, "id,price\nNULL,1\n", "id"), {
    id: [null],
    price: [1],
  });
  for (const value of NULLS) {
    for (const cell of [value, `"${value}"`]) {
      for (const types of [schema, undefined]) {
        assert.throws(
          () => scanCsv(enc(`id,price\n1,1\n${cell},2\n`), "id", types),
          refused(
            422,
            new RegExp(
              `^CSV record 3: index column "id" is ${RegExp.escape(JSON.stringify(value))}, ` +
                "which the engine reads as null",
            ),
          ),
          `${cell} ${types ? "declared" : "inferred"}`,
        );
      }
    }
  }
  assert.throws(
    () => scanCsv(enc("id,price\n,1\n"), "id", schema),
    refused(422, /^CSV record 2: index column "id" is empty$/),
  );
  assert.throws(
    () => scanCsv(enc('id,price\n"",1\n'), "id", schema),
    refused(422, /^CSV record 2: index column "id" is empty$/),
  );
  // Other columns, and a table without an index, keep the CSV convention.
  assert.equal(scanCsv(enc("id,price\n1,NULL\n"), "id", schema).rows, 1);
  assert.equal(scanCsv(enc("id,price\nNULL,1\n"), null, schema).rows, 1);
});

Deno.test("POST rows refuses an index value the engine reads as null and changes nothing", async () => {
  await withApi(async (api) => {
    const def = { schema: { id: "integer", price: "float" }, index: "id" };
    const put = body("application/json", JSON.stringify(def));
    assert.equal((await api.json("PUT", "/api/tables/t", put)).status, 201);
    const ok = await api.json("POST", "/api/tables/t/rows", body("text/csv", "id,price\n1,1.5\n"));
    assert.equal(ok.status, 200);
    const res = await api.json(
      "POST",
      "/api/tables/t/rows",
      body("text/csv", "id,price\n2,2.5\nNULL,1\n"),
    );
    assert.equal(res.status, 422);
    assert.match(res.body.detail, /index column "id" is "NULL", which the engine reads as null/);
    assert.deepEqual(await api.rows("t"), { id: [1], price: [1.5] });
  });
});

Deno.test("scanCsv() keeps index values such as NA for a string index", async () => {
  const schema: Schema = { sym: "string", px: "float" };
  const csv = 'sym,px\nNA,1\nNULL,2\nn/a,3\n"""",4\n';
  assert.equal(scanCsv(enc(csv), "sym", schema).rows, 4);
  assert.deepEqual(await engineUpdate(schema, csv, "sym"), {
    sym: ['"', "NA", "NULL", "n/a"],
    px: [4, 1, 2, 3],
  });
  assert.throws(() => scanCsv(enc("sym,px\n,1\n"), "sym", schema), refused(422, /is empty/));
});

Deno.test("scanCsv() follows the engine's type inference for a new table's index", async () => {
  // Numbers make an integer column, in which NA is null; a ticker makes a string column.
  assert.deepEqual(await engineCreate("id,px\nNA,1\n2,2\n", "id"), {
    schema: { id: "integer", px: "integer" },
    rows: { id: [null, 2], px: [1, 2] },
  });
  assert.deepEqual((await engineCreate("sym,px\nNA,1\nIBM,2\n", "sym")).rows.sym, ["IBM", "NA"]);
  assert.deepEqual((await engineCreate("sym,px\nNA,1\nNULL,2\n", "sym")).rows.sym, [null]);

  const hint = /which the engine reads as null; create the table with a schema first/;
  for (
    const csv of [
      "id,px\nNA,1\n2,2\n",
      "id,px\n2,2\nNA,1\n",
      "id,px\nNA,1\n 0x1f ,2\n",
      "id,px\nNA,1\n2024-01-01,2\n",
      "id,px\nNA,1\n01/02/2024 10:11:12 PM,2\n",
      "id,px\nNA,1\nnan,2\n",
      "id,px\nNA,1\nNULL,2\n",
    ]
  ) {
    assert.throws(() => scanCsv(enc(csv), "id"), refused(422, hint), csv);
  }
  for (const csv of ["id,px\nNA,1\nIBM,2\n", "id,px\nIBM,1\nNA,2\n", 'id,px\nNA,1\n"A,B",2\n']) {
    assert.equal(scanCsv(enc(csv), "id").rows, 2, csv);
  }

  const create = (csv: string, index: string) =>
    validateBatch(
      { table: "n", op: "update", format: "csv", bytes: enc(csv), create: { index } },
      undefined,
    );
  assert.throws(() => create("id,px\nNA,1\n2,2\n", "id"), refused(422, hint));
  assert.equal(create("sym,px\nNA,1\nIBM,2\n", "sym").rows, 2);

  await withApi(async (api) => {
    const csv = (text: string) => body("text/csv", text);
    const bad = await api.json("POST", "/api/tables/n/rows?index=id", csv("id,px\nNA,1\n2,2\n"));
    assert.equal(bad.status, 422);
    assert.equal(await api.rows("n"), undefined);
    const good = await api.json(
      "POST",
      "/api/tables/n/rows?index=sym",
      csv("sym,px\nNA,1\nIBM,2\n"),
    );
    assert.equal(good.status, 201, JSON.stringify(good.body));
    assert.deepEqual(await api.rows("n"), { sym: ["IBM", "NA"], px: [2, 1] });
  });
});

Deno.test("checkCsvNewTable() refuses a new table's column of nothing but null strings", async () => {
  // What the refusal prevents: the engine makes a string column of nulls.
  assert.deepEqual(await engineCreate("id,sym\n1,NA\n2,NULL\n"), {
    schema: { id: "integer", sym: "string" },
    rows: { id: [1, 2], sym: [null, null] },
  });
  const scan = scanCsv(enc("id,sym,note\n1,,\n2,NA,\n3,NULL,\n"));
  assert.deepEqual(scan.nullOnly, [{ column: "sym", value: "NA", record: 3 }]);
  assert.throws(
    () => checkCsvNewTable(scan),
    refused(
      422,
      /^CSV column "sym" holds only strings the engine reads as null \("NA" in record 3\).*schema first/,
    ),
  );
  // Empty cells have nothing to lose; one other value settles the type.
  for (const csv of ["id,note\n1,\n2,\n", "id,px\n1,NaN\n2,1.5\n", "id,sym\n1,NA\n2,IBM\n"]) {
    const ok = scanCsv(enc(csv));
    assert.deepEqual(ok.nullOnly, [], csv);
    checkCsvNewTable(ok);
  }
  // An existing table's types decide instead.
  const existing = scanCsv(enc("id,sym\n1,NA\n"), "id", { id: "integer", sym: "string" });
  assert.equal(existing.nullOnly, undefined);
  checkCsvNewTable(existing);
});

Deno.test("scanCsv() accepts null strings outside the index of an existing table", async () => {
  const schema: Schema = {
    id: "integer",
    px: "float",
    n: "integer",
    d: "date",
    t: "datetime",
    ok: "boolean",
    s: "string",
  };
  const csv = 'id,px,n,d,t,ok,s\n1,NaN,NA,#N/A,NULL,"null",NA\n2,1.5,,,,,\n';
  assert.equal(scanCsv(enc(csv), "id", schema).rows, 2);
  assert.deepEqual(await engineUpdate(schema, csv, "id"), {
    id: [1, 2],
    px: [null, 1.5],
    n: [null, null],
    d: [null, null],
    t: [null, null],
    ok: [null, null],
    s: ["NA", ""],
  });
});

Deno.test("POST rows keeps NA as a string index key, and refuses a new table's column of only null strings", async () => {
  await withApi(async (api) => {
    const schema = { sym: "string", px: "float" };
    await api.json(
      "PUT",
      "/api/tables/q",
      body("application/json", JSON.stringify({ schema, index: "sym" })),
    );
    const ok = await api.json(
      "POST",
      "/api/tables/q/rows",
      body("text/csv", "sym,px\nNA,1.5\nnull,2\n"),
    );
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(await api.rows("q"), { sym: ["NA", "null"], px: [1.5, 2] });
    const created = await api.json(
      "POST",
      "/api/tables/fresh/rows",
      body("text/csv", "a,b\n1,NA\n2,NULL\n"),
    );
    assert.equal(created.status, 422, JSON.stringify(created.body));
    assert.equal(await api.rows("fresh"), undefined);
  });
});
