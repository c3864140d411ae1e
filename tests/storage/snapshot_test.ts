import assert from "node:assert/strict";
import { EngineHost } from "../../src/engine/host.ts";
import {
  captureRows,
  checkManifest,
  describeTable,
  type Manifest,
  restoreTable,
} from "../../src/storage/snapshot.ts";

const SCHEMA = { id: "integer", s: "string", x: "float" } as const;

function rows(from: number, n: number) {
  return Array.from({ length: n }, (_, i) => ({ id: from + i, s: `s${(from + i) % 7}`, x: i / 2 }));
}

async function columns(host: EngineHost, name: string): Promise<unknown> {
  const view = await (await host.table(name))!.view();
  try {
    return await view.to_columns();
  } finally {
    await view.delete();
  }
}

function manifestOf(
  capture: Awaited<ReturnType<typeof captureRows>>,
  def: { index: string | null; limit: number | null },
): Manifest {
  return {
    version: 2,
    table: "copy",
    seq: 1,
    columns: Object.entries(SCHEMA),
    index: def.index,
    limit: def.limit,
    rows: capture.rows,
    file: "",
    bytes: capture.arrow.byteLength,
    crc32c: 0,
    parts: capture.parts,
  };
}

for (
  const def of [
    { index: null, limit: null },
    { index: "id", limit: null },
    { index: null, limit: 10 },
  ]
) {
  Deno.test(`a snapshot read in windows loads back as the same table (index ${def.index}, limit ${def.limit})`, async () => {
    const host = await EngineHost.create();
    try {
      const options = def.index ? { index: def.index } : def.limit ? { limit: def.limit } : {};
      const source = await host.createTable("t", SCHEMA, options);
      // 23 rows through a limit of 10: the engine's row order has rolled over.
      await source.update(rows(0, 15));
      await source.update(rows(15, 8));
      await host.flush();
      const capture = await captureRows(host, await describeTable(host, "t"), 3);
      assert.equal(capture.parts.length, Math.ceil(capture.rows / 3));
      assert.equal(capture.parts.reduce((a, b) => a + b, 0), capture.arrow.byteLength);
      const manifest = manifestOf(capture, def);
      checkManifest(manifest, "test");
      await restoreTable(host, manifest, capture.arrow);
      await host.flush();
      assert.deepEqual(await columns(host, "copy"), await columns(host, "t"));
      // The next batches change both alike: a limit table rolls over the same rows.
      for (const name of ["t", "copy"]) await (await host.table(name))!.update(rows(100, 4));
      await host.flush();
      assert.deepEqual(await columns(host, "copy"), await columns(host, "t"));
    } finally {
      host.close();
    }
  });
}

Deno.test("a snapshot of an empty table has one part, and loads back empty with its schema", async () => {
  const host = await EngineHost.create();
  try {
    await host.createTable("t", SCHEMA);
    const capture = await captureRows(host, await describeTable(host, "t"), 3);
    assert.equal(capture.parts.length, 1);
    await restoreTable(host, manifestOf(capture, { index: null, limit: null }), capture.arrow);
    assert.equal((await host.tableInfo("copy"))?.size, 0);
    assert.deepEqual(Object.keys((await host.tableInfo("copy"))!.schema), Object.keys(SCHEMA));
  } finally {
    host.close();
  }
});

Deno.test("checkManifest refuses an unknown version and parts that do not add up", () => {
  const base: Manifest = {
    version: 2,
    table: "t",
    seq: 1,
    columns: [],
    index: null,
    limit: null,
    rows: 1,
    file: "t.arrow",
    bytes: 10,
    crc32c: 0,
    parts: [4, 6],
  };
  checkManifest(base, "ok");
  checkManifest({ ...base, version: 1, parts: undefined }, "one stream");
  for (
    const bad of [
      { ...base, version: 3 as 2 },
      { ...base, parts: [4, 5] },
      { ...base, parts: [10, 0] },
      { ...base, parts: undefined },
      { ...base, parts: [] },
    ]
  ) {
    assert.throws(() => checkManifest(bad, "where"), /where: /, JSON.stringify(bad));
  }
});
