/**
 * Crash test: the service as a subprocess on a data directory, several
 * clients ingesting at once, `SIGKILL` at a random (seeded) moment, a
 * restart on the same directory, and a check of every table against a
 * model of what the clients sent: each acknowledged request is there, each
 * unanswered one is there whole or not at all, nothing is half applied.
 * Trials follow one another on the same directory for about a minute
 * (`CRASH_SECONDS`), so recovery starts from checkpoints taken under load
 * and from logs that earlier crashes cut. `CRASH_SEED` replays a run.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  apply,
  type ClientState,
  cloneState,
  differences,
  emptyState,
  LIMIT_TABLE,
  limitTable,
  modelPart,
  nextOp,
  type Observed,
  observedPart,
  type Op,
  prng,
  requestOf,
  SHARED_TABLES,
} from "./crash_model.ts";

const SECONDS = Number(Deno.env.get("CRASH_SECONDS") ?? 60);
const SEED = Number(Deno.env.get("CRASH_SEED") ?? 20261202);
const CLIENTS = 4;
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** A running service subprocess. */
interface Child {
  base: string;
  process: Deno.ChildProcess;
  stderr: () => string;
}

function freePort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return port;
}

/** Starts `main.ts` on `dataDir` and waits for `/readyz`. */
async function startService(dataDir: string): Promise<Child> {
  const port = freePort();
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN],
    env: {
      PORT: String(port),
      HOST: "127.0.0.1",
      DEMO: "0",
      DATA_DIR: dataDir,
      // Small thresholds, so checkpoints happen during trials and crashes hit them.
      CHECKPOINT_MB: "1",
      CHECKPOINT_SECONDS: "2",
      LOG_LEVEL: "warn",
      // More engine polls a second: more requests answered, so more in flight at each kill.
      MAX_UPDATE_RATE: "200",
      INGEST_RPS: "100000",
      INGEST_BURST: "100000",
    },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let err = "";
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of process.stderr) err = (err + decoder.decode(chunk)).slice(-4000);
  })();
  const base = `http://127.0.0.1:${port}/`;
  let exited = false;
  void process.status.then(() => exited = true);
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`service exited during start-up:\n${err}`);
    try {
      const res = await fetch(`${base}readyz`);
      await res.body?.cancel();
      if (res.status === 200) return { base, process, stderr: () => err };
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  process.kill("SIGKILL");
  await process.status;
  throw new Error(`service not ready within 120 s:\n${err}`);
}

async function send(
  client: Deno.HttpClient,
  base: string,
  c: number,
  op: Op,
): Promise<number | undefined> {
  const req = requestOf(c, op);
  try {
    const res = await fetch(`${base}${req.path}`, {
      client,
      method: req.method,
      body: req.body,
      headers: req.body === undefined ? {} : { "content-type": "application/json" },
    });
    await res.body?.cancel();
    return res.status;
  } catch {
    return undefined;
  }
}

async function readTables(base: string): Promise<Observed> {
  const list = await (await fetch(`${base}api/tables`)).json() as { name: string }[];
  const out: Observed = new Map();
  for (const { name } of list) {
    const res = await fetch(`${base}api/tables/${name}/rows?format=columns`);
    assert.equal(res.status, 200, `export of ${name}`);
    out.set(name, await res.json());
  }
  return out;
}

/** What one client knows: the model of what took effect, and its last unanswered request. */
interface ClientLog {
  state: ClientState;
  unanswered?: Op;
  sent: number;
  created: number;
  acknowledged: number;
  refused: number;
}

Deno.test("acknowledged batches survive SIGKILL under concurrent ingest, none half applied", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "crash-" });
  const rand = prng(SEED);
  const clients: ClientLog[] = Array.from(
    { length: CLIENTS },
    () => ({ state: emptyState(), sent: 0, created: 0, acknowledged: 0, refused: 0 }),
  );
  let child: Child | undefined;
  let trials = 0;
  let presentUnanswered = 0;
  let absentUnanswered = 0;
  try {
    child = await startService(dataDir);
    const put = async (name: string, def: unknown) => {
      const res = await fetch(`${child!.base}api/tables/${name}`, {
        method: "PUT",
        body: JSON.stringify(def),
        headers: { "content-type": "application/json" },
      });
      assert.equal(res.status, 201, `${name}: ${await res.text()}`);
    };
    for (const [name, def] of Object.entries(SHARED_TABLES)) await put(name, def);
    for (let c = 0; c < CLIENTS; c++) await put(limitTable(c), LIMIT_TABLE);

    const started = Date.now();
    while (trials < 3 || Date.now() - started < SECONDS * 1000) {
      trials++;
      const http = Deno.createHttpClient({});
      let stopped = false;
      const running = clients.map(async (log, c) => {
        const r = prng(SEED ^ (trials * 7919 + c * 104729));
        while (!stopped) {
          const op = nextOp(r, c, log.sent++, log.state, log.created);
          if (op.kind === "create") log.created++;
          const status = await send(http, child!.base, c, op);
          if (status === undefined) {
            log.unanswered = op;
            return;
          }
          if (status >= 200 && status < 300) {
            log.acknowledged++;
            apply(log.state, c, op);
          } else {
            // An answered refusal changed nothing; the model leaves it out.
            log.refused++;
          }
        }
      });
      await new Promise((r) => setTimeout(r, 200 + rand() * 2300));
      child.process.kill("SIGKILL");
      stopped = true;
      await child.process.status;
      await Promise.all(running);
      http.close();
      child = await startService(dataDir);
      const observed = await readTables(child.base);
      for (const [c, log] of clients.entries()) {
        const got = observedPart(observed, c);
        const without = modelPart(log.state);
        const same = (a: Record<string, string>, b: Record<string, string>) =>
          Object.keys(a).every((k) => a[k] === b[k]);
        if (log.unanswered) {
          const withState = cloneState(log.state);
          apply(withState, c, log.unanswered);
          const withIt = modelPart(withState);
          if (same(got, withIt)) {
            if (!same(withIt, without)) presentUnanswered++;
            log.state = withState;
          } else if (same(got, without)) {
            absentUnanswered++;
          } else {
            assert.fail(
              `trial ${trials} (seed ${SEED}), client ${c}: state matches neither with nor ` +
                `without unanswered ${JSON.stringify(log.unanswered)}: ` +
                differences(got, without).join("; "),
            );
          }
          log.unanswered = undefined;
        } else {
          assert.ok(
            same(got, without),
            `trial ${trials} (seed ${SEED}), client ${c}: ${differences(got, without).join("; ")}`,
          );
        }
      }
    }
  } finally {
    if (child) {
      child.process.kill("SIGKILL");
      await child.process.status;
    }
    await Deno.remove(dataDir, { recursive: true });
  }
  const acknowledged = clients.reduce((n, c) => n + c.acknowledged, 0);
  const refused = clients.reduce((n, c) => n + c.refused, 0);
  console.log(
    `crash test: ${trials} trials (seed ${SEED}), ${acknowledged} requests acknowledged and ` +
      `present, ${refused} refused, unanswered: ${presentUnanswered} present, ` +
      `${absentUnanswered} absent or without effect`,
  );
  assert.ok(acknowledged > trials, "the clients got requests acknowledged");
});
