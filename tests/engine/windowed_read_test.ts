import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { type Table, tableFromIPC } from "apache-arrow";
import { websocketUrl, withService } from "../support/service.ts";
import { bigColumns, schemaMessages } from "../support/export_data.ts";
import { arrowRequestViewport } from "../../src/engine/windowed_read.ts";

const BIG = 300_000;
/** Windows of a BIG-row, three-column view: 16,666 rows each, about 50k cells. */
const WINDOWS = Math.ceil(BIG / Math.floor(50_000 / 3));

/** Each column's values, whatever the encoding of its strings. */
function columnsOf(table: Table): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const f of table.schema.fields) out[f.name] = Array.from(table.getChild(f.name)!);
  return out;
}

function typeOf(table: Table, column: string): string {
  return String(table.schema.fields.find((f) => f.name === column)!.type);
}

Deno.test("view.to_arrow() of a 300k-row view over the socket comes in windows, equal to the in-process answer", async () => {
  await withService({ demo: false }, async (service) => {
    await service.host.createTable("big", bigColumns(BIG));
    const local = await (await service.host.table("big"))!.view();
    const client = await perspective.websocket(websocketUrl(service));
    try {
      const view = await (await client.open_table("big")).view();
      const bytes = new Uint8Array(await view.to_arrow());
      const remote = tableFromIPC(bytes);
      const expected = tableFromIPC(new Uint8Array(await local.to_arrow()));
      assert.equal(remote.numRows, BIG);
      assert.deepEqual(columnsOf(remote), columnsOf(expected));
      // The engine's one call dictionary-encodes strings in one batch; windows do not.
      assert.equal(typeOf(expected, "s"), "Dictionary<Int32, Utf8>");
      assert.equal(typeOf(remote, "s"), "Utf8");
      assert.equal(remote.batches.length, WINDOWS);
      assert.equal(schemaMessages(bytes), 1);

      // A large explicit viewport is windowed within its bounds.
      const part = tableFromIPC(
        new Uint8Array(await view.to_arrow({ start_row: 5, end_row: 250_005 })),
      );
      assert.equal(part.numRows, 250_000);
      assert.equal(typeOf(part, "s"), "Utf8");
      assert.deepEqual(
        columnsOf(part),
        columnsOf(tableFromIPC(
          new Uint8Array(await local.to_arrow({ start_row: 5, end_row: 250_005 })),
        )),
      );
      await view.delete();
    } finally {
      await client.terminate();
      await local.delete();
    }
  });
});

Deno.test("view.to_arrow() is windowed on a session without shared views too", async () => {
  await withService({ demo: false, shareViews: false }, async (service) => {
    await service.host.createTable("big", bigColumns(100_000));
    const local = await (await service.host.table("big"))!.view();
    const client = await perspective.websocket(websocketUrl(service));
    try {
      const view = await (await client.open_table("big")).view();
      const remote = tableFromIPC(new Uint8Array(await view.to_arrow()));
      assert.equal(typeOf(remote, "s"), "Utf8");
      assert.equal(remote.batches.length, Math.ceil(100_000 / Math.floor(50_000 / 3)));
      assert.deepEqual(
        columnsOf(remote),
        columnsOf(tableFromIPC(new Uint8Array(await local.to_arrow()))),
      );
      await view.delete();
    } finally {
      await client.terminate();
      await local.delete();
    }
  });
});

Deno.test("view.to_arrow() with a small viewport goes to the engine as it is", async () => {
  await withService({ demo: false }, async (service) => {
    await service.host.createTable("big", bigColumns(BIG));
    const client = await perspective.websocket(websocketUrl(service));
    try {
      const view = await (await client.open_table("big")).view();
      const window = tableFromIPC(
        new Uint8Array(await view.to_arrow({ start_row: 1000, end_row: 1100 })),
      );
      assert.equal(window.numRows, 100);
      assert.deepEqual(Array.from(window.getChild("id")!), bigColumns(BIG).id.slice(1000, 1100));
      assert.equal(typeOf(window, "s"), "Dictionary<Int32, Utf8>");
      await view.delete();
    } finally {
      await client.terminate();
    }
  });
});

Deno.test("other sessions' requests are answered between the windows of a large to_arrow", async () => {
  await withService({ demo: false }, async (service) => {
    await service.host.createTable("big", bigColumns(BIG));
    await service.host.createTable("small", [{ x: 1 }]);
    const reader = await perspective.websocket(websocketUrl(service));
    const other = await perspective.websocket(websocketUrl(service));
    try {
      const view = await (await reader.open_table("big")).view();
      const small = await other.open_table("small");
      await small.size();
      let done = false;
      const read = view.to_arrow().then((buffer) => {
        done = true;
        return buffer;
      });
      // One after the other: each waits behind at most one window of the read.
      let answered = 0;
      while (!done) {
        assert.equal(await small.size(), 1);
        if (!done) answered++;
      }
      assert.equal(tableFromIPC(new Uint8Array(await read)).numRows, BIG);
      // The engine's one call lets two through at most (measured), windows about one each.
      assert(answered >= 5, `${answered} requests answered during a read of ${WINDOWS} windows`);
      await view.delete();
    } finally {
      await reader.terminate();
      await other.terminate();
    }
  });
});

Deno.test("other viewers' reads of their shared views are answered between the windows of a large to_arrow", async () => {
  await withService({ demo: false }, async (service) => {
    await service.host.createTable("big", bigColumns(BIG));
    await service.host.createTable("small", [{ x: 1 }, { x: 2 }]);
    const reader = await perspective.websocket(websocketUrl(service));
    const other = await perspective.websocket(websocketUrl(service));
    try {
      // Both views are shared views: their reads go through one engine session.
      const view = await (await reader.open_table("big")).view();
      const small = await (await other.open_table("small")).view();
      let done = false;
      const read = view.to_arrow().then((buffer) => {
        done = true;
        return buffer;
      });
      let answered = 0;
      for (let i = 0; !done; i++) {
        // A new window each time, so that no read is answered from the shared views' cache.
        const rows = await small.to_columns({ start_row: 0, end_row: 1 + (i % 2) }) as {
          x: number[];
        };
        assert.equal(rows.x.length, 1 + (i % 2));
        if (!done) answered++;
      }
      assert.equal(tableFromIPC(new Uint8Array(await read)).numRows, BIG);
      assert(answered >= 5, `${answered} reads answered during a read of ${WINDOWS} windows`);
      await view.delete();
      await small.delete();
    } finally {
      await reader.terminate();
      await other.terminate();
    }
  });
});

Deno.test("requests on a view sent after its large to_arrow are answered after it, as the engine would", async () => {
  await withService({ demo: false }, async (service) => {
    await service.host.createTable("big", bigColumns(100_000));
    const client = await perspective.websocket(websocketUrl(service));
    try {
      const view = await (await client.open_table("big")).view();
      const order: string[] = [];
      const read = view.to_arrow().then((b) => (order.push("to_arrow"), b));
      const rows = view.num_rows().then((n) => (order.push("num_rows"), n));
      assert.equal(tableFromIPC(new Uint8Array(await read)).numRows, 100_000);
      assert.equal(await rows, 100_000);
      assert.deepEqual(order, ["to_arrow", "num_rows"]);
      await view.delete();
    } finally {
      await client.terminate();
    }
  });
});

Deno.test("a replica made from a large remote view loads the windowed Arrow", async () => {
  await withService({ demo: false }, async (service) => {
    await service.host.createTable("big", bigColumns(40_000));
    const client = await perspective.websocket(websocketUrl(service));
    try {
      const view = await (await client.open_table("big")).view();
      const replica = await perspective.table(view);
      assert.equal(await replica.size(), 40_000);
      const local = await replica.view();
      assert.deepEqual(await local.to_columns(), bigColumns(40_000));
      await local.delete();
      await replica.delete();
      await view.delete();
    } finally {
      await client.terminate();
    }
  });
});

Deno.test("arrowRequestViewport() reads a viewport and leaves compression and unknown fields to the engine", () => {
  // viewport {start_row: 0, end_row: 4}
  assert.deepEqual(arrowRequestViewport(new Uint8Array([10, 4, 8, 0, 24, 4])), {
    start_row: 0,
    end_row: 4,
  });
  assert.deepEqual(arrowRequestViewport(new Uint8Array([10, 0])), {});
  assert.deepEqual(arrowRequestViewport(new Uint8Array([])), {});
  // compression: "lz4"
  assert.equal(arrowRequestViewport(new Uint8Array([18, 3, 108, 122, 52])), undefined);
  // viewport field 9
  assert.equal(arrowRequestViewport(new Uint8Array([10, 2, 72, 1])), undefined);
});
