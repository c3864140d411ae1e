import assert from "node:assert/strict";
import { type LogFile, realFs, type StorageFs } from "../../src/storage/fs.ts";
import type { Service } from "../../src/service.ts";
import { withService } from "../support/service.ts";

const DISK_FULL = () => new Error("No space left on device (os error 28)");
const IO_ERROR = () => new Error("Input/output error (os error 5)");

/** Where the injected fault strikes. */
type Fault = {
  /**
   * `write`: half of the first write lands, then writes throw; `sync`:
   * syncData throws; `create`: a new file cannot be created; `snapshot`:
   * only whole-file writes (snapshots, checkpoints) fail.
   */
  at: "write" | "sync" | "create" | "snapshot";
  error: () => Error;
  /** The file cannot be cut back either. */
  truncateFails?: boolean;
};

/**
 * The real file system with a switch: while `fault` is set, log files fail
 * the way a full or failing disk does.
 */
class FaultyFs implements StorageFs {
  fault?: Fault;
  /** Operations that failed because of the fault. */
  failures = 0;

  async open(path: string, options: Deno.OpenOptions): Promise<LogFile> {
    if (this.fault?.at === "create" && options.create) {
      this.failures++;
      throw this.fault.error();
    }
    const file = await realFs.open(path, options);
    return {
      write: async (bytes) => {
        if (this.fault?.at === "write") {
          this.failures++;
          // A full disk takes what fits, then refuses the rest.
          if (bytes.byteLength > 1) {
            return await file.write(bytes.subarray(0, bytes.byteLength >> 1));
          }
          throw this.fault.error();
        }
        return await file.write(bytes);
      },
      syncData: async () => {
        if (this.fault?.at === "sync") {
          this.failures++;
          throw this.fault.error();
        }
        await file.syncData();
      },
      truncate: async (length) => {
        if (this.fault?.truncateFails) throw this.fault.error();
        await file.truncate(length);
      },
      seek: (offset) => file.seek(offset),
      close: () => file.close(),
    };
  }
  readFile = realFs.readFile;
  writeFileSynced(path: string, bytes: Uint8Array): Promise<void> {
    if (this.fault?.at === "snapshot") return Promise.reject(this.fault.error());
    return realFs.writeFileSynced(path, bytes);
  }
  rename = realFs.rename;
  remove = realFs.remove;
  list = realFs.list;
  mkdir = realFs.mkdir;
  syncDir = realFs.syncDir;
}

const SCHEMA = { id: "integer", name: "string" };

function request(service: Service, method: string, path: string, body?: unknown) {
  return fetch(new URL(path.replace(/^\//, ""), service.url), {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
  });
}

async function rowsOf(service: Service, table: string): Promise<unknown> {
  const res = await request(service, "GET", `/api/tables/${table}/rows?format=json`);
  assert.equal(res.status, 200, table);
  return await res.json();
}

async function expectRefused(res: Response, status: number, detail: RegExp): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const problem = JSON.parse(text);
  assert.equal(problem.status, status);
  assert.match(problem.detail, detail);
}

/**
 * With the fault on: a batch, a create, a drop, a replace and a clear are
 * refused with 507 and change nothing, reads go on; with it off, writes
 * succeed again; after a restart exactly the acknowledged changes are there.
 */
async function faultRoundTrip(fault: Fault, detail: RegExp): Promise<void> {
  const dataDir = await Deno.makeTempDir();
  const fs = new FaultyFs();
  const options = { dataDir, demo: false, storageFs: fs };
  try {
    await withService(options, async (service) => {
      assert.equal(
        (await request(service, "PUT", "/api/tables/t", { schema: SCHEMA, index: "id" })).status,
        201,
      );
      assert.equal(
        (await request(service, "POST", "/api/tables/t/rows", [{ id: 1, name: "a" }])).status,
        200,
      );
      const before = await rowsOf(service, "t");

      fs.fault = fault;
      await expectRefused(
        await request(service, "POST", "/api/tables/t/rows", [{ id: 1, name: "x" }, {
          id: 2,
          name: "b",
        }]),
        507,
        detail,
      );
      await expectRefused(
        await request(service, "PUT", "/api/tables/t/rows", [{ id: 9, name: "z" }]),
        507,
        detail,
      );
      await expectRefused(await request(service, "DELETE", "/api/tables/t/rows"), 507, detail);
      await expectRefused(
        await request(service, "PUT", "/api/tables/u", { schema: SCHEMA }),
        507,
        detail,
      );
      await expectRefused(await request(service, "DELETE", "/api/tables/t"), 507, detail);
      await expectRefused(
        await request(service, "POST", "/api/tables/auto/rows", [{ a: 1 }]),
        507,
        detail,
      );
      assert.ok(fs.failures > 0, "the fault was hit");
      // Reads go on, and nothing of the refused changes was applied.
      assert.deepEqual(await rowsOf(service, "t"), before);
      assert.equal((await request(service, "GET", "/api/tables/u")).status, 404);
      assert.equal((await request(service, "GET", "/api/tables/auto")).status, 404);
      const tables = await (await request(service, "GET", "/api/tables")).json();
      assert.deepEqual(tables.map((t: { name: string }) => t.name), ["t"]);
      assert.equal((await request(service, "GET", "/readyz")).status, 200);

      fs.fault = undefined;
      assert.equal(
        (await request(service, "POST", "/api/tables/t/rows", [{ id: 2, name: "b" }])).status,
        200,
      );
      assert.equal(
        (await request(service, "PUT", "/api/tables/u", { schema: SCHEMA })).status,
        201,
      );
      assert.deepEqual(await rowsOf(service, "t"), [{ id: 1, name: "a" }, { id: 2, name: "b" }]);
    });
    // What was acknowledged is all there after a restart, and nothing else.
    await withService({ dataDir, demo: false }, async (service) => {
      assert.deepEqual(await rowsOf(service, "t"), [{ id: 1, name: "a" }, { id: 2, name: "b" }]);
      assert.deepEqual(await rowsOf(service, "u"), []);
      assert.equal((await request(service, "GET", "/api/tables/auto")).status, 404);
      assert.equal(
        (await request(service, "POST", "/api/tables/t/rows", [{ id: 3, name: "c" }])).status,
        200,
      );
    });
    await withService({ dataDir, demo: false }, async (service) => {
      assert.deepEqual(await rowsOf(service, "t"), [
        { id: 1, name: "a" },
        { id: 2, name: "b" },
        { id: 3, name: "c" },
      ]);
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test("a full disk on write refuses changes with 507; reads go on; writes resume when space returns", async () => {
  await faultRoundTrip({ at: "write", error: DISK_FULL }, /disk is full/);
});

Deno.test("a full disk on fdatasync refuses changes with 507 and leaves nothing of them behind", async () => {
  await faultRoundTrip({ at: "sync", error: DISK_FULL }, /disk is full/);
});

Deno.test("a write error other than a full disk refuses changes with 507 naming the error", async () => {
  await faultRoundTrip(
    { at: "write", error: IO_ERROR },
    /writing the batch log failed.*os error 5/,
  );
  await faultRoundTrip({ at: "sync", error: IO_ERROR }, /writing the batch log failed.*os error 5/);
});

Deno.test("a failed write that cannot even be cut back loses nothing acknowledged", async () => {
  await faultRoundTrip({ at: "write", error: IO_ERROR, truncateFails: true }, /os error 5/);
});

Deno.test("a new segment that cannot be created refuses changes with 507 until it can", async () => {
  const dataDir = await Deno.makeTempDir();
  const fs = new FaultyFs();
  try {
    // A fresh data directory has no segment yet: the first change creates one.
    fs.fault = { at: "create", error: DISK_FULL };
    await withService({ dataDir, demo: false, storageFs: fs }, async (service) => {
      await expectRefused(
        await request(service, "PUT", "/api/tables/t", { schema: SCHEMA, index: "id" }),
        507,
        /disk is full/,
      );
      assert.equal((await request(service, "GET", "/api/tables/t")).status, 404);
      fs.fault = undefined;
      assert.equal(
        (await request(service, "PUT", "/api/tables/t", { schema: SCHEMA, index: "id" })).status,
        201,
      );
      assert.equal(
        (await request(service, "POST", "/api/tables/t/rows", [{ id: 1, name: "a" }])).status,
        200,
      );
    });
    await withService({ dataDir, demo: false }, async (service) => {
      assert.deepEqual(await rowsOf(service, "t"), [{ id: 1, name: "a" }]);
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a full disk during a checkpoint fails the checkpoint, not ingest; the next one succeeds", async () => {
  const dataDir = await Deno.makeTempDir();
  const fs = new FaultyFs();
  try {
    await withService({ dataDir, demo: false, storageFs: fs }, async (service) => {
      assert.equal(
        (await request(service, "PUT", "/api/tables/t", { schema: SCHEMA, index: "id" })).status,
        201,
      );
      assert.equal(
        (await request(service, "POST", "/api/tables/t/rows", [{ id: 1, name: "a" }])).status,
        200,
      );
      const checkpointer = service.storage!.checkpointer;
      fs.fault = { at: "snapshot", error: DISK_FULL };
      assert.equal(await checkpointer.checkpoint(), undefined);
      assert.equal(checkpointer.failures, 1);
      assert.equal(checkpointer.seq, 0, "no checkpoint was committed");
      assert.deepEqual(
        (await Array.fromAsync(Deno.readDir(dataDir))).map((e) => e.name).filter((n) =>
          n.startsWith("checkpoint-") && !n.endsWith(".tmp")
        ),
        [],
      );
      // Ingest goes on while checkpoints fail: the log keeps every record.
      assert.equal(
        (await request(service, "POST", "/api/tables/t/rows", [{ id: 2, name: "b" }])).status,
        200,
      );
      fs.fault = undefined;
      assert.ok(await checkpointer.checkpoint());
      assert.equal(
        (await request(service, "POST", "/api/tables/t/rows", [{ id: 3, name: "c" }])).status,
        200,
      );
    });
    await withService({ dataDir, demo: false }, async (service) => {
      assert.ok(service.storage!.recovery.checkpoint, "recovered from the checkpoint");
      assert.deepEqual(await rowsOf(service, "t"), [
        { id: 1, name: "a" },
        { id: 2, name: "b" },
        { id: 3, name: "c" },
      ]);
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
