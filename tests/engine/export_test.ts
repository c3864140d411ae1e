import assert from "node:assert/strict";
import { EngineHost } from "../../src/engine/host.ts";
import { type ExportFormat, exportRows, type ExportWindow } from "../../src/engine/export.ts";
import { EngineMemoryError } from "../../src/engine/memory.ts";
import { csvHeaderLength, jsonArrayToLines } from "../../src/engine/export_windows.ts";
import type { View } from "../../src/engine/perspective.ts";
import {
  arrowRows,
  ndjsonRows,
  readAll,
  schemaMessages,
  TYPED_SCHEMA,
  typedRows,
} from "../support/export_data.ts";
import { waitFor } from "../support/wait.ts";
import { ExportViews } from "../../src/engine/export_views.ts";

const decoder = new TextDecoder();

async function typedHost(rows: number): Promise<EngineHost> {
  const host = await EngineHost.create();
  await host.createTable("t", { ...TYPED_SCHEMA });
  if (rows > 0) await (await host.table("t"))!.update(typedRows(rows));
  await host.flush();
  return host;
}

/** What one engine call makes of the whole view, for comparison. */
async function singleCall(view: View, format: ExportFormat): Promise<unknown> {
  switch (format) {
    case "arrow":
      return arrowRows(new Uint8Array(await view.to_arrow()));
    case "csv":
      return await view.to_csv();
    case "json":
      return JSON.parse(await view.to_json_string());
    case "ndjson":
      return ndjsonRows(await view.to_ndjson());
    case "columns":
      return JSON.parse(await view.to_columns_string());
  }
}

/** The export's body parsed the way {@linkcode singleCall} parses the engine's. */
function parsed(format: ExportFormat, bytes: Uint8Array): unknown {
  if (format === "arrow") return arrowRows(bytes);
  const text = decoder.decode(bytes);
  if (format === "csv") return text;
  if (format === "ndjson") return ndjsonRows(text);
  return JSON.parse(text);
}

const FORMATS: ExportFormat[] = ["arrow", "csv", "json", "ndjson", "columns"];

for (const format of FORMATS) {
  Deno.test(`exportRows() in ${format} across many windows equals the engine's single-call output`, async () => {
    const host = await typedHost(1000);
    try {
      const reads: ExportWindow[] = [];
      const body = await exportRows(host, "t", format, {
        windowRows: 64,
        onWindow: (w) => reads.push(w),
      });
      const bytes = await readAll(body!);
      const view = await (await host.table("t"))!.view();
      assert.deepEqual(parsed(format, bytes), await singleCall(view, format));
      await view.delete();
      const perColumn = format === "columns" ? Object.keys(TYPED_SCHEMA).length : 1;
      assert.equal(reads.length, Math.ceil(1000 / 64) * perColumn);
      assert(reads.every((w) => w.end - w.start <= 64));
    } finally {
      host.close();
    }
  });

  Deno.test(`exportRows() in ${format} of an empty table gives a whole, empty body`, async () => {
    const host = await typedHost(0);
    try {
      const bytes = await readAll((await exportRows(host, "t", format))!);
      const view = await (await host.table("t"))!.view();
      assert.deepEqual(parsed(format, bytes), await singleCall(view, format));
      await view.delete();
      if (format === "arrow") {
        assert.deepEqual(
          (await import("apache-arrow")).tableFromIPC(bytes).schema.fields.map((f) => f.name),
          Object.keys(TYPED_SCHEMA),
        );
      }
    } finally {
      host.close();
    }
  });
}

Deno.test("exportRows() in arrow writes one schema and plain strings, and Perspective loads it to the same rows", async () => {
  const host = await typedHost(1000);
  try {
    const bytes = await readAll((await exportRows(host, "t", "arrow", { windowRows: 100 }))!);
    assert.equal(schemaMessages(bytes), 1);
    const { tableFromIPC } = await import("apache-arrow");
    const arrow = tableFromIPC(bytes);
    assert.equal(arrow.batches.length, 10);
    assert.equal(String(arrow.schema.fields.find((f) => f.name === "s")!.type), "Utf8");
    const copy = await host.client.table(bytes.slice().buffer, { name: "copy" });
    await host.flush();
    assert.deepEqual(await copy.schema(), await (await host.table("t"))!.schema());
    const [a, b] = [await copy.view(), await (await host.table("t"))!.view()];
    assert.deepEqual(await a.to_columns(), await b.to_columns());
    await a.delete();
    await b.delete();
  } finally {
    host.close();
  }
});

Deno.test("exportRows() reads the next window only when the body is read, and a cancel hands its view back", async () => {
  const host = await typedHost(20_000);
  ExportViews.of(host, 50);
  try {
    let reads = 0;
    const body = (await exportRows(host, "t", "json", {
      windowRows: 100,
      onWindow: () => reads++,
    }))!;
    // The first window is read before the body is handed out.
    assert.equal(reads, 1);
    const reader = body.getReader();
    assert.equal(decoder.decode((await reader.read()).value!).slice(0, 2), "[{");
    await new Promise((r) => setTimeout(r, 100));
    assert(reads <= 2, `${reads} of 200 windows read after one chunk`);
    await reader.cancel();
    const after = reads;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(reads, after, "no window is read after the cancel");
    await waitFor("the export view deleted", () => ExportViews.of(host).tables.length === 0);
    // The engine refuses to delete a table that still has a view.
    await (await host.client.open_table("t")).delete();
    assert.deepEqual(await host.tableNames(), []);
  } finally {
    host.close();
  }
});

Deno.test("exports in a row read through one view, deleted once no export has used it for a while", async () => {
  const host = await typedHost(500);
  const views = ExportViews.of(host, 300);
  try {
    const first = await readAll((await exportRows(host, "t", "csv", { windowRows: 100 }))!);
    const lent = await views.acquire("t", (await host.table("t"))!, 500);
    const again = await views.acquire("t", (await host.table("t"))!, 500);
    assert.equal(lent.view, again.view);
    lent.release();
    again.release();
    assert.deepEqual(
      await readAll((await exportRows(host, "t", "csv", { windowRows: 100 }))!),
      first,
    );
    assert.deepEqual(views.tables, ["t"]);
    await waitFor("the export view deleted", () => views.tables.length === 0);
    await waitFor("the table deleted", async () => {
      await (await host.client.open_table("t")).delete();
      return true;
    });
  } finally {
    host.close();
  }
});

Deno.test("exportRows() errors the body when the table is dropped mid-export", async () => {
  const host = await typedHost(5000);
  try {
    const body = (await exportRows(host, "t", "ndjson", { windowRows: 100 }))!;
    const reader = body.getReader();
    assert((await reader.read()).value!.byteLength > 0);
    // Dropping deletes every view on the table, the export's included.
    assert.equal(await host.dropTable("t"), true);
    await assert.rejects(async () => {
      while (!(await reader.read()).done);
    }, /could not make an export of table "t"/);
  } finally {
    host.close();
  }
});

Deno.test("exportRows() is undefined for no table, and 507 when the view and a window do not fit", async () => {
  const host = await typedHost(1000);
  try {
    assert.equal(await exportRows(host, "nope", "csv"), undefined);
    const { used } = await host.memory.read();
    // Reads may go a third past the budget, at least 32 MiB.
    host.memory.budget = used - 32 * 1024 ** 2;
    await assert.rejects(() => exportRows(host, "t", "arrow"), EngineMemoryError);
    assert.equal(host.memory.reserved, 0);
  } finally {
    host.close();
  }
});

Deno.test("csvHeaderLength() ends the header at the first line break outside quotes", () => {
  assert.equal(csvHeaderLength('"a","b\nc"\n1,2\n'), 10);
  assert.equal(csvHeaderLength('"a"""\n'), 6);
  assert.equal(csvHeaderLength('"a"'), 3);
});

Deno.test("jsonArrayToLines() splits rows at top-level commas only", () => {
  assert.equal(jsonArrayToLines("[]"), "");
  assert.equal(
    jsonArrayToLines('[{"a":"x,}{\\",y","b":[1,2]},{"a":null}]'),
    '{"a":"x,}{\\",y","b":[1,2]}\n{"a":null}\n',
  );
});
