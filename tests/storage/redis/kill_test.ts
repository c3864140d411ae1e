import assert from "node:assert/strict";
import { freePort, startRedis } from "./redis_server.ts";
import { exportAll, postRows, startReplica } from "./support.ts";
import { waitFor } from "../../support/wait.ts";
import { compareIds } from "../../../src/storage/redis/ids.ts";

const MAIN = new URL("../../../main.ts", import.meta.url).pathname;

/** A replica in its own process, so it can be killed with SIGKILL. */
async function spawnReplica(redisUrl: string, port: number): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN],
    env: {
      HOST: "127.0.0.1",
      PORT: String(port),
      DEMO: "false",
      DATA_DIR: "",
      REDIS_URL: redisUrl,
      LOG_LEVEL: "error",
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitFor("the replica process to be ready", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
    await res?.body?.cancel();
    return res?.status === 200;
  }, { timeout: 60_000, interval: 100 });
  return child;
}

Deno.test("a replica killed with SIGKILL mid-ingest catches up after a restart; every acknowledged batch is on every replica", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url);
  const port = freePort();
  let child = await spawnReplica(redis.url, port);
  const p = `http://127.0.0.1:${port}/`;
  try {
    const acked: number[] = [];
    let last = "0-0";
    let uid = 0;
    let stop = false;
    const writer = async (base: string) => {
      while (!stop) {
        const id = ++uid;
        const w = await postRows(base, "t", [{ uid: id, pad: "x".repeat(200) }]).catch(() =>
          undefined
        );
        if (w && (w.status === 200 || w.status === 201)) {
          acked.push(id);
          if (compareIds(w.position!, last) > 0) last = w.position!;
        }
        if (!w) await new Promise((r) => setTimeout(r, 20));
      }
    };
    const writers = [writer(p), writer(p), writer(a.url)];
    await waitFor("some batches through the replica process", () => acked.length >= 40, {
      timeout: 60_000,
    });
    child.kill("SIGKILL");
    await child.status;
    await new Promise((r) => setTimeout(r, 300));
    child = await spawnReplica(redis.url, port);
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(writers);
    for (const base of [a.url, p]) {
      const res = await fetch(new URL(`api/tables/t?position=${last}`, base));
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    const want = await exportAll(a.url);
    assert.equal(await exportAll(p), want);
    const uids = new Set((JSON.parse(want).t as { uid: number }[]).map((r) => r.uid));
    assert.deepEqual(acked.filter((u) => !uids.has(u)), []);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status;
    await a.close();
    await redis.dispose();
  }
});
