/**
 * Durable benchmark, one run:
 *
 * 1. ingest through the write-ahead log (`WAL_SYNC=group`, checkpoints
 *    off: part 3 measures them) against memory only (`DATA_DIR=`), the same batches to two service processes in the
 *    same run, with 16 requests in flight and with one (a lone producer
 *    posting in a loop); rows/s, acknowledgement p50 and p99, and the ratio;
 * 2. recovery: start-to-ready for a big append table of the demo's schema,
 *    from log replay alone and from a checkpoint's snapshot;
 * 3. the ingest pause a checkpoint of that table causes: the checkpointer's
 *    own figure (`/metrics`) and the longest gap between acknowledgements a
 *    lone producer sees while it runs.
 *
 * Run: `deno task bench:durable`. Flags: `--no-ingest`, `--no-recovery`,
 * `--rows=1000000,10000000` (table sizes for parts 2 and 3; default one
 * million, and ten million needs a few GB of RAM and a long run). `ROUNDS`
 * (default 3, after a warm-up round) and `CASES` as in `bench:ingest`.
 *
 * @module
 */

import { type Case, cases, median, post, startServer } from "./ingest.ts";
import {
  createTable,
  metric,
  type Proc,
  quantile,
  spawnService,
  tableSize,
  waitReady,
} from "./durable_proc.ts";
import { DEMO_SCHEMA } from "../src/engine/demo.ts";

const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 3);
const flag = (name: string) => Deno.args.includes(`--${name}`);
const rowsArg = Deno.args.find((a) => a.startsWith("--rows="))?.slice("--rows=".length);
// 10 million rows take well over ten minutes on two cores (each checkpoint of
// the table captures it whole), so the default run stops at one million.
const SIZES = (rowsArg ?? "1000000").split(",").map(Number);
const INGEST_CASES = ["arrow 10k", "arrow 1k", "json rows 10k", "csv 10k"];
/**
 * Batches a lone producer posts per run: each takes milliseconds, and a run
 * of a few dozen lasts under a second, too short to outlast a hiccup.
 */
const LONE_BATCHES = 150;

let tableSeq = 0;

/** One timed run: rows/s and each request's acknowledgement time in ms. */
async function run(
  base: string,
  c: Case,
  inflight: number,
): Promise<{ rate: number; acks: number[]; refused: number }> {
  const name = `bench-${++tableSeq}`;
  await createTable(base, name, { schema: DEMO_SCHEMA });
  // The first load into an empty table takes an engine fast path; see bench/ingest.ts.
  await post(base, name, c);
  const batches = inflight === 1 ? LONE_BATCHES : c.batches;
  const acks: number[] = [];
  let next = 0;
  let refused = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (next < batches) {
      next++;
      const t = performance.now();
      try {
        await post(base, name, c);
        acks.push(performance.now() - t);
      } catch (err) {
        // Counted and shown: on an overloaded machine the service refuses some.
        if (refused++ === 0) console.error(`  ${(err as Error).message.slice(0, 200)}`);
      }
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  await (await fetch(`${base}api/tables/${name}`, { method: "DELETE" })).body?.cancel();
  return { rate: (c.rows * acks.length) / seconds, acks, refused };
}

interface IngestRow {
  name: string;
  inflight: number;
  memory: number;
  durable: number;
  memAcks: number[];
  durAcks: number[];
  refused: number;
}

async function ingestPart(): Promise<IngestRow[]> {
  const dir = await Deno.makeTempDir({ prefix: "bench-durable-" });
  const memory = await startServer({ DATA_DIR: "" });
  // No checkpoint runs here: where one lands depends on how many bytes earlier
  // cases logged, and a run it lands in measures the checkpoint, not the log.
  // Part 3 measures the pause a checkpoint causes on its own.
  const durable = await startServer({
    DATA_DIR: dir,
    WAL_SYNC: "group",
    CHECKPOINT_MB: String(1 << 20),
    CHECKPOINT_SECONDS: "86400",
  });
  const only = Deno.env.get("CASES")?.split(",").map((s) => s.trim()) ?? INGEST_CASES;
  const rows: IngestRow[] = [];
  try {
    await waitReady(memory.base);
    await waitReady(durable.base);
    for (const c of cases().filter((c) => only.includes(c.name))) {
      for (const inflight of [16, 1]) {
        const row: IngestRow = {
          name: c.name,
          inflight,
          memory: 0,
          durable: 0,
          memAcks: [],
          durAcks: [],
          refused: 0,
        };
        const mem: number[] = [];
        const dur: number[] = [];
        // Round 0 warms both processes up and is discarded; the order alternates
        // so a change in machine load hits both alike.
        for (let r = 0; r <= ROUNDS; r++) {
          const order = r % 2 === 0 ? ["memory", "durable"] : ["durable", "memory"];
          for (const which of order) {
            const m = which === "memory";
            const result = await run(m ? memory.base : durable.base, c, inflight);
            if (r === 0) continue;
            row.refused += result.refused;
            (m ? mem : dur).push(result.rate);
            (m ? row.memAcks : row.durAcks).push(...result.acks);
          }
        }
        row.memory = median(mem);
        row.durable = median(dur);
        rows.push(row);
        console.error(
          `  ${c.name}, ${inflight} in flight: ${(row.durable / row.memory).toFixed(2)}`,
        );
      }
    }
  } finally {
    await memory.stop();
    await durable.stop();
    await Deno.remove(dir, { recursive: true });
  }
  return rows;
}

interface RecoveryRow {
  rows: number;
  loadRate: number;
  replayMs: number;
  replayInner: number;
  snapshotMs: number;
  snapshotInner: number;
  pauseMs: number;
  checkpointMs: number;
  longestGap: number;
  gapBefore: number;
  p99Before: number;
  refused: number;
}

/** The "recovered" figure the service reports, in ms. */
async function recoveryMs(p: Proc): Promise<number> {
  return 1000 * ((await metric(p.base, "perspective_recovery_seconds")) ?? NaN);
}

async function recoveryPart(n: number, batch: Case, small: Case): Promise<RecoveryRow> {
  const dir = await Deno.makeTempDir({ prefix: "bench-recovery-" });
  // Loading takes no checkpoint at all; later, checkpoints by size never
  // happen, and by age only 3 s after the first write following start-up.
  const loadEnv = { DATA_DIR: dir, CHECKPOINT_MB: String(1 << 20), CHECKPOINT_SECONDS: "86400" };
  const env = { ...loadEnv, CHECKPOINT_SECONDS: "3" };
  let p: Proc | undefined;
  try {
    p = await spawnService(loadEnv);
    await createTable(p.base, "trades", { schema: DEMO_SCHEMA });
    const batches = Math.ceil(n / batch.rows);
    let next = 0;
    const start = performance.now();
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < batches) {
        next++;
        await post(p!.base, "trades", batch);
      }
    }));
    const loadRate = (batches * batch.rows) / ((performance.now() - start) / 1000);
    const loaded = await tableSize(p.base, "trades");
    console.error(`  ${loaded} rows loaded`);
    await p.kill();

    // Start-up replays the whole log: nothing was ever checkpointed.
    p = await spawnService(env);
    const replayMs = p.readyMs;
    const replayInner = await recoveryMs(p);
    if (await tableSize(p.base, "trades") !== loaded) throw new Error("replay lost rows");
    console.error(`  replayed in ${Math.round(replayMs)} ms`);

    // A lone producer posts small batches into the big table; its first write
    // starts the age clock, so a checkpoint of the whole table runs under it.
    const acks: { at: number; ms: number }[] = [];
    let done = false;
    let committed: number | undefined;
    let refused = 0;
    const producer = (async () => {
      while (!done) {
        const t = performance.now();
        try {
          await post(p!.base, "trades", small);
          acks.push({ at: performance.now(), ms: performance.now() - t });
        } catch (err) {
          // A refusal during the checkpoint is a finding, not the end of the run.
          if (refused++ === 0) console.error(`  ${(err as Error).message.slice(0, 200)}`);
        }
      }
    })();
    const begun = performance.now();
    while (committed === undefined && performance.now() - begun < 600_000) {
      await new Promise((r) => setTimeout(r, 100));
      const total = await metric(p.base, 'perspective_snapshot_duration_seconds{part="total"}');
      if (total && total > 0) committed = performance.now();
    }
    await new Promise((r) => setTimeout(r, 1000));
    done = true;
    await producer;
    const pauseMs = 1000 *
      ((await metric(p.base, 'perspective_snapshot_duration_seconds{part="pause"}')) ?? NaN);
    const checkpointMs = 1000 *
      ((await metric(p.base, 'perspective_snapshot_duration_seconds{part="total"}')) ?? NaN);
    // The checkpoint started at most checkpointMs before it was seen committed.
    const cpStart = committed! - checkpointMs - 100;
    const gaps = acks.slice(1).map((a, i) => ({ at: a.at, gap: a.at - acks[i].at }));
    const during = gaps.filter((g) => g.at >= cpStart && g.at <= committed! + 1000);
    const before = gaps.filter((g) => g.at < cpStart);
    const longestGap = Math.max(0, ...during.map((g) => g.gap));
    const gapBefore = Math.max(0, ...before.map((g) => g.gap));
    const p99Before = before.length ? quantile(before.map((g) => g.gap), 0.99) : NaN;
    const total = await tableSize(p.base, "trades");
    // The producer's last batches start the age clock again; once the next
    // checkpoint covers them, recovery below is the snapshot's alone.
    for (let i = 0; i < 6000; i++) {
      if (await metric(p.base, "perspective_log_bytes_since_checkpoint") === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await p.kill();

    // Start-up loads the snapshot and replays the few records after it.
    p = await spawnService(env);
    const snapshotMs = p.readyMs;
    const snapshotInner = await recoveryMs(p);
    if (await tableSize(p.base, "trades") !== total) throw new Error("snapshot lost rows");
    await p.kill();
    p = undefined;
    return {
      rows: n,
      loadRate,
      replayMs,
      replayInner,
      snapshotMs,
      snapshotInner,
      pauseMs,
      checkpointMs,
      longestGap,
      gapBefore,
      p99Before,
      refused,
    };
  } finally {
    await p?.kill();
    await Deno.remove(dir, { recursive: true });
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => n.toFixed(n < 10 ? 1 : 0);

if (import.meta.main) {
  const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ").slice(0, 3);
  console.log(
    `durable benchmark; load average at start ${
      load.join(" ")
    }, ${navigator.hardwareConcurrency} CPUs`,
  );
  if (!flag("no-ingest")) {
    const rows = await ingestPart();
    console.log(
      `\ningest: ${ROUNDS} rounds after a warm-up round, median rows/s; ack p50/p99 over all ` +
        `rounds' requests; durable = WAL_SYNC=group with no checkpoint (see the checkpoint ` +
        `figures below), memory = DATA_DIR empty; ${LONE_BATCHES} batches a run with 1 in flight`,
    );
    console.log(
      "| case | in flight | memory rows/s | durable rows/s | durable / memory | " +
        "memory ack p50 / p99 ms | durable ack p50 / p99 ms |",
    );
    console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const r of rows) {
      console.log(
        `| ${r.name} | ${r.inflight} | ${fmt(r.memory)} | ${fmt(r.durable)} | ` +
          `${(r.durable / r.memory).toFixed(2)} | ` +
          `${ms(quantile(r.memAcks, 0.5))} / ${ms(quantile(r.memAcks, 0.99))} | ` +
          `${ms(quantile(r.durAcks, 0.5))} / ${ms(quantile(r.durAcks, 0.99))} |` +
          (r.refused ? ` ${r.refused} refused |` : ""),
      );
    }
  }
  if (!flag("no-recovery")) {
    const all = cases();
    const batch = all.find((c) => c.name === "arrow 10k")!;
    const small = all.find((c) => c.name === "arrow 1k")!;
    const empty = await Deno.makeTempDir({ prefix: "bench-empty-" });
    const base = await spawnService({ DATA_DIR: empty });
    await base.kill();
    await Deno.remove(empty, { recursive: true });
    const results: RecoveryRow[] = [];
    for (const n of SIZES) {
      console.error(`recovery, ${fmt(n)} rows`);
      results.push(await recoveryPart(n, batch, small));
    }
    console.log(
      `\nrecovery: start-to-ready (spawn to /readyz 200), an append table of the demo's ` +
        `schema; in brackets the recovery time the service reports; an empty data ` +
        `directory starts in ${fmt(base.readyMs)} ms`,
    );
    console.log(
      "| rows | loaded at rows/s | from log replay ms | from snapshot ms | " +
        "snapshot s per million rows |",
    );
    console.log("| ---: | ---: | ---: | ---: | ---: |");
    for (const r of results) {
      console.log(
        `| ${fmt(r.rows)} | ${fmt(r.loadRate)} | ${fmt(r.replayMs)} (${fmt(r.replayInner)}) | ` +
          `${fmt(r.snapshotMs)} (${fmt(r.snapshotInner)}) | ` +
          `${(r.snapshotMs / 1000 / (r.rows / 1e6)).toFixed(2)} |`,
      );
    }
    console.log(
      "\ncheckpoint of the whole table while a lone producer posts arrow 1k batches into it: " +
        'the checkpointer\'s pause (/metrics part="pause") and total, and the longest gap ' +
        "between the producer's acknowledgements during the checkpoint vs before it",
    );
    console.log(
      "| rows | pause ms | checkpoint total ms | longest ack gap during ms | " +
        "longest / p99 ack gap before ms | batches refused |",
    );
    console.log("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const r of results) {
      console.log(
        `| ${fmt(r.rows)} | ${fmt(r.pauseMs)} | ${fmt(r.checkpointMs)} | ${fmt(r.longestGap)} | ` +
          `${fmt(r.gapBefore)} / ${fmt(r.p99Before)} | ${r.refused} |`,
      );
    }
  }
  const end = (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ").slice(0, 3);
  console.log(`\nload average at end ${end.join(" ")}`);
}
