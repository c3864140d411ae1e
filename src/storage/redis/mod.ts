/**
 * Opens the shared batch log on Redis (`REDIS_URL`): two connections (one
 * for appends, snapshots and figures; one that blocks reading the stream),
 * the log, its tailer and the snapshotter, and a poll of the figures that
 * `/metrics` reports (stream length, lag, snapshot age).
 *
 * A replica keeps no local files: it starts from the newest snapshot in
 * Redis and the stream after it.
 *
 * @module
 */

import type { BatchApplier } from "../../engine/apply.ts";
import type { EngineHost } from "../../engine/host.ts";
import type { Logger } from "../../ops/log.ts";
import { connectRedis, type RedisConnection, text } from "./client.ts";
import { compareIds } from "./ids.ts";
import { logKeys } from "./keys.ts";
import { type SnapshotPolicy, Snapshotter } from "./snapshotter.ts";
import { listSnapshots, readManifest } from "./snapshots.ts";
import { StreamLog } from "./stream_log.ts";
import { Tailer } from "./tailer.ts";

export { StreamLog } from "./stream_log.ts";

/** Options for {@linkcode openRedisLog}. */
export interface RedisLogOptions {
  /** `redis://[user:password@]host:port/db` or `rediss://` for TLS. */
  url: string;
  /** Prefix of every key. @default "perspective" */
  prefix?: string;
  /** Logger. */
  logger: Logger;
  /** When to snapshot. */
  snapshot?: Partial<SnapshotPolicy>;
  /** Bound on a read's wait for a named position, in milliseconds. @default 5000 */
  readWaitMs?: number;
  /** Gives up connecting at start-up when this aborts. */
  signal?: AbortSignal;
}

/** Figures polled from Redis for `/metrics`. */
export interface SharedLogFigures {
  /** Entries in the stream. */
  streamLength: number;
  /** Entries appended that this replica has not applied. */
  lagEntries: number;
  /** Age of the oldest entry not yet applied here, in milliseconds (0 when caught up). */
  lagMs: number;
  /** When the newest snapshot was taken (epoch ms), or 0. */
  snapshotAt: number;
}

/** An open shared log. */
export interface RedisStorage {
  /** The log the sink uses. */
  log: StreamLog;
  /** Snapshots. */
  snapshotter: Snapshotter;
  /** The tailer. */
  tailer: Tailer;
  /** Figures from the last poll. */
  figures: SharedLogFigures;
  /** Whether both connections are up. */
  readonly connected: boolean;
  /** Stops tailing, closes the log and the connections. */
  close(): Promise<void>;
}

/** Connects, loads the newest snapshot and starts tailing; resolves once ready. */
export async function openRedisLog(
  host: EngineHost,
  applier: BatchApplier,
  options: RedisLogOptions,
): Promise<RedisStorage> {
  const keys = logKeys(options.prefix);
  const logger = options.logger;
  const cmd = await connectRedis(options.url, "commands", logger, options.signal);
  let tail: RedisConnection;
  try {
    tail = await connectRedis(options.url, "tail", logger, options.signal);
  } catch (err) {
    await cmd.close();
    throw err;
  }
  const log = new StreamLog(host, applier, { keys, logger, readWaitMs: options.readWaitMs });
  log.connection = cmd;
  const snapshotter = new Snapshotter({
    conn: cmd,
    keys,
    host,
    log,
    logger,
    policy: options.snapshot,
  });
  log.onApplied = (bytes) => snapshotter.noteApplied(bytes);
  const tailer = new Tailer({ conn: tail, keys, log, host, logger });
  await tailer.start();
  const figures: SharedLogFigures = { streamLength: 0, lagEntries: 0, lagMs: 0, snapshotAt: 0 };
  let polling = false;
  const poll = setInterval(async () => {
    if (polling || !cmd.connected) return;
    polling = true;
    try {
      const [length, head] = await Promise.all([
        cmd.send(["XLEN", keys.stream]),
        cmd.send(["GET", keys.seq]),
      ]);
      figures.streamLength = Number(length);
      figures.lagEntries = Math.max(0, Number(text(head) || 0) - log.appliedSeq);
      figures.lagMs = 0;
      if (figures.lagEntries > 0) {
        // The next entry's ID says when Redis took it.
        const next = await cmd.send([
          "EVAL",
          "local e = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', 1) " +
          "if e[1] then return e[1][1] end return false",
          "1",
          keys.stream,
          log.position,
        ]);
        if (next) figures.lagMs = Math.max(0, Date.now() - Number(text(next).split("-")[0]));
      }
      const newest = (await listSnapshots(cmd, keys))[0];
      const m = newest ? await readManifest(cmd, keys, newest) : undefined;
      figures.snapshotAt = m && compareIds(m.position, "0-0") > 0 ? m.created : 0;
    } catch {
      // The connection state says why; the figures keep their last values.
    } finally {
      polling = false;
    }
  }, 1000);
  Deno.unrefTimer(poll);
  return {
    log,
    snapshotter,
    tailer,
    figures,
    get connected() {
      return cmd.connected && tail.connected;
    },
    async close() {
      clearInterval(poll);
      await log.close();
      await snapshotter.close();
      await tailer.stop();
      await cmd.close();
    },
  };
}
