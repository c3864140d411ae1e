import assert from "node:assert/strict";
import { join } from "node:path";
import { configPath, parseConfig, readConfigFile } from "../../src/config/file.ts";
import { ConfigError } from "../../src/config/env.ts";

function fieldOf(doc: unknown): string {
  try {
    parseConfig(doc, "/tmp");
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.field;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("parseConfig() reads tables, sources, limits and ingest switches", () => {
  const config = parseConfig({
    tables: [{ name: "t", schema: { id: "integer", px: "float" }, index: "id" }],
    sources: [{ use: "directory", options: { path: "in" } }, { name: "x", use: "./x.ts" }],
    limits: { maxBodyBytes: 1024 },
    ingest: { autoCreate: false },
    security: { tokens: [] },
  }, "/etc/psp");
  const [table] = config.tables;
  assert.deepEqual({ ...table, schema: { ...table.schema } }, {
    name: "t",
    schema: { id: "integer", px: "float" },
    index: "id",
    limit: null,
  });
  assert.deepEqual(config.sources, [
    { name: "directory", use: "directory", options: { path: "in" } },
    { name: "x", use: "./x.ts", options: {} },
  ]);
  assert.deepEqual(config.limits, { maxBodyBytes: 1024 });
  assert.equal(config.autoCreate, false);
  assert.deepEqual(config.security, { tokens: [] });
  assert.equal(config.baseDir, "/etc/psp");
});

Deno.test("parseConfig() names the bad field", () => {
  assert.equal(fieldOf([]), "config");
  assert.equal(fieldOf({ tabels: [] }), "tabels");
  assert.equal(fieldOf({ tables: {} }), "tables");
  assert.equal(fieldOf({ tables: [{ schema: { a: "integer" } }] }), "tables[0].name");
  assert.equal(fieldOf({ tables: [{ name: "t", schema: { a: "int" } }] }), "tables[0].schema.a");
  assert.equal(
    fieldOf({ tables: [{ name: "t", schema: { a: "integer" }, index: "b" }] }),
    "tables[0].index",
  );
  assert.equal(
    fieldOf({
      tables: [{ name: "t", schema: { a: "integer" } }, { name: "t", schema: { a: "integer" } }],
    }),
    "tables[1].name",
  );
  assert.equal(fieldOf({ sources: [{ options: {} }] }), "sources[0].use");
  assert.equal(fieldOf({ sources: [{ use: "x", options: [] }] }), "sources[0].options");
  assert.equal(fieldOf({ sources: [{ use: "x", option: {} }] }), "sources[0].option");
  assert.equal(fieldOf({ limits: { maxBodyBytes: -1 } }), "limits.maxBodyBytes");
  assert.equal(fieldOf({ limits: { maxRows: 5 } }), "limits.maxRows");
  assert.equal(fieldOf({ ingest: { autoCreate: "yes" } }), "ingest.autoCreate");
  assert.equal(fieldOf({ security: 1 }), "security");
});

Deno.test("parseConfig() keeps __proto__ keys out of prototypes", () => {
  const doc = JSON.parse(
    '{"tables": [{"name": "t", "schema": {"__proto__": "integer", "a": "string"}}]}',
  );
  const config = parseConfig(doc, "/tmp");
  assert.deepEqual(Object.keys(config.tables[0].schema).sort(), ["__proto__", "a"]);
  assert.equal(Object.getPrototypeOf(config.tables[0].schema), null);
  assert.equal(({} as Record<string, unknown>).a, undefined);
  assert.equal(fieldOf(JSON.parse('{"__proto__": {"tables": []}}')), "__proto__");
});

Deno.test("readConfigFile() reports unreadable, malformed and too deeply nested files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(readConfigFile(join(dir, "missing.json")), ConfigError);
    await Deno.writeTextFile(join(dir, "bad.json"), "{");
    await assert.rejects(readConfigFile(join(dir, "bad.json")), /malformed JSON/);
    await Deno.writeTextFile(
      join(dir, "deep.json"),
      `{"tables": ${"[".repeat(100)}${"]".repeat(100)}}`,
    );
    await assert.rejects(readConfigFile(join(dir, "deep.json")), /deeper/);
    await Deno.writeTextFile(join(dir, "ok.json"), '{"tables": []}');
    assert.equal((await readConfigFile(join(dir, "ok.json"))).baseDir, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("configPath() takes --config over CONFIG", () => {
  const env = (v?: string) => (k: string) => k === "CONFIG" ? v : undefined;
  assert.equal(configPath(["--config", "a.json"], env("b.json")), "a.json");
  assert.equal(configPath(["--config=c.json"], env()), "c.json");
  assert.equal(configPath([], env("b.json")), "b.json");
  assert.equal(configPath([], env()), undefined);
  assert.throws(() => configPath(["--config"], env()), ConfigError);
});

/** Runs `deno task start` as a user would. */
function start(args: string[], env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["task", "start", ...args],
    cwd: new URL("../../", import.meta.url),
    env: {
      LOG_LEVEL: "warn",
      PORT: "0",
      DEMO: "0",
      DATA_DIR: Deno.makeTempDirSync({ prefix: "config-data-" }),
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("deno task start with a bad CONFIG file stops and names the field", async () => {
  const child = start([], { CONFIG: "tests/config/fixtures/bad_config.json" });
  const [status, stderr] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
    child.stdout.cancel(),
  ]);
  assert.equal(status.code, 2);
  assert.match(stderr, /tables\[0\]\.schema\.a/);
});

Deno.test("deno task start --config creates the configured tables", async () => {
  const child = start(["--config", "tests/config/fixtures/tables.json"], {});
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    let url: string | undefined;
    while (!url) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`exited early: ${text}`);
      text += value;
      url = text.match(/open (http:\/\/127\.0\.0\.1:\d+\/)/)?.[1];
    }
    reader.releaseLock();
    const info = await (await fetch(new URL("api/tables/configured", url))).json();
    assert.deepEqual(info.schema, { id: "integer", px: "float" });
    assert.equal(info.index, "id");
    const refused = await fetch(new URL("api/tables/other/rows", url), {
      method: "POST",
      body: "[]",
      headers: { "content-type": "application/json" },
    });
    assert.equal(refused.status, 404);
    await refused.body?.cancel();
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
  }
});
