import assert from "node:assert/strict";
import { ConfigError, normalizeBasePath, readEnvConfig } from "../../src/config/env.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("readEnvConfig() defaults to 127.0.0.1:8080, no base path, demo on", () => {
  const config = readEnvConfig(envOf({}));
  assert.equal(config.host, "127.0.0.1");
  assert.equal(config.port, 8080);
  assert.equal(config.basePath, "");
  assert.equal(config.logLevel, "info");
  assert.equal(config.demo, true);
});

Deno.test("readEnvConfig() reads HOST, PORT, BASE_PATH, LOG_LEVEL and DEMO", () => {
  const config = readEnvConfig(envOf({
    HOST: "0.0.0.0",
    PORT: "9000",
    BASE_PATH: "user/alice/proxy/8080/",
    LOG_LEVEL: "DEBUG",
    DEMO: "0",
  }));
  assert.equal(config.host, "0.0.0.0");
  assert.equal(config.port, 9000);
  assert.equal(config.basePath, "/user/alice/proxy/8080");
  assert.equal(config.logLevel, "debug");
  assert.equal(config.demo, false);
});

Deno.test("readEnvConfig() names the variable at fault", () => {
  const cases: Record<string, string>[] = [
    { PORT: "80a" },
    { PORT: "70000" },
    { PORT: "-1" },
    { LOG_LEVEL: "loud" },
    { DEMO: "maybe" },
    { BASE_PATH: "/a/../b" },
    { BASE_PATH: "/a b" },
    { HOST: "a host" },
  ];
  for (const vars of cases) {
    const [name] = Object.keys(vars);
    assert.throws(() => readEnvConfig(envOf(vars)), (err: unknown) => {
      assert.ok(err instanceof ConfigError, `${name}: ${err}`);
      assert.equal(err.field, name);
      assert.match(err.message, new RegExp(`^${name}: `));
      return true;
    });
  }
});

Deno.test("normalizeBasePath() adds the leading slash and drops trailing ones", () => {
  assert.equal(normalizeBasePath(""), "");
  assert.equal(normalizeBasePath("/"), "");
  assert.equal(normalizeBasePath("app"), "/app");
  assert.equal(normalizeBasePath("/a/b//"), "/a/b");
});

Deno.test("readEnvConfig() reads SHARE_VIEWS, on by default", () => {
  assert.equal(readEnvConfig(envOf({})).shareViews, true);
  assert.equal(readEnvConfig(envOf({ SHARE_VIEWS: "0" })).shareViews, false);
  assert.equal(readEnvConfig(envOf({})).engineWorker, true);
  assert.equal(readEnvConfig(envOf({ ENGINE_WORKER: "0" })).engineWorker, false);
  assert.throws(() => readEnvConfig(envOf({ ENGINE_WORKER: "maybe" })), /ENGINE_WORKER/);
  assert.throws(
    () => readEnvConfig(envOf({ SHARE_VIEWS: "perhaps" })),
    (err: unknown) => err instanceof ConfigError && err.field === "SHARE_VIEWS",
  );
});

Deno.test("readEnvConfig() reads MAX_UPDATE_RATE and refuses one out of range", () => {
  assert.equal(readEnvConfig(envOf({})).maxUpdateRate, 20);
  assert.equal(readEnvConfig(envOf({ MAX_UPDATE_RATE: "2.5" })).maxUpdateRate, 2.5);
  for (const bad of ["0", "-1", "1001", "fast"]) {
    assert.throws(
      () => readEnvConfig(envOf({ MAX_UPDATE_RATE: bad })),
      (err: unknown) => err instanceof ConfigError && err.field === "MAX_UPDATE_RATE",
    );
  }
});
