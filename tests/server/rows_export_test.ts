import assert from "node:assert/strict";
import { tableFromIPC } from "apache-arrow";
import { withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import {
  arrowRows,
  bigColumns,
  ndjsonRows,
  schemaMessages,
  TYPED_SCHEMA,
  typedRows,
} from "../support/export_data.ts";
import { createLogger } from "../../src/ops/log.ts";
import type { Service } from "../../src/service.ts";

const ARROW = "application/vnd.apache.arrow.stream";
const BIG = 300_000;
/** Windows of a BIG-row, three-column export: 16,666 rows each, about 50k cells. */
const WINDOWS = Math.ceil(BIG / Math.floor(50_000 / 3));

function get(service: Service, path: string, headers: Record<string, string> = {}) {
  return fetch(new URL(path, service.url), { headers });
}

/** A table of `rows` rows of an integer, a string and a float column. */
async function bigTable(service: Service, name: string, rows: number): Promise<void> {
  await service.host.createTable(name, bigColumns(rows));
}

/** Whether the table has no view left: the engine refuses to delete one that has. */
async function deletable(service: Service, name: string): Promise<boolean> {
  try {
    await (await service.host.client.open_table(name)).delete();
    return true;
  } catch {
    return false;
  }
}

Deno.test("GET rows streams every format across windows, equal to the engine's single call", async () => {
  await withService({ demo: false, handler: { exports: { windowRows: 500 } } }, async (service) => {
    await service.host.createTable("t", { ...TYPED_SCHEMA });
    await (await service.host.table("t"))!.update(typedRows(3000));
    await service.host.flush();
    const view = await (await service.host.table("t"))!.view();
    try {
      const csv = await get(service, "api/tables/t/rows?format=csv");
      assert.equal(await csv.text(), await view.to_csv());
      const json = await get(service, "api/tables/t/rows?format=json");
      assert.deepEqual(await json.json(), JSON.parse(await view.to_json_string()));
      const nd = await get(service, "api/tables/t/rows", { accept: "application/x-ndjson" });
      assert.deepEqual(ndjsonRows(await nd.text()), ndjsonRows(await view.to_ndjson()));
      const cols = await get(service, "api/tables/t/rows?format=columns");
      assert.deepEqual(await cols.json(), JSON.parse(await view.to_columns_string()));

      const arrow = await get(service, "api/tables/t/rows", { accept: ARROW });
      assert.equal(arrow.headers.get("content-type"), ARROW);
      const bytes = new Uint8Array(await arrow.arrayBuffer());
      assert.equal(schemaMessages(bytes), 1);
      assert.equal(tableFromIPC(bytes).batches.length, 6);
      assert.deepEqual(arrowRows(bytes), arrowRows(new Uint8Array(await view.to_arrow())));
      // Plain string columns POST back like the engine's own dictionaries.
      const back = await fetch(new URL("api/tables/copy/rows", service.url), {
        method: "POST",
        headers: { "content-type": ARROW },
        body: bytes as BodyInit,
      });
      assert.equal(back.status, 201, await back.clone().text());
      await back.body?.cancel();
      const copy = await (await service.host.table("copy"))!.view();
      assert.deepEqual(await copy.to_columns(), await view.to_columns());
      await copy.delete();
    } finally {
      await view.delete();
    }
  });
});

Deno.test("GET rows sends its first bytes before the engine read the last window, and a cancelled body deletes its view", async () => {
  let reads = 0;
  const options = { demo: false, handler: { exports: { onWindow: () => reads++ } } };
  await withService(options, async (service) => {
    await bigTable(service, "big", BIG);
    const res = await get(service, "api/tables/big/rows?format=arrow");
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert(first.value!.byteLength > 0);
    assert(reads < WINDOWS, `${reads} of ${WINDOWS} windows read when the first bytes arrived`);
    await reader.cancel();
    await waitFor("the export's view deleted", () => deletable(service, "big"));
    assert(reads < WINDOWS, `${reads} of ${WINDOWS} windows read after the cancel`);
  });
});

Deno.test("GET rows: while a big export is read slowly, other tables' calls are answered between its windows", async () => {
  let reads = 0;
  const options = { demo: false, handler: { exports: { onWindow: () => reads++ } } };
  await withService(options, async (service) => {
    await bigTable(service, "big", BIG);
    await service.host.createTable("other", [{ x: 1 }, { x: 2 }]);
    const res = await get(service, "api/tables/big/rows?format=csv");
    const reader = res.body!.getReader();
    let slow = true;
    let finished = false;
    let text = "";
    const decoder = new TextDecoder();
    const drain = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        if (slow) await new Promise((r) => setTimeout(r, 50));
      }
      finished = true;
    })();
    await waitFor("the first bytes", () => text.length > 0);
    const other = (await service.host.table("other"))!;
    for (let i = 0; i < 3; i++) assert.equal(await other.size(), 2);
    assert(
      reads < WINDOWS,
      `${reads} of ${WINDOWS} windows read when the other calls were answered`,
    );
    assert.equal(finished, false, "the export was still running");
    slow = false;
    await drain;
    assert.equal(reads, WINDOWS);
    assert.equal(text.split("\n").filter((l) => l !== "").length, BIG + 1);
  });
});

Deno.test("GET rows cuts the body off when the export fails midway, and logs why", async () => {
  const lines: string[] = [];
  const log = createLogger("error", (line) => lines.push(line));
  const options = { demo: false, log, handler: { exports: { windowRows: 1000 } } };
  await withService(options, async (service) => {
    await bigTable(service, "big", 50_000);
    const res = await get(service, "api/tables/big/rows?format=json");
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    assert((await reader.read()).value!.byteLength > 0);
    const dropped = await fetch(new URL("api/tables/big", service.url), { method: "DELETE" });
    assert.equal(dropped.status, 204);
    await assert.rejects(async () => {
      while (!(await reader.read()).done);
    });
    await waitFor("the failure logged", () => lines.some((l) => l.includes("response failed")));
    assert.match(lines.find((l) => l.includes("response failed"))!, /export of table \\"big\\"/);
  });
});

Deno.test("GET rows answers 404, 406 and 507 as problem+json before any byte", async () => {
  await withService({ demo: false }, async (service) => {
    await bigTable(service, "big", 1000);
    const problem = async (res: Response, status: number) => {
      assert.equal(res.status, status);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      return (await res.json()).detail as string;
    };
    await problem(await get(service, "api/tables/nope/rows?format=csv"), 404);
    await problem(await get(service, "api/tables/big/rows", { accept: "image/png" }), 406);
    const { used } = await service.host.memory.read();
    service.host.memory.budget = used - 32 * 1024 ** 2;
    assert.match(
      await problem(await get(service, "api/tables/big/rows?format=arrow"), 507),
      /export/,
    );
    assert.equal(service.host.memory.reserved, 0);
  });
});
