import assert from "node:assert/strict";
import { EngineHost } from "../../src/engine/host.ts";
import { BatchSink } from "../../src/ingest/sink.ts";
import { SourceError } from "../../src/ingest/source.ts";
import {
  type RestartPolicy,
  type RunningSources,
  type SourceSpec,
  startSources,
} from "../../src/ingest/source_runner.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { ServiceMetrics } from "../../src/ops/service_metrics.ts";
import { waitFor } from "../support/wait.ts";
import { columnsOf } from "../support/columns.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

let seq = 0;

/** A flaky source spec with a name no other test uses (the fixture counts runs by name). */
function flaky(options: Record<string, unknown>): SourceSpec {
  const name = `flaky-${++seq}-${crypto.randomUUID()}`;
  return { name, use: "./flaky_source.ts", options: { table: name, ...options } };
}

async function withSources(
  specs: SourceSpec[],
  restart: RestartPolicy,
  fn: (running: RunningSources, host: EngineHost) => Promise<void>,
): Promise<void> {
  const host = await EngineHost.create();
  const sink = new BatchSink(host);
  try {
    const running = await startSources(specs, {
      sink,
      log: silentLogger,
      baseDir: FIXTURES,
      restart,
    });
    try {
      await fn(running, host);
    } finally {
      await running.stop();
    }
  } finally {
    await sink.close();
    host.close();
  }
}

async function runs(host: EngineHost, table: string): Promise<number[]> {
  const t = await host.table(table);
  return t ? (await columnsOf(host, t)).run as number[] : [];
}

Deno.test("startSources() restarts a failing source with a doubling delay until it runs", async () => {
  const spec = flaky({ failures: 3 });
  const started = performance.now();
  await withSources([spec], { initialDelayMs: 40, maxDelayMs: 5000 }, async (running, host) => {
    await waitFor("the fourth run's row", async () => (await runs(host, spec.name)).length === 1);
    // Three failures wait 40 + 80 + 160 ms before the run that gets through.
    assert.ok(performance.now() - started >= 280, `restarted too soon`);
    assert.deepEqual(await runs(host, spec.name), [4]);
    const [status] = running.status();
    assert.equal(status.state, "running");
    assert.equal(status.restarts, 3);
    assert.equal(status.lastError, "broker down (run 3)");
    const metrics = new ServiceMetrics();
    metrics.watchSources(running);
    const text = await metrics.registry.render();
    assert.match(text, new RegExp(`perspective_source_up\\{source="${spec.name}"\\} 1`));
    assert.match(
      text,
      new RegExp(`perspective_source_restarts_total\\{source="${spec.name}"\\} 3`),
    );
  });
});

Deno.test("startSources() marks a source that returns as finished and does not restart it", async () => {
  const spec = flaky({ finish: true });
  await withSources([spec], { initialDelayMs: 10 }, async (running, host) => {
    await waitFor("finished", () => running.status()[0].state === "finished");
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await runs(host, spec.name), [1]);
    assert.equal(running.status()[0].restarts, 0);
    const metrics = new ServiceMetrics();
    metrics.watchSources(running);
    assert.match(
      await metrics.registry.render(),
      new RegExp(`perspective_source_up\\{source="${spec.name}"\\} 0`),
    );
  });
});

Deno.test("startSources() refuses options a source's check refuses, before any source starts", async () => {
  const good = flaky({ finish: true });
  const bad = { ...flaky({}), options: {} };
  const host = await EngineHost.create();
  const sink = new BatchSink(host);
  try {
    await assert.rejects(
      startSources([good, bad], { sink, log: silentLogger, baseDir: FIXTURES }),
      (err) =>
        err instanceof SourceError && err.field === "options.table" && err.index === 1 &&
        err.detail === "expected a table name",
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await host.tableNames(), []);
  } finally {
    await sink.close();
    host.close();
  }
});

Deno.test("stop() ends a source that is waiting to restart at once", async () => {
  const spec = flaky({ failures: 1000 });
  let running!: RunningSources;
  await withSources([spec], { initialDelayMs: 60_000 }, async (r) => {
    running = r;
    await waitFor("first failure", () => r.status()[0].state === "restarting");
    const stopping = performance.now();
    await r.stop();
    assert.ok(performance.now() - stopping < 1000);
  });
  assert.equal(running.status()[0].state, "stopped");
  assert.equal(running.status()[0].restarts, 1);
});
