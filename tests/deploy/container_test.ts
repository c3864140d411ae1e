/**
 * Runs what the image runs, without a container engine: a clean copy of the
 * repository, the Dockerfile's install steps with the lock frozen, then the
 * Dockerfile's CMD with its environment as a non-root user, with the network
 * cut (a fresh network namespace with only loopback). Probes it as an
 * orchestrator would, loads it with ingest, sends SIGTERM and checks the exit.
 */

import assert from "node:assert/strict";
import { envOf, execForm, healthcheckOf, only, parseDockerfile } from "./dockerfile.ts";
import { waitFor } from "../support/wait.ts";
import { checkExposition, sampleValue } from "../ops/prometheus_rules.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const RUN_USER = "perspective-ci";
const DENO = Deno.execPath();

async function run(
  cmd: string[],
  options: { cwd?: string; env?: Record<string, string>; clearEnv?: boolean } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.clearEnv,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function must(cmd: string[], options: Parameters<typeof run>[1] = {}): Promise<string> {
  const r = await run(cmd, options);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Reads a child's stdout as lines into `lines`, resolving when it closes. */
async function collectLines(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    lines.push(...parts);
  }
  if (rest) lines.push(rest);
}

/** Copies the files the Dockerfile's COPY lines name, as git lists them (tracked or new, not ignored). */
async function cleanCopy(dockerfile: ReturnType<typeof parseDockerfile>, app: string) {
  const sources = dockerfile.filter((i) => i.name === "COPY")
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
  const listed = (await must(
    ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
    { cwd: ROOT },
  )).split("\0").filter((f) => f !== "");
  const files = listed.filter((f) =>
    sources.some((s) => s.endsWith("/") ? f.startsWith(s) : f === s)
  );
  for (const f of files) {
    try {
      Deno.statSync(`${ROOT}${f}`);
    } catch {
      continue; // Listed by git but deleted in the working tree.
    }
    const dest = `${app}/${f}`;
    await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(`${ROOT}${f}`, dest);
  }
  return files;
}

async function ensureUser(): Promise<{ uid: number; gid: number }> {
  let id = await run(["id", "-u", RUN_USER]);
  if (id.code !== 0) {
    await must([
      "useradd",
      "--system",
      "--no-create-home",
      "--shell",
      "/usr/sbin/nologin",
      RUN_USER,
    ]);
    id = await run(["id", "-u", RUN_USER]);
  }
  const gid = await must(["id", "-g", RUN_USER]);
  return { uid: Number(id.stdout.trim()), gid: Number(gid.trim()) };
}

async function canUnshare(): Promise<boolean> {
  const r = await run(["unshare", "-n", "sh", "-c", "ip link set lo up"]).catch(() => undefined);
  return r?.code === 0;
}

Deno.test({
  name:
    "the image's CMD serves, probes and drains under ingest load as non-root with the network cut",
  sanitizeResources: true,
  async fn() {
    assert.equal(Deno.uid(), 0, "this test creates a user and a network namespace: run it as root");
    const dockerfile = parseDockerfile(await Deno.readTextFile(`${ROOT}deploy/Dockerfile`));
    const imageEnv = envOf(dockerfile);
    const workdir = only(dockerfile, "WORKDIR");
    const cmd = execForm(only(dockerfile, "CMD"));
    const dir = await Deno.makeTempDir({ prefix: "perspective-image-" });
    const app = `${dir}${workdir}`;
    const denoDir = `${dir}/deno-dir`;
    let server: Deno.ChildProcess | undefined;
    try {
      // Build: clean copy, then each RUN as root with the lock frozen.
      const files = await cleanCopy(dockerfile, app);
      assert.ok(files.includes("deno.lock") && files.includes("main.ts"));
      const { uid, gid } = await ensureUser();
      for (const step of dockerfile.filter((i) => i.name === "RUN")) {
        // The image's runtime user is `deno`; here it is this test's user.
        await must(["sh", "-c", step.args.replaceAll("deno:deno", `${uid}:${gid}`)], {
          cwd: app,
          env: { DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: "1" },
        });
      }
      // Mounts, as compose.yaml does: the config file and token digests, plus
      // a token this test knows.
      await Deno.mkdir(`${app}/config`);
      for (const f of ["perspective.json", "tokens"]) {
        await Deno.copyFile(`${ROOT}deploy/config/${f}`, `${app}/config/${f}`);
      }
      const token = crypto.randomUUID();
      await Deno.writeTextFile(`${app}/config/tokens`, `\n${token}=read,write\n`, { append: true });
      // Image files belong to root and are read-only to the runtime user, as
      // the build's umask left them; only the temporary root needs opening.
      await Deno.chmod(dir, 0o755);

      const asUser = ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--"];
      // Like a read-only root filesystem: the runtime user can write neither
      // the application nor the dependency cache.
      const writable = await run([
        ...asUser,
        "sh",
        "-c",
        'test -w "$1" || test -w "$2"',
        "sh",
        app,
        denoDir,
      ]);
      assert.equal(
        writable.code,
        1,
        "the runtime user must not be able to write the image's files",
      );

      const isolated = await canUnshare();
      console.log(
        isolated
          ? "network: cut with unshare -n (loopback only)"
          : "network: unshare unavailable; registry and proxies pointed at a dead address",
      );
      const port = isolated ? imageEnv.PORT : String(freePort());
      const env: Record<string, string> = {
        // The image has deno on its PATH; here it is the deno running this test.
        PATH: `${DENO.slice(0, DENO.lastIndexOf("/"))}:/usr/local/bin:/usr/bin:/bin`,
        DENO_DIR: denoDir,
        ...imageEnv,
        PORT: port,
        CONFIG: "config/perspective.json",
        TOKENS_FILE: "config/tokens",
        ...(isolated ? {} : {
          HTTP_PROXY: "http://127.0.0.1:9",
          HTTPS_PROXY: "http://127.0.0.1:9",
          NPM_CONFIG_REGISTRY: "http://127.0.0.1:9/",
          NO_PROXY: "127.0.0.1,localhost",
        }),
      };
      const argv = isolated
        ? ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", ...asUser, ...cmd]
        : [...asUser, ...cmd];
      server = new Deno.Command(argv[0], {
        args: argv.slice(1),
        cwd: app,
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const pid = server.pid;
      const logs: string[] = [];
      const errs: string[] = [];
      const reading = Promise.all([
        collectLines(server.stdout, logs),
        collectLines(server.stderr, errs),
      ]);
      // Probes run in the service's network namespace, like a kubelet's.
      const inNet = isolated ? ["nsenter", "-t", String(pid), "-n", "--"] : [];
      const base = `http://127.0.0.1:${port}`;
      const probe = async (path: string, headers: Record<string, string> = {}) => {
        const out = await must([
          ...inNet,
          DENO,
          "run",
          "--allow-net",
          `${ROOT}tests/deploy/probe_client.ts`,
          base + path,
          JSON.stringify(headers),
        ]);
        return JSON.parse(out) as { status: number; body: string };
      };

      const ready = await waitFor("/readyz to answer 200", async () => {
        const r = await probe("/readyz");
        return r.status === 200 ? r : undefined;
      }, { timeout: 60_000, interval: 200 });
      assert.deepEqual(JSON.parse(ready.body).checks, {
        tables: { ok: true },
        sources: { ok: true },
        draining: { ok: true },
        storage: { ok: true },
        engine: { ok: true },
      });
      const health = await probe("/healthz");
      assert.equal(health.status, 200);
      assert.equal(JSON.parse(health.body).status, "ok");
      const status = await Deno.readTextFile(`/proc/${pid}/status`);
      const realUid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
      assert.equal(realUid, uid, "runs as the non-root user");
      assert.notEqual(realUid, 0);
      // The config file's table exists; the API needs a token.
      assert.equal((await probe("/api/tables/orders")).status, 401);
      const orders = await probe("/api/tables/orders", { authorization: `Bearer ${token}` });
      assert.equal(orders.status, 200, orders.body);

      // The image's HEALTHCHECK passes, and fails on a non-2xx answer.
      const { command: check } = healthcheckOf(dockerfile);
      const hcEnv = { ...env };
      assert.equal(
        (await run([...inNet, ...asUser, ...check], { cwd: app, env: hcEnv, clearEnv: true })).code,
        0,
      );
      const wrongBase = { ...env, BASE_PATH: "/not-here" };
      assert.equal(
        (await run([...inNet, ...asUser, ...check], { cwd: app, env: wrongBase, clearEnv: true }))
          .code,
        1,
      );

      // Ingest load, then SIGTERM while batches are in flight.
      const load = new Deno.Command(inNet[0] ?? DENO, {
        args: [
          ...inNet.slice(1),
          ...(inNet.length ? [DENO] : []),
          "run",
          "--allow-net",
          `${ROOT}tests/deploy/load_client.ts`,
          `${base}/api/tables/orders/rows`,
          token,
          "60",
          "5000",
          "3",
        ],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const loadLines: string[] = [];
      const loadReading = collectLines(load.stdout, loadLines);
      await waitFor(
        "six acknowledged batches",
        () => loadLines.some((l) => l.includes('"acked":6}')),
        { timeout: 60_000 },
      );
      // A scrape as Prometheus would make it, mid-load.
      const scrape = await probe("/metrics");
      assert.equal(scrape.status, 200);
      const families = checkExposition(scrape.body);
      assert.ok(
        sampleValue(families, "perspective_ingest_rows_total", { format: "ndjson" })! >= 30_000,
      );
      assert.ok(sampleValue(families, "perspective_table_rows", { table: "orders" })! >= 30_000);
      assert.ok(sampleValue(families, "perspective_engine_memory_bytes", { kind: "used" })! > 0);
      const t0 = performance.now();
      server.kill("SIGTERM");
      const exit = await server.status;
      const exitMs = Math.round(performance.now() - t0);
      server = undefined;
      await reading;
      await load.status;
      await loadReading;
      const summary = JSON.parse(loadLines.at(-1)!);
      const drained = logs.map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return {};
        }
      }).find((l) => l.msg === "drained" || l.msg === "drain timed out");
      console.log(
        `SIGTERM under ingest load: exit ${exit.code} after ${exitMs} ms; drain ${drained?.ms} ms; ` +
          `load: ${JSON.stringify(summary)}`,
      );
      assert.equal(exit.code, 0, errs.join("\n"));
      assert.equal(drained?.msg, "drained");
      assert.equal(drained.clean, true);
      assert.ok(summary.acked >= 6);
      // Each writer stops at its first refused or cut request.
      assert.ok(summary.refused + summary.failed <= 3);
      assert.equal(summary.rows, summary.acked * 5000);
      // No secret reached the logs.
      assert.ok(!logs.some((l) => l.includes(token)));
    } finally {
      if (server) {
        server.kill("SIGKILL");
        await server.status;
        await server.stdout.cancel().catch(() => {});
        await server.stderr.cancel().catch(() => {});
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
