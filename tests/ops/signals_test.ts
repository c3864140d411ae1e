/**
 * `main.ts`'s signal handling, end to end: the real entry point with
 * `deno task start`'s permissions, a batch upload held open so the drain
 * has work to wait for, and real signals.
 */

import assert from "node:assert/strict";
import { waitFor } from "../support/wait.ts";
import { startCommand } from "../support/start_command.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DATA_DIR = Deno.makeTempDirSync({ prefix: "signals-data-" });
const START = startCommand(`./data,${DATA_DIR}`);

async function collect(stream: ReadableStream<Uint8Array>, lines: string[]) {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    lines.push(...parts);
  }
}

/** Starts main.ts, waits until it listens, and opens an upload that does not finish. */
async function startWithStuckUpload(env: Record<string, string>) {
  const child = new Deno.Command(START[0], {
    args: START.slice(1),
    cwd: ROOT,
    env: { PORT: "0", DEMO: "0", LOG_LEVEL: "info", DATA_DIR, ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logs: string[] = [];
  const reading = Promise.all([collect(child.stdout, logs), collect(child.stderr, [])]);
  const listening = await waitFor("the listening line", () =>
    logs.map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return {};
      }
    }).find((l) => l.msg === "listening"), { timeout: 60_000 });
  const url = listening.url as string;
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      ctl = c;
      c.enqueue(new TextEncoder().encode('[{"x": 1},'));
    },
  });
  const upload = fetch(new URL("api/tables/t/rows", url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  }).then((r) => r.body?.cancel(), () => undefined);
  // The upload is in flight once the request line is counted by /metrics.
  await waitFor("the upload in flight", async () => {
    const text = await (await fetch(new URL("metrics", url))).text();
    return /^perspective_http_requests_in_flight [1-9]/m.test(text);
  });
  const drainStarted = () => logs.some((l) => l.includes('"msg":"draining"'));
  return {
    child,
    logs,
    drainStarted,
    async finish() {
      try {
        ctl.close();
      } catch {
        // Already errored by the server closing the connection.
      }
      await upload;
      await reading;
    },
  };
}

Deno.test("main.ts exits at once with 143 on a second SIGTERM during a drain", async () => {
  const s = await startWithStuckUpload({ DRAIN_SECONDS: "60" });
  s.child.kill("SIGTERM");
  await waitFor("the drain to start", s.drainStarted);
  const t0 = performance.now();
  s.child.kill("SIGTERM");
  const status = await s.child.status;
  const ms = performance.now() - t0;
  assert.equal(status.code, 143);
  assert.ok(ms < 5000, `${ms} ms`);
  assert.ok(s.logs.some((l) => l.includes("second signal")));
  await s.finish();
});

Deno.test("main.ts exits 1 when the drain reaches DRAIN_SECONDS with an upload unfinished", async () => {
  const s = await startWithStuckUpload({ DRAIN_SECONDS: "1" });
  const t0 = performance.now();
  s.child.kill("SIGINT");
  const status = await s.child.status;
  const ms = performance.now() - t0;
  assert.equal(status.code, 1);
  assert.ok(ms >= 900 && ms < 10_000, `${ms} ms`);
  const line = JSON.parse(s.logs.find((l) => l.includes("drain timed out"))!);
  assert.equal(line.level, "warn");
  assert.equal(line.inflight, 1);
  await s.finish();
});
