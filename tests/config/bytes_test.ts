import assert from "node:assert/strict";
import { parseEngineMemory } from "../../src/config/bytes.ts";
import { ConfigError, readEnvConfig } from "../../src/config/env.ts";
import { parseConfig } from "../../src/config/file.ts";

const GIB = 1024 ** 3;

Deno.test("MAX_ENGINE_MEMORY takes bytes or a size with a unit", () => {
  const env = (v: string) => readEnvConfig((k) => k === "MAX_ENGINE_MEMORY" ? v : undefined);
  assert.equal(env("1.5GiB").maxEngineMemory, 1.5 * GIB);
  assert.equal(env("800MB").maxEngineMemory, 800e6);
  assert.equal(env("536870912").maxEngineMemory, 512 * 1024 ** 2);
  assert.equal(env("").maxEngineMemory, undefined);
  assert.equal(readEnvConfig(() => undefined).maxEngineMemory, undefined);
});

Deno.test("MAX_ENGINE_MEMORY outside 16 MiB to 4 GiB, or not a size, stops start-up naming the variable", () => {
  for (const bad of ["lots", "1.5 parsecs", "8GiB", "1MiB", "-1"]) {
    assert.throws(
      () => readEnvConfig((k) => k === "MAX_ENGINE_MEMORY" ? bad : undefined),
      (e) => e instanceof ConfigError && e.field === "MAX_ENGINE_MEMORY",
      bad,
    );
  }
  assert.equal(parseEngineMemory("x", 4 * GIB), 4 * GIB);
});

Deno.test("the config file's limits.maxEngineMemory sets the budget beside the ingest limits", () => {
  const file = parseConfig({ limits: { maxEngineMemory: "1GiB", maxJsonDepth: 8 } }, "/");
  assert.equal(file.maxEngineMemory, GIB);
  assert.deepEqual(file.limits, { maxJsonDepth: 8 });
  assert.equal(parseConfig({}, "/").maxEngineMemory, undefined);
  assert.throws(
    () => parseConfig({ limits: { maxEngineMemory: true } }, "/"),
    (e) => e instanceof ConfigError && e.field === "limits.maxEngineMemory",
  );
});
