import assert from "node:assert/strict";
import { withService } from "../support/service.ts";
import { arrowRows, bigColumns, ndjsonRows, schemaMessages } from "../support/export_data.ts";
import { exportRows } from "../../src/engine/export.ts";
import { ExportViews } from "../../src/engine/export_views.ts";
import {
  RANGE_ROWS,
  rangeRowsFor,
  readsInRanges,
  ROW_KEY,
  WHOLE_VIEW_MAX_ROWS,
} from "../../src/engine/export_ranges.ts";
import type { ExportWindow } from "../../src/engine/export_windows.ts";
import type { Service } from "../../src/service.ts";

/** More rows than a whole view may have: the export reads three range views. */
const ROWS = WHOLE_VIEW_MAX_ROWS + 50_000;

async function text(service: Service, table: string, format: "csv" | "json" | "ndjson") {
  return await new Response(await exportRows(service.host, table, format)).text();
}

async function arrow(service: Service, table: string, onWindow?: (w: ExportWindow) => void) {
  const body = await exportRows(service.host, table, "arrow", { onWindow });
  return new Uint8Array(await new Response(body).arrayBuffer());
}

Deno.test("readsInRanges() takes tables without index or limit whose whole view passes 64 MiB, read row by row", () => {
  const t = { index: null, limit: null, columns: ["a"], rows: WHOLE_VIEW_MAX_ROWS + 1 };
  assert(readsInRanges(t, false, RANGE_ROWS));
  assert(!readsInRanges(t, true, RANGE_ROWS), "the columns format reads column by column");
  assert(!readsInRanges({ ...t, rows: WHOLE_VIEW_MAX_ROWS }, false, RANGE_ROWS));
  assert(!readsInRanges(t, false, t.rows), "one range would be the whole table");
  assert(!readsInRanges({ ...t, index: "a" }, false, RANGE_ROWS));
  assert(!readsInRanges({ ...t, limit: 10 }, false, RANGE_ROWS));
  assert(!readsInRanges({ ...t, columns: ["a", ROW_KEY] }, false, RANGE_ROWS));
  // 200,000 rows in windows of 16,666: 13 windows in two ranges of 7 and 6.
  assert.equal(rangeRowsFor(16_666, 200_000), 7 * 16_666);
  // 1M rows: 61 windows, at most ten ranges: 7 windows a range.
  assert.equal(rangeRowsFor(16_666, 1_000_000), 7 * 16_666);
  assert.equal(rangeRowsFor(1_000, 1_000_000), RANGE_ROWS);
  // A window larger than a range: one window a range.
  assert.equal(rangeRowsFor(RANGE_ROWS * 2, 1_000_000), RANGE_ROWS * 2);
});

Deno.test("an export of a large table without index reads range views and equals the engine's whole view", async () => {
  await withService({ demo: false }, async (service) => {
    await service.host.createTable("big", bigColumns(ROWS));
    const table = (await service.host.table("big"))!;
    const whole = await table.view();
    try {
      const windows: ExportWindow[] = [];
      const bytes = await arrow(service, "big", (w) => windows.push(w));
      assert.equal(schemaMessages(bytes), 1);
      assert.deepEqual(arrowRows(bytes), arrowRows(new Uint8Array(await whole.to_arrow())));
      assert.equal(windows.at(-1)!.end, ROWS);
      assert.equal(await text(service, "big", "csv"), await whole.to_csv());
      assert.deepEqual(
        JSON.parse(await text(service, "big", "json")),
        JSON.parse(await whole.to_json_string()),
      );
      assert.deepEqual(
        ndjsonRows(await text(service, "big", "ndjson")),
        JSON.parse(await whole.to_json_string()),
      );
      // No export view was made or kept, and the range views are gone.
      assert.deepEqual(ExportViews.of(service.host).tables, []);
      assert.equal(await whole.num_rows(), ROWS);
      await service.host.dropTable("big");
    } finally {
      await whole.delete().catch(() => {});
    }
  });
});

Deno.test("rows appended during a ranged export are left out, as with the whole view", async () => {
  await withService({ demo: false }, async (service) => {
    await service.host.createTable("big", bigColumns(ROWS));
    const table = (await service.host.table("big"))!;
    const expected = arrowRows(new Uint8Array(await (await table.view()).to_arrow()));
    let appended = false;
    const bytes = await arrow(service, "big", () => {
      if (appended) return;
      appended = true;
      void table.update(bigColumns(10));
    });
    assert.deepEqual(arrowRows(bytes), expected);
    await service.host.flush();
    assert.equal(await table.size(), ROWS + 10);
  });
});

Deno.test("a cleared table without index, whose row keys no longer start at 0, is read through the whole view", async () => {
  await withService({ demo: false }, async (service) => {
    await service.host.createTable("big", bigColumns(10));
    const table = (await service.host.table("big"))!;
    await table.clear();
    await table.update(bigColumns(ROWS));
    await service.host.flush();
    const whole = await table.view();
    try {
      assert.equal(await text(service, "big", "csv"), await whole.to_csv());
      assert.deepEqual(ExportViews.of(service.host).tables, ["big"]);
    } finally {
      await whole.delete();
    }
  });
});
