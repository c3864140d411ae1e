import assert from "node:assert/strict";
import { join } from "node:path";
import { DataDirError } from "../../src/storage/durable.ts";
import { FRAME_HEAD } from "../../src/storage/record.ts";
import { SEGMENT_MAGIC } from "../../src/storage/segments.ts";
import { jsonBytes, openDir } from "../support/storage.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * Runs `main.ts` with `DATA_DIR` and the given Deno permission flags. As
 * root, file modes do not stop a write, so the service runs as `nobody`
 * (with its own module cache, offline) when `asNobody` is set.
 */
function serve(
  dataDir: string,
  permissions: string[],
  { asNobody = false, denoDir }: { asNobody?: boolean; denoDir?: string } = {},
): Deno.ChildProcess {
  const deno = [
    Deno.execPath(),
    "run",
    ...(asNobody ? ["--cached-only", "--node-modules-dir=manual"] : []),
    ...permissions,
    MAIN,
  ];
  const dropRoot = asNobody && Deno.uid() === 0;
  const [cmd, ...args] = dropRoot
    ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...deno]
    : deno;
  return new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: {
      DATA_DIR: dataDir,
      PORT: "0",
      DEMO: "false",
      LOG_LEVEL: "warn",
      ...(denoDir ? { DENO_DIR: denoDir } : {}),
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

const NET_ENV = ["--allow-net=127.0.0.1", "--allow-env", "--allow-sys"];

async function finished(child: Deno.ChildProcess) {
  const [status, stdout, stderr] = await Promise.all([
    child.status,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  return { code: status.code, stdout, stderr };
}

/** Reads stdout until the service says where it listens. */
async function listening(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the service exited before it listened: ${text}`);
    text += value;
    const match = text.match(/open (http:\/\/127\.0\.0\.1:\d+\/)/);
    if (match) {
      // Keep draining, so the child never blocks on a full pipe.
      void (async () => {
        while (!(await reader.read()).done);
      })().catch(() => {});
      return match[1];
    }
  }
}

async function stop(child: Deno.ChildProcess): Promise<number> {
  child.kill("SIGTERM");
  const status = await child.status;
  await child.stderr.cancel().catch(() => {});
  return status.code;
}

Deno.test("start-up stops when Deno may not write DATA_DIR, naming the directory and the flag", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const dataDir = join(dir, "data");
    const out = await finished(serve(dataDir, [`--allow-read`, ...NET_ENV]));
    assert.equal(out.code, 3, out.stderr);
    assert.match(out.stderr, /storage error/);
    assert.ok(out.stderr.includes(`--allow-write=${dataDir}`), out.stderr);
    assert.doesNotMatch(out.stdout, /ready/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start-up stops when the user may not write DATA_DIR, naming the directory", async () => {
  if (Deno.build.os === "windows") return;
  const dataDir = await Deno.makeTempDir();
  const denoDir = await Deno.makeTempDir();
  try {
    await Deno.chmod(dataDir, 0o555);
    await Deno.chmod(denoDir, 0o777);
    const child = serve(dataDir, ["--allow-read", `--allow-write=${dataDir}`, ...NET_ENV], {
      asNobody: true,
      denoDir,
    });
    const out = await finished(child);
    assert.equal(out.code, 3, out.stderr);
    assert.ok(out.stderr.includes(`DATA_DIR ${dataDir} is not writable`), out.stderr);
    assert.doesNotMatch(out.stdout, /ready/);
    assert.deepEqual([...Deno.readDirSync(dataDir)], []);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(denoDir, { recursive: true });
  }
});

Deno.test("a second process on the same DATA_DIR is refused at start-up, and the first serves on", async () => {
  const dataDir = await Deno.makeTempDir();
  const permissions = ["--allow-read", `--allow-write=${dataDir}`, ...NET_ENV];
  const first = serve(dataDir, permissions);
  try {
    const url = await listening(first);
    const created = await fetch(new URL("api/tables/t", url), {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ schema: { id: "integer" } }),
    });
    await created.body?.cancel();
    assert.equal(created.status, 201);

    const second = await finished(serve(dataDir, permissions));
    assert.equal(second.code, 3, second.stderr);
    assert.ok(second.stderr.includes(`DATA_DIR ${dataDir} is in use by another process`));
    assert.doesNotMatch(second.stdout, /ready/);

    const rows = await fetch(new URL("api/tables/t/rows", url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ id: 1 }]),
    });
    await rows.body?.cancel();
    assert.equal(rows.status, 200);
    assert.equal(await stop(first), 0);

    // Once the first is gone, the lock is free and its rows are there.
    const third = serve(dataDir, permissions);
    try {
      const again = await listening(third);
      const res = await fetch(new URL("api/tables/t/rows?format=json", again));
      assert.deepEqual(await res.json(), [{ id: 1 }]);
    } finally {
      assert.equal(await stop(third), 0);
    }
  } finally {
    await stop(first).catch(() => {});
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("openDataDir refuses a data directory another opener holds, in the same process too", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const first = await openDir(dataDir);
    try {
      await assert.rejects(openDir(dataDir), (err) => {
        assert.ok(err instanceof DataDirError);
        assert.match(err.message, /in use by another process/);
        return true;
      });
    } finally {
      await first.close();
    }
    const reopened = await openDir(dataDir);
    await reopened.close();
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("start-up stops on a damaged log segment, printing the file, the offset and the mv command", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const open = await openDir(dataDir);
    try {
      await open.sink.createTable("t", { schema: { id: "integer" }, index: "id", limit: null });
      for (let i = 0; i < 3; i++) {
        await open.sink.submit({
          table: "t",
          op: "update",
          format: "json",
          bytes: jsonBytes([{ id: i }]),
        });
      }
    } finally {
      await open.close();
    }
    const [segment] = (await Array.fromAsync(Deno.readDir(join(dataDir, "wal")))).map((e) =>
      join(dataDir, "wal", e.name)
    );
    const bytes = await Deno.readFile(segment);
    // Damage the first record (the create); three good ones follow it.
    const offset = SEGMENT_MAGIC.byteLength;
    bytes[offset + FRAME_HEAD + 1] ^= 0x02;
    await Deno.writeFile(segment, bytes);

    const out = await finished(
      serve(dataDir, ["--allow-read", `--allow-write=${dataDir}`, ...NET_ENV]),
    );
    assert.equal(out.code, 3, out.stderr);
    assert.ok(out.stderr.includes(`storage error: write-ahead log segment ${segment}`), out.stderr);
    assert.match(out.stderr, new RegExp(`damaged at byte ${offset}\\b`));
    assert.ok(out.stderr.includes(`mv '${segment}' '${segment}.damaged'`), out.stderr);
    assert.doesNotMatch(out.stdout, /ready/);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
