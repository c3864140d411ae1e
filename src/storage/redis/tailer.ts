/**
 * A replica's reader of the shared stream, on its own connection: tails
 * with `XREAD BLOCK` from the last applied entry and applies each entry in
 * order. After every read it checks the log generation, and each entry's
 * number against the last applied one, so a reset stream or a trimmed gap
 * makes it rebuild from the newest snapshot rather than apply a gap.
 *
 * @module
 */

import type { EngineHost } from "../../engine/host.ts";
import type { Logger } from "../../ops/log.ts";
import { MAX_BACKOFF_MS, type RedisConnection, type Reply, text } from "./client.ts";
import { compareIds, START } from "./ids.ts";
import type { LogKeys } from "./keys.ts";
import { listSnapshots, loadSnapshot, readManifest } from "./snapshots.ts";
import type { StreamLog } from "./stream_log.ts";

/** Longest wait between rebuilds that the same unappliable entry causes. */
const MAX_DIVERGED_BACKOFF_MS = 30_000;

/** Options for {@linkcode Tailer}. */
export interface TailerOptions {
  /** The tailer's own connection (it blocks). */
  conn: RedisConnection;
  /** Key names. */
  keys: LogKeys;
  /** The log entries are applied through. */
  log: StreamLog;
  /** The engine, for loading snapshots. */
  host: EngineHost;
  /** Logger. */
  logger: Logger;
  /** Entries per read. @default 32 */
  count?: number;
  /** Milliseconds one `XREAD` blocks. @default 1000 */
  blockMs?: number;
}

/** See the module documentation. */
export class Tailer {
  readonly #o: TailerOptions;
  #stopped = false;
  #rebuildReason: string | undefined = "start-up";
  #running?: Promise<void>;
  #failures = 0;
  #held?: Promise<void>;
  /** Rows loaded from the last snapshot a rebuild used. */
  lastRebuild?: { snapshot?: string; rows: number; ms: number; reason: string };

  /** Rebuilds in a row that an entry this replica could not apply caused. */
  #failedRebuilds = 0;
  #lastFailedRebuild = 0;

  /** @param options See {@linkcode TailerOptions}. */
  constructor(options: TailerOptions) {
    this.#o = options;
    options.log.onDiverged = (d) => {
      this.#rebuildReason ??= `could not apply entry ${d.seq} (${d.position}) here: ${d.reason}`;
    };
  }

  /** Whether the last read from Redis succeeded. */
  get healthy(): boolean {
    return this.#failures === 0 && this.#o.conn.connected;
  }

  /** Rebuilds from the newest snapshot; resolves once this replica is ready. */
  async start(): Promise<void> {
    while (!this.#stopped && !this.#o.log.ready) {
      try {
        await this.#rebuild();
      } catch (error) {
        this.#o.logger.warn("cannot load the shared log yet; retrying", {
          error: String((error as Error)?.message ?? error),
        });
        await sleep(500);
      }
    }
    this.#running ??= this.#loop();
  }

  /**
   * Stops applying before the next read until the returned function is
   * called: a seam for tests of a replica that falls far behind.
   */
  hold(): () => void {
    let release = () => {};
    this.#held = new Promise((r) => release = r);
    return () => {
      this.#held = undefined;
      release();
    };
  }

  /** Stops reading; the caller closes the connection, which ends a blocked read. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#o.conn.close();
    await this.#running;
  }

  async #loop(): Promise<void> {
    const { conn, keys, log } = this.#o;
    while (!this.#stopped) {
      if (this.#held) await this.#held;
      try {
        if (this.#rebuildReason !== undefined) {
          if (log.diverged) {
            // The same entry may fail again until there is room: each try
            // reloads every table, so tries close together space out.
            const now = Date.now();
            if (now - this.#lastFailedRebuild > 2 * MAX_DIVERGED_BACKOFF_MS) {
              this.#failedRebuilds = 0;
            }
            if (this.#failedRebuilds > 0) {
              await sleep(Math.min(MAX_DIVERGED_BACKOFF_MS, 500 * 2 ** (this.#failedRebuilds - 1)));
            }
            this.#failedRebuilds++;
            this.#lastFailedRebuild = Date.now();
          }
          await this.#rebuild();
          continue;
        }
        const reply = await conn.send([
          "XREAD",
          "COUNT",
          String(this.#o.count ?? 32),
          "BLOCK",
          String(this.#o.blockMs ?? 1000),
          "STREAMS",
          keys.stream,
          log.position,
        ]);
        // Checked after the read: a reset that the read saw is seen here too.
        const epoch = text(await conn.send(["GET", keys.epoch]));
        this.#failures = 0;
        if (epoch !== log.epoch) {
          this.#rebuildReason = epoch === ""
            ? "the log's epoch key is gone (Redis lost its data)"
            : "the log was reset (a new epoch)";
          continue;
        }
        for (const [id, fields] of entries(reply)) {
          if (compareIds(id, log.position) <= 0) continue;
          const seq = Number(text(fields.get("s") ?? null));
          if (seq !== log.appliedSeq + 1) {
            this.#rebuildReason = `entries ${log.appliedSeq + 1} to ${
              seq - 1
            } are no longer in the stream (trimmed below this replica)`;
            break;
          }
          const body = fields.get("r");
          await log.applyEntry(
            id,
            seq,
            text(fields.get("n") ?? null),
            // A plain view: a Node Buffer's slice() shares memory, and the engine needs a copy.
            body instanceof Uint8Array
              ? new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
              : new Uint8Array(0),
          );
        }
      } catch (error) {
        if (this.#stopped) break;
        if (this.#failures++ === 0) {
          this.#o.logger.warn("reading the shared log failed; retrying with backoff", {
            error: String((error as Error)?.message ?? error),
          });
        }
        await sleep(Math.min(MAX_BACKOFF_MS, 50 * 2 ** Math.min(this.#failures, 6)));
      }
    }
  }

  async #rebuild(): Promise<void> {
    const { conn, keys, log, host, logger } = this.#o;
    const reason = this.#rebuildReason ?? "start-up";
    const started = performance.now();
    await conn.send(["SET", keys.epoch, crypto.randomUUID(), "NX"]);
    const epoch = text(await conn.send(["GET", keys.epoch]));
    let used: string | undefined;
    let rows = 0;
    await log.rebuild(epoch, async (restored) => {
      for (const name of await listSnapshots(conn, keys)) {
        const snapshot = await readManifest(conn, keys, name);
        if (!snapshot || snapshot.epoch !== epoch) continue;
        try {
          rows = await loadSnapshot(conn, keys, host, snapshot);
        } catch (error) {
          // A snapshot deleted or damaged while being read: its tables must not stay.
          for (const t of snapshot.tables) {
            if (await host.table(t.table)) await host.dropTable(t.table);
          }
          logger.warn("snapshot unreadable; trying an older one", {
            snapshot: name,
            error: String((error as Error)?.message ?? error),
          });
          continue;
        }
        restored(snapshot.tables.map((t) => t.table), snapshot.meta);
        used = name;
        return { position: snapshot.position, seq: snapshot.seq };
      }
      return { position: START, seq: 0 };
    });
    this.#rebuildReason = undefined;
    this.lastRebuild = { snapshot: used, rows, ms: performance.now() - started, reason };
    if (reason !== "start-up") log.stats.rebuilds++;
    logger.info("loaded the shared log's snapshot; applying the stream after it", {
      ...this.lastRebuild,
      position: log.position,
    });
  }
}

/** The entries of an `XREAD` reply, with their fields by name. */
function entries(reply: Reply): [string, Map<string, Reply>][] {
  if (!Array.isArray(reply)) return [];
  const out: [string, Map<string, Reply>][] = [];
  for (const stream of reply) {
    const items = (stream as Reply[])[1] as Reply[];
    for (const item of items) {
      const [id, flat] = item as [Reply, Reply[]];
      const fields = new Map<string, Reply>();
      for (let i = 0; i + 1 < flat.length; i += 2) fields.set(text(flat[i]), flat[i + 1]);
      out.push([text(id), fields]);
    }
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
