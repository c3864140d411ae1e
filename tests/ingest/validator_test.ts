import assert from "node:assert/strict";
import { tableFromArrays, tableToIPC } from "apache-arrow";
import { Validator } from "../../src/ingest/validator.ts";
import { IngestError, type TableDef } from "../../src/ingest/batch.ts";

const DEF: TableDef = { schema: { id: "integer", name: "string" }, index: null, limit: null };
const FIXTURE = new URL("./fixtures/loops_decoder.arrow", import.meta.url);

Deno.test("Validator refuses a body that loops the Arrow decoder, then goes on validating", async () => {
  const validator = new Validator({ baseTimeoutMs: 1000 });
  try {
    const bytes = await Deno.readFile(FIXTURE);
    const started = Date.now();
    await assert.rejects(
      validator.validate({ table: "t", op: "update", format: "arrow", bytes }, DEF, {}),
      (err) => err instanceof IngestError && err.status === 400,
    );
    assert.ok(Date.now() - started < 30_000);
    const good = tableToIPC(tableFromArrays({ id: Int32Array.from([1, 2]) }));
    const valid = await validator.validate(
      { table: "t", op: "update", format: "arrow", bytes: good },
      DEF,
      {},
    );
    assert.equal(valid.rows, 2);
  } finally {
    validator.close();
  }
});

Deno.test("Validator leaves the caller's bytes usable and handles views into larger buffers", async () => {
  const validator = new Validator({ inlineBelowBytes: 0 });
  try {
    const text = new TextEncoder().encode('xx[{"id": 1}, {"id": 2}]yy');
    const view = text.subarray(2, text.length - 2);
    const batch = { table: "t", op: "update" as const, format: "json" as const, bytes: view };
    const [a, b] = await Promise.all([
      validator.validate(batch, DEF, {}),
      validator.validate(batch, DEF, {}),
    ]);
    assert.equal(a.rows, 2);
    assert.equal(b.rows, 2);
    assert.equal(new TextDecoder().decode(a.batch.bytes), '[{"id": 1}, {"id": 2}]');
    assert.equal(view.byteLength, text.length - 4);
    await assert.rejects(
      validator.validate({ ...batch, bytes: new TextEncoder().encode('[{"zz": 1}]') }, DEF, {}),
      (err) => err instanceof IngestError && err.status === 422,
    );
  } finally {
    validator.close();
  }
});

Deno.test("Validator moves an owned body to the worker and hands the same bytes back", async () => {
  const validator = new Validator();
  try {
    const ipc = tableToIPC(tableFromArrays({ id: Int32Array.from([1, 2, 3]) }));
    const owned = ipc.slice();
    const kept = ipc.slice();
    const valid = await validator.validate(
      { table: "t", op: "update", format: "arrow", bytes: owned, owned: true },
      DEF,
      {},
    );
    // Moved, not copied: the source's buffer is detached.
    assert.equal(owned.byteLength, 0);
    assert.deepEqual(valid.batch.bytes, ipc);
    const copied = await validator.validate(
      { table: "t", op: "update", format: "arrow", bytes: kept },
      DEF,
      {},
    );
    assert.equal(kept.byteLength, ipc.byteLength);
    assert.deepEqual(copied.batch.bytes, ipc);
  } finally {
    validator.close();
  }
});

Deno.test("Validator cuts off a validation that passes its deadline, then goes on validating", async () => {
  const validator = new Validator({ baseTimeoutMs: 50, timeoutMsPerMiB: 0, inlineBelowBytes: 0 });
  try {
    // Parsing some 20 MB of JSON takes far longer than 50 ms.
    const rows = JSON.stringify(Array.from({ length: 400_000 }, (_, id) => ({ id, name: "x" })));
    const big = new TextEncoder().encode(rows);
    await assert.rejects(
      validator.validate({ table: "t", op: "update", format: "json", bytes: big }, DEF, {}),
      (err) => err instanceof IngestError && err.status === 400 && /in time/.test(err.message),
    );
    const small = new TextEncoder().encode('[{"id": 1}]');
    // A fresh worker starts within the same 50 ms deadline, which a loaded
    // machine can miss; what must not happen is a validator that stays cut off.
    let valid;
    for (let attempt = 1; !valid; attempt++) {
      try {
        valid = await validator.validate(
          { table: "t", op: "update", format: "json", bytes: small },
          DEF,
          {},
        );
      } catch (err) {
        if (attempt >= 5 || !(err instanceof IngestError && /in time/.test(err.message))) throw err;
      }
    }
    assert.equal(valid.rows, 1);
  } finally {
    validator.close();
  }
});
