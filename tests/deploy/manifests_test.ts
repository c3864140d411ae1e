import assert from "node:assert/strict";
import { posix } from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { ENV_VARS, readEnvConfig } from "../../src/config/env.ts";
import { readConfigFile } from "../../src/config/file.ts";
import { readSecurityConfig, SECURITY_ENV_VARS } from "../../src/security/mod.ts";
import { OPS_PATHS } from "../../src/server/ops_routes.ts";
import { envOf, execForm, healthcheckOf, only, parseDockerfile } from "./dockerfile.ts";
import { startCommand } from "../support/start_command.ts";

const ROOT = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));
/** The directory the image runs in; relative paths in variables resolve against it. */
const APP = "/app";

/** Every variable the code reads: the exported lists plus each `env("NAME")` call. */
function knownVariables(): Set<string> {
  const names = new Set<string>([...ENV_VARS, ...SECURITY_ENV_VARS]);
  const files = ["main.ts", ...walk("src")];
  for (const file of files) {
    for (const m of read(file).matchAll(/\benv(?:\.get)?\("([A-Z][A-Z0-9_]*)"\)/g)) names.add(m[1]);
  }
  return names;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(new URL(dir, ROOT))) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...walk(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** Variables the Deno runtime itself reads, allowed in manifests besides the service's. */
const RUNTIME_VARIABLES = new Set(["DENO_DIR", "DENO_NO_UPDATE_CHECK"]);

const dockerfile = parseDockerfile(read("deploy/Dockerfile"));
const imageEnv = envOf(dockerfile);

Deno.test("the Dockerfile runs `deno task start`'s exact command and permissions", () => {
  const cmd = execForm(only(dockerfile, "CMD"));
  // The image's data directory is `deno task start`'s default, ./data under /app.
  assert.equal(imageEnv.DATA_DIR, "./data");
  assert.deepEqual(cmd, startCommand("./data"));
  assert.ok(!cmd.some((a) => a === "-A" || a === "--allow-all"), "scoped permissions, not -A");
  assert.ok(cmd.includes("main.ts"));
});

Deno.test("the Dockerfile builds from the pinned Deno image with a frozen install, as non-root", () => {
  assert.equal(only(dockerfile, "FROM"), "denoland/deno:2.9.6");
  const runs = dockerfile.filter((i) => i.name === "RUN").map((i) => i.args);
  assert.ok(runs.length > 0);
  for (const run of runs) {
    // Dependencies, and the data directory the runtime user owns (a volume's mount point).
    assert.match(run, /^(deno install --frozen\b|mkdir -p data && chown deno:deno data$)/);
  }
  assert.equal(only(dockerfile, "VOLUME"), '["/app/data"]');
  const user = only(dockerfile, "USER");
  assert.ok(!["root", "0", "0:0"].includes(user), `USER ${user}`);
  assert.equal(only(dockerfile, "WORKDIR"), APP);
  // Every path the service reads at run time is copied in, and exists.
  const copied = dockerfile.filter((i) => i.name === "COPY").flatMap((i) =>
    i.args.split(/\s+/).slice(0, -1)
  );
  for (const need of ["deno.json", "deno.lock", "main.ts", "src/", "static/"]) {
    assert.ok(copied.includes(need), `COPY ${need}`);
    Deno.statSync(new URL(need, ROOT));
  }
});

Deno.test("the Dockerfile's port, health check and variables match the code", () => {
  const port = readEnvConfig((k) => imageEnv[k]).port;
  assert.equal(only(dockerfile, "EXPOSE"), String(port));
  const { options, command } = healthcheckOf(dockerfile);
  assert.deepEqual(command.slice(0, 2), ["deno", "eval"]);
  assert.ok(command[2].includes(`\${base}${OPS_PATHS.health}`), command[2]);
  assert.ok(command[2].includes("r.ok ? 0 : 1"), "fails on a non-2xx answer");
  for (const k of ["interval", "timeout", "start-period", "retries"]) assert.ok(options[k], k);
  const known = knownVariables();
  for (const k of Object.keys(imageEnv)) {
    assert.ok(known.has(k) || RUNTIME_VARIABLES.has(k), `ENV ${k} is not read by the code`);
  }
  // The header documents every variable the code reads.
  const text = read("deploy/Dockerfile");
  for (const k of known) assert.match(text, new RegExp(`\\b${k}\\b`), `${k} undocumented`);
});

// deno-lint-ignore no-explicit-any
type Any = any;

/** Checks variables against the code by parsing them as the service would. */
async function checkServiceEnv(
  env: Record<string, string>,
  files: Record<string, string>,
  where: string,
): Promise<void> {
  const known = knownVariables();
  for (const k of Object.keys(env)) {
    assert.ok(known.has(k) || RUNTIME_VARIABLES.has(k), `${where}: ${k} is not read by the code`);
  }
  const config = readEnvConfig((k) => env[k]);
  const inApp = (p: string) => posix.resolve(APP, p);
  if (env.CONFIG) {
    const source = files[inApp(env.CONFIG)];
    assert.ok(source, `${where}: CONFIG ${env.CONFIG} is not mounted`);
    const parsed = await readConfigFile(new URL(source, ROOT).pathname);
    assert.ok(parsed.tables.length > 0);
  }
  const security = await readSecurityConfig((k) => env[k], {}, (p) => {
    const source = files[inApp(p)];
    if (!source) throw new Deno.errors.NotFound(p);
    return read(source);
  });
  if (config.host !== "127.0.0.1") {
    assert.ok(security.tokens.length > 0, `${where}: a non-loopback HOST needs tokens`);
  }
}

Deno.test("compose.yaml matches the Dockerfile and the code", async () => {
  const compose = parseYaml(read("deploy/compose.yaml")) as Any;
  const svc = compose.services.perspective;
  assert.equal(posix.join("deploy", svc.build.context), ".");
  assert.equal(svc.build.dockerfile, "deploy/Dockerfile");
  const env = svc.environment as Record<string, string>;
  const port = readEnvConfig((k) => env[k] ?? imageEnv[k]).port;
  assert.deepEqual(svc.ports.map((p: string) => p.split(":").at(-1)), [String(port)]);
  assert.equal(svc.read_only, true);
  // Bind mounts, by container path, to repository files.
  const files: Record<string, string> = {};
  for (const v of svc.volumes) {
    if (typeof v === "string") continue; // The named data volume, checked below.
    assert.equal(v.type, "bind");
    assert.equal(v.read_only, true);
    const dir = posix.join("deploy", v.source);
    for (const e of Deno.readDirSync(new URL(dir, ROOT))) {
      files[posix.join(v.target, e.name)] = posix.join(dir, e.name);
    }
  }
  await checkServiceEnv({ ...imageEnv, ...env }, files, "compose");
  const drain = readEnvConfig((k) => env[k] ?? imageEnv[k]).drainSeconds;
  assert.ok(parseInt(svc.stop_grace_period) > drain, "stop_grace_period > DRAIN_SECONDS");
  assert.equal(svc.stop_signal, "SIGTERM");
  const probe = svc.healthcheck.test.join(" ");
  assert.ok(probe.includes(`http://127.0.0.1:${port}${OPS_PATHS.ready}`), probe);
  // Durable tables live on a declared volume at the image's data directory.
  assert.ok(svc.volumes.includes("perspective-data:/app/data"), "data volume");
  assert.ok("perspective-data" in compose.volumes, "data volume declared");
  // Redis for scale-out keeps its data in a declared volume, fsynced before each answer.
  const redis = compose.services.redis;
  assert.deepEqual(redis.profiles, ["scale-out"]);
  const [volume] = redis.volumes[0].split(":");
  assert.ok(volume in compose.volumes, `volume ${volume} is declared`);
  assertDurableRedis(redis.command, "compose redis");
  // Two or more replicas on that Redis, behind a load balancer.
  const replica = compose.services.replica;
  assert.deepEqual(replica.profiles, ["scale-out"]);
  assert.ok(replica.deploy.replicas >= 2);
  const replicaEnv = { ...imageEnv, ...replica.environment } as Record<string, string>;
  await checkServiceEnv(replicaEnv, files, "compose replica");
  const url = new URL(readEnvConfig((k) => replicaEnv[k]).redisUrl);
  assert.equal(url.hostname, "redis");
  const lb = compose.services.lb;
  assert.deepEqual(lb.profiles, ["scale-out"]);
  const nginx = read(posix.join("deploy", lb.volumes[0].source));
  const replicaPort = readEnvConfig((k) => replicaEnv[k]).port;
  assert.match(nginx, new RegExp(`server replica:${replicaPort}\\b`));
  assert.match(nginx, /proxy_set_header Upgrade \$http_upgrade/);
});

/** Redis's arguments must make an acknowledged write durable. */
function assertDurableRedis(args: string[], where: string): void {
  const value = (flag: string) => args[args.indexOf(flag) + 1];
  assert.equal(value("--appendonly"), "yes", `${where}: appendonly yes`);
  assert.equal(value("--appendfsync"), "always", `${where}: appendfsync always`);
}

Deno.test("the Kubernetes manifests match the image and the code", async () => {
  const docs: Any[] = [];
  for (const e of Deno.readDirSync(new URL("deploy/k8s/", ROOT))) {
    if (!e.name.endsWith(".yaml")) continue;
    for (const d of parseAllDocuments(read(`deploy/k8s/${e.name}`))) {
      assert.deepEqual(d.errors, [], e.name);
      docs.push(d.toJS());
    }
  }
  const find = (kind: string) => docs.filter((d) => d.kind === kind);
  const [deployment] = find("Deployment");
  const pod = deployment.spec.template.spec;
  for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) {
    assert.equal(deployment.spec.template.metadata.labels[k], v, `pod label ${k}`);
  }
  const [c] = pod.containers;
  const env: Record<string, string> = Object.fromEntries(c.env.map((e: Any) => [e.name, e.value]));
  const merged = { ...imageEnv, ...env };
  const config = readEnvConfig((k) => merged[k]);

  // Port and probes.
  const portByName = Object.fromEntries(c.ports.map((p: Any) => [p.name, p.containerPort]));
  assert.deepEqual(Object.values(portByName), [config.port]);
  const paths = {
    livenessProbe: OPS_PATHS.health,
    readinessProbe: OPS_PATHS.ready,
    startupProbe: OPS_PATHS.health,
  };
  for (const [probe, path] of Object.entries(paths)) {
    const get = c[probe].httpGet;
    assert.equal(get.path, config.basePath + path, probe);
    assert.equal(portByName[get.port] ?? get.port, config.port, probe);
  }
  assert.equal(
    deployment.spec.template.metadata.annotations["prometheus.io/path"],
    config.basePath + OPS_PATHS.metrics,
  );
  assert.equal(
    deployment.spec.template.metadata.annotations["prometheus.io/port"],
    String(config.port),
  );

  // One pod per data volume: a claim mounted at the data directory, replaced with Recreate.
  const data = c.volumeMounts.find((m: Any) => m.mountPath === "/app/data");
  assert.ok(data, "the data directory is mounted");
  const claim = pod.volumes.find((v: Any) => v.name === data.name).persistentVolumeClaim;
  assert.ok(find("PersistentVolumeClaim").some((p) => p.metadata.name === claim.claimName));
  assert.equal(deployment.spec.replicas, 1);
  assert.equal(deployment.spec.strategy.type, "Recreate");
  assert.ok(pod.securityContext.fsGroup, "the volume is writable by the pod's group");

  // Resources and security context.
  for (const k of ["cpu", "memory"]) {
    assert.ok(c.resources.requests[k], `requests.${k}`);
    assert.ok(c.resources.limits[k], `limits.${k}`);
  }
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.notEqual(pod.securityContext.runAsUser, 0);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);

  // The grace period outlasts the preStop pause plus the drain.
  const pause = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
  assert.ok(
    pod.terminationGracePeriodSeconds > pause + config.drainSeconds,
    `${pod.terminationGracePeriodSeconds} > ${pause} + ${config.drainSeconds}`,
  );

  // Mounted files, by container path: the ConfigMap's keys, and the Secret's `tokens` key.
  const files: Record<string, string> = {};
  const [configMap] = find("ConfigMap");
  for (const m of c.volumeMounts) {
    const vol = pod.volumes.find((v: Any) => v.name === m.name);
    assert.ok(vol, `volume ${m.name}`);
    if (vol.configMap) {
      assert.equal(vol.configMap.name, configMap.metadata.name);
      for (const key of Object.keys(configMap.data)) {
        const repoCopy = `deploy/config/${key}`;
        assert.deepEqual(JSON.parse(configMap.data[key]), JSON.parse(read(repoCopy)), key);
        files[posix.join(m.mountPath, key)] = repoCopy;
      }
    }
    if (vol.secret) files[posix.join(m.mountPath, "tokens")] = "deploy/config/tokens";
  }
  await checkServiceEnv(merged, files, "k8s");

  // The Service reaches the container's port.
  const [service] = find("Service").filter((s) => s.metadata.name === deployment.metadata.name);
  for (const [k, v] of Object.entries(service.spec.selector)) {
    assert.equal(deployment.spec.template.metadata.labels[k], v);
  }
  for (const p of service.spec.ports) {
    assert.equal(portByName[p.targetPort] ?? p.targetPort, config.port);
  }
});

Deno.test("the scale-out Kubernetes manifests run several replicas on one durable Redis", async () => {
  const docs: Any[] = [];
  const files = [
    "deploy/k8s/configmap.yaml",
    "deploy/k8s/service.yaml",
    ...[...Deno.readDirSync(new URL("deploy/k8s-scale-out/", ROOT))]
      .filter((e) => e.name.endsWith(".yaml"))
      .map((e) => `deploy/k8s-scale-out/${e.name}`),
  ];
  for (const f of files) {
    for (const d of parseAllDocuments(read(f))) {
      assert.deepEqual(d.errors, [], f);
      docs.push(d.toJS());
    }
  }
  const find = (kind: string) => docs.filter((d) => d.kind === kind);
  const [deployment] = find("Deployment");
  assert.ok(deployment.spec.replicas >= 2, "several replicas");
  assert.equal(deployment.spec.strategy.type, "RollingUpdate");
  const pod = deployment.spec.template.spec;
  assert.ok(!pod.volumes.some((v: Any) => v.persistentVolumeClaim), "no data volume per replica");
  const [c] = pod.containers;
  const env: Record<string, string> = Object.fromEntries(c.env.map((e: Any) => [e.name, e.value]));
  const config = readEnvConfig((k) => ({ ...imageEnv, ...env })[k]);
  const mounted: Record<string, string> = {};
  const [configMap] = find("ConfigMap");
  for (const m of c.volumeMounts) {
    const vol = pod.volumes.find((v: Any) => v.name === m.name);
    assert.ok(vol, `volume ${m.name}`);
    if (vol.configMap) {
      assert.equal(vol.configMap.name, configMap.metadata.name);
      for (const key of Object.keys(configMap.data)) {
        mounted[posix.join(m.mountPath, key)] = `deploy/config/${key}`;
      }
    }
    if (vol.secret) mounted[posix.join(m.mountPath, "tokens")] = "deploy/config/tokens";
  }
  await checkServiceEnv({ ...imageEnv, ...env }, mounted, "k8s scale-out");
  const [redis] = find("StatefulSet");
  assertDurableRedis(redis.spec.template.spec.containers[0].args, "k8s redis");
  const redisService = find("Service").find((s) => s.metadata.name === redis.spec.serviceName);
  assert.ok(redisService, "a Service for Redis");
  const url = new URL(config.redisUrl);
  assert.equal(url.hostname, redisService.metadata.name);
  assert.equal(Number(url.port), redisService.spec.ports[0].port);
  for (const [k, v] of Object.entries(redisService.spec.selector)) {
    assert.equal(redis.spec.template.metadata.labels[k], v);
  }
  assert.ok(redis.spec.volumeClaimTemplates.length > 0, "Redis keeps its AOF on a volume");
  const service = find("Service").find((s) => s.metadata.name === deployment.metadata.name);
  for (const [k, v] of Object.entries(service.spec.selector)) {
    assert.equal(deployment.spec.template.metadata.labels[k], v);
  }
});
