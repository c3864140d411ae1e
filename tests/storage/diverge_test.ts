import assert from "node:assert/strict";
import { StatusError } from "../../src/engine/batch_types.ts";
import type { BatchApplier } from "../../src/engine/apply.ts";
import { DataDirError } from "../../src/storage/errors.ts";
import type { LogDivergence } from "../../src/storage/log.ts";
import { jsonBytes, openDir } from "../support/storage.ts";
import { withService } from "../support/service.ts";
import type { Service } from "../../src/service.ts";

const DEF = { schema: { id: "integer", v: "float" }, index: null, limit: null } as const;
const noRoom = () => new StatusError(507, "no room (injected)");
/** Fails the one-row batches of table t: the batch of id 3 below. */
const onlyThird: BatchApplier["faultBeforeStage"] = (b) =>
  b.table === "t" && b.rows === 1 ? noRoom() : undefined;

/** POSTs JSON rows to table t of a running service. */
function postRows(service: Service, rows: unknown[]): Promise<Response> {
  return fetch(new URL("api/tables/t/rows", service.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(rows),
  });
}

function batch(table: string, ids: number[]) {
  return {
    table,
    op: "update" as const,
    format: "json" as const,
    bytes: jsonBytes(ids.map((id) => ({ id, v: id + 0.5 }))),
  };
}

Deno.test("a logged batch this engine alone cannot apply stops changes, and recovery applies it or stops start-up", async () => {
  const dataDir = await Deno.makeTempDir();
  const diverged: LogDivergence[] = [];
  const open = await openDir(dataDir, { onDiverged: (d) => diverged.push(d) });
  try {
    await open.sink.createTable("t", DEF);
    await open.sink.submit(batch("t", [1, 2]));
    await open.sink.submit(batch("t", [5, 6]));
    open.applier.faultBeforeStage = onlyThird;
    await assert.rejects(
      open.sink.submit(batch("t", [3])),
      (err: StatusError) => err.status === 507,
    );
    assert.equal(diverged.length, 1);
    assert.match(diverged[0].reason, /no room \(injected\)/);
    assert.deepEqual(open.storage.log.diverged, diverged[0]);
    // No further change is taken, to any table, until a restart.
    open.applier.faultBeforeStage = undefined;
    await assert.rejects(open.sink.submit(batch("t", [4])), (err: StatusError) => {
      assert.equal(err.status, 503);
      assert.match(err.message, new RegExp(`log record ${diverged[0].seq}`));
      return true;
    });
  } finally {
    await open.close();
  }

  // Still no room at start-up: it stops, naming the record, rather than skip it.
  await assert.rejects(
    openDir(dataDir, {}, onlyThird),
    (err: Error) => {
      assert.ok(err instanceof DataDirError, String(err));
      assert.match(err.message, new RegExp(`log record ${diverged[0].seq} cannot be applied`));
      assert.match(err.message, /MAX_ENGINE_MEMORY/);
      return true;
    },
  );

  // With room, recovery applies the logged batch; the one refused after it was never logged.
  const reopened = await openDir(dataDir);
  try {
    assert.deepEqual((await reopened.rows("t"))?.id, [1, 2, 5, 6, 3]);
    assert.equal(reopened.storage.log.diverged, undefined);
  } finally {
    await reopened.close();
  }
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("a service whose log diverged is not ready, says why, and reports it once", async () => {
  const dataDir = await Deno.makeTempDir();
  const reasons: string[] = [];
  try {
    await withService(
      { demo: false, dataDir, onStorageDiverged: (r) => reasons.push(r) },
      async (service) => {
        const post = (rows: unknown[]) => postRows(service, rows);
        assert.equal((await post([{ id: 1 }])).status, 201);
        service.applier.faultBeforeStage = () => noRoom();
        const failed = await post([{ id: 2 }]);
        assert.equal(failed.status, 507);
        assert.equal(failed.headers.get("content-type"), "application/problem+json");
        await failed.body?.cancel();
        const ready = await fetch(new URL("readyz", service.url));
        assert.equal(ready.status, 503);
        assert.match(await ready.text(), /could not apply log record \d+ .*no room/);
        service.applier.faultBeforeStage = undefined;
        const refused = await post([{ id: 3 }]);
        assert.equal(refused.status, 503);
        await refused.body?.cancel();
        assert.equal(reasons.length, 1);
      },
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("in memory only, a batch the engine fails on is refused and later changes go on", async () => {
  await withService({ demo: false, dataDir: "" }, async (service) => {
    const post = (rows: unknown[]) => postRows(service, rows);
    assert.equal((await post([{ id: 1 }])).status, 201);
    service.applier.faultBeforeStage = () => noRoom();
    const failed = await post([{ id: 2 }]);
    assert.equal(failed.status, 507);
    await failed.body?.cancel();
    service.applier.faultBeforeStage = undefined;
    const next = await post([{ id: 3 }]);
    assert.equal(next.status, 200);
    await next.body?.cancel();
    assert.equal((await fetch(new URL("readyz", service.url))).status, 200);
  });
});
