import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/env.ts";
import {
  checkBinding,
  DEFAULT_LIMITS,
  isLoopback,
  readSecurityConfig,
  securityConfig,
} from "../../src/security/mod.ts";
import { startService } from "../../src/service.ts";
import { silentLogger } from "../../src/ops/log.ts";

const TOKEN = "a-long-enough-token-123";

function read(env: Record<string, string>, section = {}, files: Record<string, string> = {}) {
  return readSecurityConfig((k) => env[k], section, (p) => {
    if (!(p in files)) throw new Deno.errors.NotFound(p);
    return files[p];
  });
}

async function rejectsField(promise: Promise<unknown>, field: string): Promise<void> {
  await assert.rejects(promise, (err) => {
    assert(err instanceof ConfigError, String(err));
    assert.equal(err.field, field);
    return true;
  });
}

Deno.test("readSecurityConfig() with nothing set is open mode with default limits", async () => {
  const config = await read({});
  assert.deepEqual(config.tokens, []);
  assert.deepEqual(config.limits, DEFAULT_LIMITS);
  assert.equal(config.allowEdit, false);
  assert.equal(config.allowInsecure, false);
});

Deno.test("readSecurityConfig() reads TOKENS, TOKENS_FILE and the config section together", async () => {
  const file = `# viewers\n${TOKEN}-file=read:public_*\n\nsha256:${
    "ab".repeat(32)
  }=write:sales_*,admin:sales_*\n`;
  const config = await read(
    { TOKENS: `${TOKEN}==read;${TOKEN}-b=read,write:a_*,write:b_*`, TOKENS_FILE: "/t" },
    { tokens: [{ token: `${TOKEN}-c`, name: "dashboard", scopes: { read: ["*"] } }] },
    { "/t": file },
  );
  assert.deepEqual(config.tokens.map((t) => t.name), [
    "token-1",
    "token-2",
    "token-3",
    "token-4",
    "dashboard",
  ]);
  assert.deepEqual(config.tokens[0].grants, { read: ["*"] });
  assert.deepEqual(config.tokens[1].grants, { read: ["*"], write: ["a_*", "b_*"] });
  assert.deepEqual(config.tokens[3].grants, { write: ["sales_*"], admin: ["sales_*"] });
  assert.deepEqual([...config.tokens[3].digest], new Array(32).fill(0xab));
});

Deno.test("readSecurityConfig() names the field of each bad setting", async () => {
  await rejectsField(read({ TOKENS: `${TOKEN}=rw` }), "TOKENS[0]");
  await rejectsField(read({ TOKENS: `${TOKEN}=read;short=read` }), "TOKENS[1]");
  await rejectsField(read({ TOKENS: "sha256:abc=read" }), "TOKENS[0]");
  await rejectsField(read({ TOKENS: "no-equals-sign-here-at-all" }), "TOKENS[0]");
  await rejectsField(read({ TOKENS: `${TOKEN}=write:` }), "TOKENS[0]");
  await rejectsField(read({ TOKENS_FILE: "/missing" }), "TOKENS_FILE");
  await rejectsField(read({}, { tokens: [{ token: TOKEN, scopes: {} }] }), "security.tokens[0]");
  await rejectsField(
    read({}, { tokens: [{ token: TOKEN, scopes: { root: ["*"] } }] }),
    "security.tokens[0]",
  );
  await rejectsField(read({}, { tokens: "x" }), "security.tokens");
  await rejectsField(read({ MAX_CONNECTIONS: "0" }), "MAX_CONNECTIONS");
  await rejectsField(read({ INGEST_RPS: "fast" }), "INGEST_RPS");
  await rejectsField(
    read({}, { limits: { maxMessageBytes: -1 } }),
    "security.limits.maxMessageBytes",
  );
  await rejectsField(read({ ALLOWED_ORIGINS: "dash.example.com" }), "ALLOWED_ORIGINS");
  await rejectsField(read({ ALLOWED_ORIGINS: "https://a.example/path" }), "ALLOWED_ORIGINS");
  await rejectsField(read({ ALLOW_EDIT: "maybe" }), "ALLOW_EDIT");
  await rejectsField(read({}, { allowInsecure: "yes" }), "security.allowInsecure");
  await rejectsField(
    read({ TOKENS: `${TOKEN}=read` }, {
      tokens: [{ token: `${TOKEN}-x`, name: "token-1", scopes: { read: ["*"] } }],
    }),
    "security.tokens[0]",
  );
});

Deno.test("readSecurityConfig() lets the environment override the file's limits and flags", async () => {
  const config = await read(
    {
      MAX_CONNECTIONS: "7",
      ALLOW_EDIT: "0",
      ALLOWED_ORIGINS: "https://a.example, https://b.example:8443",
    },
    {
      limits: { maxConnections: 3, ingestBurst: 9 },
      allowEdit: true,
      allowedOrigins: ["https://c.example"],
    },
  );
  assert.equal(config.limits.maxConnections, 7);
  assert.equal(config.limits.ingestBurst, 9);
  assert.equal(config.allowEdit, false);
  assert.deepEqual(config.allowedOrigins, ["https://a.example", "https://b.example:8443"]);
});

Deno.test("checkBinding() refuses a non-loopback host without tokens unless ALLOW_INSECURE", async () => {
  assert(
    isLoopback("127.0.0.1") && isLoopback("localhost") && isLoopback("::1") && isLoopback("[::1]"),
  );
  assert(!isLoopback("0.0.0.0") && !isLoopback("::") && !isLoopback("10.1.2.3"));
  assert.throws(() => checkBinding("0.0.0.0", securityConfig()), (err) => {
    assert(err instanceof ConfigError);
    assert.equal(err.field, "ALLOW_INSECURE");
    return true;
  });
  checkBinding("0.0.0.0", securityConfig({ allowInsecure: true }));
  checkBinding("0.0.0.0", await read({ TOKENS: `${TOKEN}=read` }));
  checkBinding("127.0.0.1", securityConfig());
});

Deno.test("startService() refuses to serve an open service on 0.0.0.0", async () => {
  await assert.rejects(
    () => startService({ host: "0.0.0.0", port: 0, demo: false, log: silentLogger }),
    (err) => err instanceof ConfigError && err.field === "ALLOW_INSECURE",
  );
});

Deno.test("main.ts exits with a message naming ALLOW_INSECURE for HOST=0.0.0.0 without tokens", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("../../main.ts", import.meta.url).pathname],
    env: { HOST: "0.0.0.0", PORT: "0", TOKENS: "", TOKENS_FILE: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.match(
    new TextDecoder().decode(out.stderr),
    /configuration error: ALLOW_INSECURE: HOST=0\.0\.0\.0/,
  );
});

Deno.test("main.ts names the bad field of the config file's security section", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({ security: { tokens: [{ token: TOKEN, scopes: { read: "*" } }] } }),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        new URL("../../main.ts", import.meta.url).pathname,
        "--config",
        path,
      ],
      env: { PORT: "0", TOKENS: "" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.match(
      new TextDecoder().decode(out.stderr),
      /configuration error: security\.tokens\[0\]/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
