/**
 * Checkpoints: snapshots of every durable table at one sequence number,
 * committed by an atomic rename of `checkpoint-<seq>.json`, after which
 * older files and log segments are deleted. The two newest checkpoints are
 * kept, with the segments after the older one, so a damaged newest
 * snapshot still leaves a way back.
 *
 * Ingest pauses only while changed tables are captured from the engine;
 * files are written after it resumes. Tables unchanged since the last
 * checkpoint keep their snapshot files.
 *
 * @module
 */

import { join } from "node:path";
import type { EngineHost } from "../engine/host.ts";
import type { Logger } from "../ops/log.ts";
import type { StorageFs } from "./fs.ts";
import type { OrderedLog } from "./log.ts";
import { changeTable, type LogRecord } from "./record.ts";
import { listSegments } from "./segments.ts";
import {
  appendOnly,
  type Capture,
  captureRows,
  describeTable,
  readSnapshot,
  type TableShape,
  writeSnapshot,
} from "./snapshot.ts";

/** The commit record of one checkpoint. */
export interface CheckpointFile {
  /** Format version. */
  version: 1;
  /** Every record up to this one is in the snapshots. */
  seq: number;
  /** Each durable table's manifest file, in `snapshots/`. */
  tables: { table: string; manifest: string }[];
  /** Saved settings at `seq`. */
  meta: [string, unknown][];
  /** When it was taken (ISO 8601). */
  created: string;
}

/** When to take a checkpoint. */
export interface CheckpointPolicy {
  /** Bytes of log records since the last checkpoint. @default 256 MiB */
  bytes: number;
  /** Milliseconds since the last checkpoint, when anything changed. @default 300000 */
  ageMs: number;
}

/** Figures of the last checkpoint, for metrics. */
export interface CheckpointStats {
  /** Sequence number. */
  seq: number;
  /** When it committed (epoch ms). */
  at: number;
  /** Milliseconds ingest was paused while tables were captured. */
  pauseMs: number;
  /** Milliseconds from start to commit. */
  durationMs: number;
  /** Tables captured (the others kept their files). */
  captured: number;
}

const PREFIX = "checkpoint-";

/** Lists checkpoint files, newest first. */
export async function listCheckpoints(fs: StorageFs, dataDir: string): Promise<string[]> {
  const names = (await fs.list(dataDir)).filter((n) => /^checkpoint-\d+\.json$/.test(n));
  return names.sort((a, b) => seqOf(b) - seqOf(a));
}

function seqOf(name: string): number {
  return Number(name.slice(PREFIX.length, -".json".length));
}

/** Reads a checkpoint and verifies each of its snapshots. */
export async function readCheckpoint(
  fs: StorageFs,
  dataDir: string,
  name: string,
): Promise<{ checkpoint: CheckpointFile; snapshots: Awaited<ReturnType<typeof readSnapshot>>[] }> {
  const checkpoint = JSON.parse(
    new TextDecoder().decode(await fs.readFile(join(dataDir, name))),
  ) as CheckpointFile;
  if (checkpoint.version !== 1) throw new Error(`${name}: unknown checkpoint version`);
  const dir = join(dataDir, "snapshots");
  const snapshots = [];
  for (const t of checkpoint.tables) snapshots.push(await readSnapshot(fs, dir, t.manifest));
  return { checkpoint, snapshots };
}

/** Takes checkpoints for one data directory. */
export class Checkpointer {
  readonly #fs: StorageFs;
  readonly #dataDir: string;
  readonly #host: EngineHost;
  readonly #log: OrderedLog;
  readonly #policy: CheckpointPolicy;
  readonly #logger: Logger;
  readonly #dirty = new Set<string>();
  /** Per table, how many changes since start-up did more than append rows. */
  readonly #rewrites = new Map<string, number>();
  #current?: CheckpointFile;
  #previous?: CheckpointFile;
  #bytesSince = 0;
  #changedAt?: number;
  #running?: Promise<CheckpointStats | undefined>;
  #timer: ReturnType<typeof setInterval>;
  /** The last checkpoint's figures. */
  last?: CheckpointStats;
  /** Checkpoints that failed (the log keeps growing until one succeeds). */
  failures = 0;
  /** Called when a checkpoint starts a new segment for the records after it. */
  onRoll?: () => void;

  /**
   * @param current The checkpoint recovery started from, if any.
   * @param previous The one before it, if any.
   */
  constructor(options: {
    fs: StorageFs;
    dataDir: string;
    host: EngineHost;
    log: OrderedLog;
    policy: CheckpointPolicy;
    logger: Logger;
    current?: CheckpointFile;
    previous?: CheckpointFile;
  }) {
    this.#fs = options.fs;
    this.#dataDir = options.dataDir;
    this.#host = options.host;
    this.#log = options.log;
    this.#policy = options.policy;
    this.#logger = options.logger;
    this.#current = options.current;
    this.#previous = options.previous;
    this.#timer = setInterval(() => {
      if (this.#changedAt !== undefined && Date.now() - this.#changedAt >= this.#policy.ageMs) {
        void this.checkpoint();
      }
    }, Math.min(10_000, Math.max(100, this.#policy.ageMs / 4)));
    Deno.unrefTimer(this.#timer);
  }

  /** Bytes of records since the last checkpoint. */
  get bytesSince(): number {
    return this.#bytesSince;
  }

  /** Sequence number of the newest checkpoint, or 0. */
  get seq(): number {
    return this.#current?.seq ?? 0;
  }

  /** Notes an applied record; starts a checkpoint past the byte threshold. */
  noteApplied(record: LogRecord, bytes: number): void {
    const table = changeTable(record.change);
    if (table !== undefined) {
      this.#dirty.add(table);
      const c = record.change;
      if (c.type !== "batch" || c.batch.op !== "update" || c.batch.create) {
        this.#rewrites.set(table, (this.#rewrites.get(table) ?? 0) + 1);
      }
    }
    this.#bytesSince += bytes;
    this.#changedAt ??= Date.now();
    if (this.#bytesSince >= this.#policy.bytes) void this.checkpoint();
  }

  /** Marks every recovered table as changed, so the first checkpoint covers them. */
  markDirty(tables: Iterable<string>): void {
    for (const t of tables) this.#dirty.add(t);
  }

  /** Takes a checkpoint now (or joins the one running). */
  checkpoint(): Promise<CheckpointStats | undefined> {
    this.#running ??= this.#take().catch((error) => {
      this.failures++;
      this.#logger.error("checkpoint failed; the log keeps every record until one succeeds", {
        error,
      });
      return undefined;
    }).finally(() => this.#running = undefined);
    return this.#running;
  }

  /** Stops the age timer and waits for a running checkpoint. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  async #take(): Promise<CheckpointStats | undefined> {
    const started = performance.now();
    let pauseMs = 0;
    // Inside the pause: tables whose rows change in place are captured
    // whole; append-only tables only have their size noted, and their rows
    // up to it are read after ingest resumes (later batches only add rows).
    const state = await this.#log.paused(async (seq) => {
      const pauseStart = performance.now();
      const tables = this.#log.durableTables;
      const kept = new Map((this.#current?.tables ?? []).map((t) => [t.table, t.manifest]));
      const captures: Capture[] = [];
      const later: { shape: TableShape; rewrites: number }[] = [];
      for (const table of tables) {
        if (kept.has(table) && !this.#dirty.has(table)) continue;
        const shape = await describeTable(this.#host, table);
        if (appendOnly(shape.def)) {
          later.push({ shape, rewrites: this.#rewrites.get(table) ?? 0 });
        } else {
          captures.push(await captureRows(this.#host, shape));
        }
      }
      this.#dirty.clear();
      this.#bytesSince = 0;
      this.#changedAt = undefined;
      this.onRoll?.();
      pauseMs = performance.now() - pauseStart;
      return { seq, tables, kept, captures, later, meta: this.#log.metaEntries };
    });
    try {
      return await this.#commit(state, started, pauseMs);
    } catch (err) {
      // Nothing of this checkpoint counts: every table it would have
      // covered must be taken by the next one.
      for (const t of state.tables) this.#dirty.add(t);
      this.#changedAt ??= Date.now();
      throw err;
    }
  }

  async #commit(
    state: {
      seq: number;
      tables: string[];
      kept: Map<string, string>;
      captures: Capture[];
      later: { shape: TableShape; rewrites: number }[];
      meta: [string, unknown][];
    },
    started: number,
    pauseMs: number,
  ): Promise<CheckpointStats | undefined> {
    for (const { shape, rewrites } of state.later) {
      const capture = await captureRows(this.#host, shape);
      if ((this.#rewrites.get(shape.table) ?? 0) !== rewrites) {
        // Cleared, replaced or dropped meanwhile: its first rows are not the
        // ones the pause saw.
        throw new Error(`table ${JSON.stringify(shape.table)} was rewritten during its snapshot`);
      }
      state.captures.push(capture);
    }
    if (this.#current && state.seq === this.#current.seq) return undefined;
    const snapDir = join(this.#dataDir, "snapshots");
    const written = new Map<string, string>();
    for (const capture of state.captures) {
      const { manifestFile } = await writeSnapshot(this.#fs, snapDir, capture, state.seq);
      written.set(capture.table, manifestFile);
    }
    await this.#fs.syncDir(snapDir);
    const checkpoint: CheckpointFile = {
      version: 1,
      seq: state.seq,
      tables: state.tables.map((table) => ({
        table,
        manifest: written.get(table) ?? state.kept.get(table)!,
      })),
      meta: state.meta,
      created: new Date().toISOString(),
    };
    const name = `${PREFIX}${state.seq}.json`;
    const tmp = join(this.#dataDir, `${name}.tmp`);
    await this.#fs.writeFileSynced(tmp, new TextEncoder().encode(JSON.stringify(checkpoint)));
    await this.#fs.rename(tmp, join(this.#dataDir, name));
    await this.#fs.syncDir(this.#dataDir);
    this.#previous = this.#current;
    this.#current = checkpoint;
    await this.#cleanUp().catch((error) =>
      this.#logger.warn("could not delete files an old checkpoint used", { error })
    );
    this.last = {
      seq: state.seq,
      at: Date.now(),
      pauseMs,
      durationMs: performance.now() - started,
      captured: state.captures.length,
    };
    this.#logger.info("checkpoint", { ...this.last });
    return this.last;
  }

  /** Deletes checkpoints, snapshots and segments that neither kept checkpoint needs. */
  async #cleanUp(): Promise<void> {
    const keep = [this.#current, this.#previous].filter((c): c is CheckpointFile => !!c);
    const names = new Set(keep.map((c) => `${PREFIX}${c.seq}.json`));
    for (const name of await listCheckpoints(this.#fs, this.#dataDir)) {
      if (!names.has(name)) await this.#fs.remove(join(this.#dataDir, name));
    }
    // A checkpoint that failed before its rename leaves its temporary file.
    for (const name of await this.#fs.list(this.#dataDir)) {
      if (/^checkpoint-\d+\.json\.tmp$/.test(name)) {
        await this.#fs.remove(join(this.#dataDir, name));
      }
    }
    const snapDir = join(this.#dataDir, "snapshots");
    const used = new Set<string>();
    for (const c of keep) {
      for (const t of c.tables) {
        used.add(t.manifest);
        used.add(t.manifest.replace(/\.json$/, ".arrow"));
      }
    }
    for (const name of await this.#fs.list(snapDir)) {
      if (!used.has(name)) await this.#fs.remove(join(snapDir, name));
    }
    // Replay from the older checkpoint needs every record after it.
    const floor = keep.length === 2 ? keep[1].seq : 0;
    if (floor === 0) return;
    const walDir = join(this.#dataDir, "wal");
    const segments = await listSegments(this.#fs, walDir);
    for (let i = 0; i + 1 < segments.length; i++) {
      if (segments[i + 1].firstSeq - 1 <= floor) await this.#fs.remove(segments[i].path);
    }
  }
}
