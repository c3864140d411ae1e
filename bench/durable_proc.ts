/**
 * The durable benchmark's service processes: `main.ts` on a data
 * directory, timed from spawn to `/readyz`, and stopped with `SIGKILL` as
 * a crash would; plus reading figures from `/metrics`.
 *
 * @module
 */

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A service subprocess on a data directory. */
export interface Proc {
  /** `http://127.0.0.1:<port>/`. */
  base: string;
  /** Milliseconds from spawn to the first 200 from `/readyz`. */
  readyMs: number;
  /** Kills it with SIGKILL and waits for it to exit. */
  kill(): Promise<void>;
}

/**
 * Spawns `main.ts` with `env` (over the benchmark's defaults) and waits
 * until `/readyz` answers 200, polling every 10 ms.
 */
export async function spawnService(env: Record<string, string>): Promise<Proc> {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN],
    env: {
      PORT: String(port),
      HOST: "127.0.0.1",
      DEMO: "0",
      LOG_LEVEL: "warn",
      INGEST_RPS: "100000",
      INGEST_BURST: "100000",
      ...env,
    },
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  let exited = false;
  void child.status.then(() => exited = true);
  const base = `http://127.0.0.1:${port}/`;
  const kill = async () => {
    if (!exited) child.kill("SIGKILL");
    await child.status;
  };
  for (;;) {
    if (exited) throw new Error(`service exited during start-up (${JSON.stringify(env)})`);
    try {
      const res = await fetch(`${base}readyz`);
      await res.body?.cancel();
      if (res.status === 200) break;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return { base, readyMs: performance.now() - started, kill };
}

/** Waits until an already started service (from `startServer`) answers `/readyz` with 200. */
export async function waitReady(base: string): Promise<void> {
  for (let i = 0; i < 6000; i++) {
    const res = await fetch(`${base}readyz`);
    await res.body?.cancel();
    if (res.status === 200) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${base} not ready`);
}

/** The value of one unlabelled or labelled sample in `/metrics`, or undefined. */
export async function metric(base: string, sample: string): Promise<number | undefined> {
  const text = await (await fetch(`${base}metrics`)).text();
  for (const line of text.split("\n")) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

/** Creates a table from a definition; throws unless 201. */
export async function createTable(base: string, name: string, def: unknown): Promise<void> {
  const res = await fetch(`${base}api/tables/${name}`, {
    method: "PUT",
    body: JSON.stringify(def),
    headers: { "content-type": "application/json" },
  });
  if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${await res.text()}`);
  await res.body?.cancel();
}

/** A table's row count. */
export async function tableSize(base: string, name: string): Promise<number> {
  const res = await fetch(`${base}api/tables/${name}`);
  if (res.status !== 200) throw new Error(`${name}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { size: number }).size;
}

/** The `q` quantile (0..1) of `xs`. */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
