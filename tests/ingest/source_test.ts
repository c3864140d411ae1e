import assert from "node:assert/strict";
import { join } from "node:path";
import { tableFromArrays, tableToIPC } from "apache-arrow";
import { withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import { parseConfig } from "../../src/config/file.ts";
import { loadSource, SourceError, sourceSpecifier } from "../../src/ingest/source.ts";
import { ConfigError } from "../../src/config/env.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { startService } from "../../src/service.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

async function size(url: string, table: string): Promise<number | undefined> {
  const res = await fetch(new URL(`api/tables/${table}`, url));
  if (res.status !== 200) {
    await res.body?.cancel();
    return undefined;
  }
  return (await res.json()).size;
}

Deno.test("a user's source module named by path in the config is loaded and feeds a table", async () => {
  const config = parseConfig({
    tables: [{ name: "counts", schema: { n: "integer", from: "string" }, index: "n" }],
    sources: [{ name: "mine", use: "./counter_source.ts", options: { table: "counts", count: 5 } }],
  }, FIXTURES);
  await withService({ demo: false, config }, async (service) => {
    await waitFor("five rows", async () => (await size(service.url, "counts")) === 5);
    const rows = await (await fetch(new URL("api/tables/counts/rows", service.url))).json();
    assert.deepEqual(rows.map((r: { from: string }) => r.from), Array(5).fill("mine"));
    const ready = await fetch(new URL("readyz", service.url));
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
  });
});

Deno.test("the directory source applies NDJSON, CSV and Arrow files and sets refused ones aside", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = parseConfig({
      sources: [{ use: "directory", options: { path: "spool", intervalMs: 20, index: "id" } }],
    }, dir);
    await withService({ demo: false, config }, async (service) => {
      const spool = join(dir, "spool");
      await waitFor("spool directory", () => Deno.stat(spool).then(() => true));
      // Writers write under a temporary name and rename, so the source never sees half a file.
      const drop = async (name: string, data: string | Uint8Array) => {
        const tmp = join(spool, `.${name}.tmp`);
        if (typeof data === "string") await Deno.writeTextFile(tmp, data);
        else await Deno.writeFile(tmp, data);
        await Deno.rename(tmp, join(spool, name));
      };
      await drop("trades.001.ndjson", '{"id": 1, "px": 1.5}\n{"id": 2, "px": 2.5}\n');
      await waitFor("trades table", async () => (await size(service.url, "trades")) === 2);
      await drop("trades.002.csv", "id,px\n2,20.5\n3,3.5\n");
      await drop(
        "trades.003.arrow",
        tableToIPC(tableFromArrays({ id: Int32Array.from([4]), px: Float64Array.from([4.5]) })),
      );
      await waitFor("all rows", async () => (await size(service.url, "trades")) === 4);
      await drop("trades.004.ndjson", '{"id": 5, "px": "bad"}\n');
      const error = join(spool, "failed", "trades.004.ndjson.error.json");
      const report = JSON.parse(await waitFor("error report", () => Deno.readTextFile(error)));
      assert.equal(report.status, 422);
      assert.equal(await size(service.url, "trades"), 4);
      const done = [];
      for await (const e of Deno.readDir(join(spool, "done"))) done.push(e.name);
      assert.deepEqual(done.sort(), ["trades.001.ndjson", "trades.002.csv", "trades.003.arrow"]);
      const rows = await (await fetch(new URL("api/tables/trades/rows", service.url))).json();
      assert.deepEqual(rows.map((r: { px: number }) => r.px), [1.5, 20.5, 3.5, 4.5]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadSource() refuses unknown built-ins and modules without a factory", async () => {
  assert.throws(() => sourceSpecifier("kafka", FIXTURES), SourceError);
  await assert.rejects(loadSource("./missing.ts", FIXTURES), SourceError);
  await assert.rejects(loadSource("../../support/wait.ts", FIXTURES), /no default function/);
  const directory = await loadSource("directory", FIXTURES);
  assert.equal(typeof directory.factory, "function");
  assert.equal(typeof directory.check, "function");
});

Deno.test("startService() with a source that cannot load fails naming it, leaving nothing running", async () => {
  const config = parseConfig({
    tables: [{ name: "t", schema: { a: "integer" } }],
    sources: [{ use: "directory", options: { path: "x" } }, { use: "./missing.ts" }],
  }, FIXTURES);
  await assert.rejects(
    startService({ port: 0, demo: false, log: silentLogger, config }),
    (err) => err instanceof ConfigError && err.field === "sources[1].use",
  );
});

Deno.test("startService() refuses a bad directory source option at start-up, naming it", async () => {
  const config = parseConfig({
    sources: [{ use: "directory", options: { path: "spool", intervalMs: 1 } }],
  }, FIXTURES);
  await assert.rejects(
    startService({ port: 0, demo: false, log: silentLogger, config }),
    (err) =>
      err instanceof ConfigError && err.field === "sources[0].options.intervalMs" &&
      /at least 10/.test(err.message),
  );
  await assert.rejects(Deno.stat(join(FIXTURES, "spool")), Deno.errors.NotFound);
});

/**
 * Runs `fn` against a service whose directory source watches a fresh spool,
 * with `options` beside the path and a 20 ms scan, and `tables` created at
 * start-up. `drop` writes a file under a temporary name and renames it in.
 */
async function withSpool(
  options: Record<string, unknown>,
  tables: unknown[],
  fn: (
    spool: string,
    drop: (name: string, data: string) => Promise<void>,
    url: string,
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const config = parseConfig({
      tables,
      sources: [{ use: "directory", options: { path: "spool", intervalMs: 20, ...options } }],
    }, dir);
    await withService({ demo: false, config }, async (service) => {
      const spool = join(dir, "spool");
      await waitFor("spool directory", () => Deno.stat(spool).then(() => true));
      const drop = async (name: string, data: string) => {
        const tmp = join(spool, `.${name}.tmp`);
        await Deno.writeTextFile(tmp, data);
        await Deno.rename(tmp, join(spool, name));
      };
      await fn(spool, drop, service.url);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const TRADES = { name: "trades", schema: { id: "integer", px: "float" }, index: "id" };

async function rowsOf(url: string, table: string): Promise<unknown> {
  return await (await fetch(new URL(`api/tables/${table}/rows`, url))).json();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

Deno.test("the directory source refuses a file over maxFileBytes with a 413 report and leaves the table unchanged", async () => {
  await withSpool({ maxFileBytes: 64 }, [TRADES], async (spool, drop, url) => {
    const small = '{"id": 1, "px": 1.5}\n';
    assert.ok(small.length <= 64);
    await drop("trades.001.ndjson", small);
    await waitFor("first file applied", () => exists(join(spool, "done", "trades.001.ndjson")));
    const big = Array.from({ length: 10 }, (_, i) => `{"id": ${i + 2}, "px": 2.5}\n`).join("");
    assert.ok(big.length > 64);
    await drop("trades.002.ndjson", big);
    const error = join(spool, "failed", "trades.002.ndjson.error.json");
    const report = JSON.parse(await waitFor("error report", () => Deno.readTextFile(error)));
    assert.equal(report.status, 413);
    assert.equal(report.table, "trades");
    assert.equal(await Deno.readTextFile(join(spool, "failed", "trades.002.ndjson")), big);
    assert.deepEqual(await rowsOf(url, "trades"), [{ id: 1, px: 1.5 }]);
  });
});

Deno.test('the directory source with after: "delete" removes applied files and keeps no done/ copy', async () => {
  await withSpool({ after: "delete" }, [TRADES], async (spool, drop, url) => {
    await drop("trades.001.ndjson", '{"id": 1, "px": 1.5}\n{"id": 2, "px": 2.5}\n');
    await waitFor("file removed", async () => !(await exists(join(spool, "trades.001.ndjson"))));
    assert.deepEqual(await rowsOf(url, "trades"), [{ id: 1, px: 1.5 }, { id: 2, px: 2.5 }]);
    assert.equal(await exists(join(spool, "done")), false);
    assert.equal(await exists(join(spool, "failed")), false);
  });
});

Deno.test('the directory source with op: "replace" replaces the table\'s rows with each file', async () => {
  await withSpool({ op: "replace" }, [TRADES], async (spool, drop, url) => {
    await drop("trades.001.ndjson", '{"id": 1, "px": 1.5}\n{"id": 2, "px": 2.5}\n');
    await waitFor("first file applied", () => exists(join(spool, "done", "trades.001.ndjson")));
    assert.deepEqual(await rowsOf(url, "trades"), [{ id: 1, px: 1.5 }, { id: 2, px: 2.5 }]);
    await drop("trades.002.ndjson", '{"id": 3, "px": 3.5}\n');
    await waitFor("second file applied", () => exists(join(spool, "done", "trades.002.ndjson")));
    assert.deepEqual(await rowsOf(url, "trades"), [{ id: 3, px: 3.5 }]);
  });
});

Deno.test("the directory source applies a .json file of rows", async () => {
  await withSpool({}, [TRADES], async (spool, drop, url) => {
    await drop("trades.001.json", JSON.stringify([{ id: 1, px: 1.5 }, { id: 2, px: null }]));
    await waitFor("file applied", () => exists(join(spool, "done", "trades.001.json")));
    assert.deepEqual(await rowsOf(url, "trades"), [{ id: 1, px: 1.5 }, { id: 2, px: null }]);
    assert.equal(await exists(join(spool, "failed")), false);
  });
});
