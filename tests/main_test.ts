import assert from "node:assert/strict";
import { waitFor } from "./support/wait.ts";

const ROOT = new URL("../", import.meta.url);

/**
 * Starts `deno task start` exactly as a user would, with the given
 * environment; its data directory is a temporary one unless `env` names one.
 */
function start(env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["task", "start"],
    cwd: ROOT,
    env: { LOG_LEVEL: "warn", DATA_DIR: Deno.makeTempDirSync({ prefix: "main-data-" }), ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function readUntil(
  stream: ReadableStream<Uint8Array>,
  pattern: RegExp,
): Promise<RegExpMatchArray> {
  const decoder = new TextDecoder();
  let text = "";
  const reader = stream.getReader();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended before ${pattern}: ${text}`);
      text += decoder.decode(value);
      const match = text.match(pattern);
      if (match) return match;
    }
  } finally {
    reader.releaseLock();
  }
}

Deno.test("deno task start prints the URL and serves the demo with scoped permissions", async () => {
  const child = start({ PORT: "0" });
  try {
    const [, url] = await readUntil(child.stdout, /open (http:\/\/127\.0\.0\.1:\d+\/)/);
    const tables = await waitFor("the demo table", async () => {
      const res = await fetch(new URL("api/tables", url));
      const list = await res.json() as { name: string; size: number }[];
      return list.find((t) => t.name === "demo" && t.size > 0);
    });
    assert.equal(tables.name, "demo");
    const page = await fetch(url);
    assert.equal(page.status, 200);
    await page.body?.cancel();
  } finally {
    child.kill("SIGTERM");
    const status = await child.status;
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    assert.equal(status.code, 0);
  }
});

Deno.test("deno task start refuses a bad setting and names it", async () => {
  const child = start({ PORT: "not-a-port" });
  const [status, stderr] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
    child.stdout.cancel(),
  ]);
  assert.notEqual(status.code, 0);
  assert.match(stderr, /PORT: expected an integer/);
});

Deno.test("deno task start stops at a directory source it may not write to, naming the flag", async () => {
  const child = start({ PORT: "0", CONFIG: "tests/ingest/fixtures/spool_config.json" });
  const [status, stderr, stdout] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
    new Response(child.stdout).text(),
  ]);
  assert.notEqual(status.code, 0);
  assert.doesNotMatch(stdout, /ready/);
  assert.match(stderr, /sources\[0\]\.options\.path: the directory source needs write access/);
  assert.match(stderr, /--allow-write=\S*spool-never-created/);
  await assert.rejects(
    Deno.stat(new URL("ingest/fixtures/spool-never-created", import.meta.url)),
    Deno.errors.NotFound,
  );
});

/** Whether something still accepts connections at `url`'s port. */
function portOpen(url: string): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port: Number(new URL(url).port) }).close();
    return false;
  } catch {
    return true;
  }
}

Deno.test("deno task start keeps acknowledged rows in DATA_DIR across a kill -9", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "main-durable-" });
  try {
    const first = start({ PORT: "0", DEMO: "0", DATA_DIR: dataDir });
    let url: string;
    try {
      [, url] = await readUntil(first.stdout, /open (http:\/\/127\.0\.0\.1:\d+\/)/);
      const res = await fetch(new URL("api/tables/kept/rows?index=id", url), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([{ id: 1, name: "a" }, { id: 2, name: "b" }]),
      });
      assert.equal(res.status, 201);
      await res.body?.cancel();
    } finally {
      // The task runner cannot pass SIGKILL on; the service, its child, exits by itself.
      first.kill("SIGKILL");
      await first.status;
      await first.stdout.cancel().catch(() => {});
      await first.stderr.cancel().catch(() => {});
    }
    await waitFor("the service to exit with its task", () => !portOpen(url));
    const second = start({ PORT: "0", DEMO: "0", DATA_DIR: dataDir });
    try {
      [, url] = await readUntil(second.stdout, /open (http:\/\/127\.0\.0\.1:\d+\/)/);
      const rows = await (await fetch(new URL("api/tables/kept/rows?format=json", url))).json();
      assert.deepEqual(rows, [{ id: 1, name: "a" }, { id: 2, name: "b" }]);
    } finally {
      second.kill("SIGTERM");
      assert.equal((await second.status).code, 0);
      await second.stdout.cancel().catch(() => {});
      await second.stderr.cancel().catch(() => {});
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
