/**
 * Snapshots kept in Redis, where every replica can read them: a manifest
 * key per snapshot (position, entry number, epoch, saved settings, and per
 * table its definition, rows and checksum) and each table's Arrow rows in
 * chunks of at most 4 MiB. A snapshot counts once its name is pushed on the
 * list of snapshots; the two newest are kept.
 *
 * @module
 */

import type { EngineHost } from "../../engine/host.ts";
import { crc32c } from "../crc32c.ts";
import { type Capture, checkManifest, type Manifest, restoreTable } from "../snapshot.ts";
import { type RedisConnection, type Reply, text } from "./client.ts";
import type { LogKeys } from "./keys.ts";

/** Bytes of one chunk key. */
export const CHUNK_BYTES = 4 * 1024 * 1024;

/** A snapshot's manifest, as stored. */
export interface RedisSnapshot {
  /** Format version: 2 when tables list their IPC streams' `parts`. */
  version: 1 | 2;
  /** Its name (the position). */
  name: string;
  /** The log generation it belongs to. */
  epoch: string;
  /** The stream ID of the last entry it includes. */
  position: string;
  /** That entry's number. */
  seq: number;
  /** When it was taken (epoch ms). */
  created: number;
  /** Saved settings at `position`. */
  meta: [string, unknown][];
  /** Tables. */
  tables: {
    table: string;
    columns: [string, string][];
    index: string | null;
    limit: number | null;
    rows: number;
    bytes: number;
    crc32c: number;
    chunks: number;
    /** Bytes of each IPC stream in the table's data, in order (version 2). */
    parts?: number[];
  }[];
}

/** Names of the stored snapshots, newest first. */
export async function listSnapshots(conn: RedisConnection, keys: LogKeys): Promise<string[]> {
  const r = await conn.send(["LRANGE", keys.snapshots, "0", "-1"]);
  return (r as Reply[]).map(text);
}

/** Reads a snapshot's manifest, or undefined when it is gone. */
export async function readManifest(
  conn: RedisConnection,
  keys: LogKeys,
  name: string,
): Promise<RedisSnapshot | undefined> {
  const r = await conn.send(["GET", keys.snapshot(name)]);
  return r === null ? undefined : JSON.parse(text(r)) as RedisSnapshot;
}

/** Writes a snapshot's chunks and manifest, then publishes it. */
export async function writeSnapshot(
  conn: RedisConnection,
  keys: LogKeys,
  base: Omit<RedisSnapshot, "tables" | "name" | "version">,
  captures: Capture[],
): Promise<RedisSnapshot> {
  const name = base.position;
  const tables: RedisSnapshot["tables"] = [];
  for (const [t, c] of captures.entries()) {
    let chunks = 0;
    for (let at = 0; at < c.arrow.byteLength || chunks === 0; at += CHUNK_BYTES) {
      await conn.send([
        "SET",
        keys.chunk(name, t, chunks++),
        c.arrow.subarray(at, at + CHUNK_BYTES),
      ]);
    }
    tables.push({
      table: c.table,
      columns: Object.entries(c.def.schema),
      index: c.def.index,
      limit: c.def.limit,
      rows: c.rows,
      bytes: c.arrow.byteLength,
      crc32c: crc32c(c.arrow),
      chunks,
      parts: c.parts,
    });
  }
  const snapshot: RedisSnapshot = { version: 2, name, ...base, tables };
  await conn.send(["SET", keys.snapshot(name), JSON.stringify(snapshot)]);
  await conn.send(["LPUSH", keys.snapshots, name]);
  return snapshot;
}

/**
 * Loads a snapshot's tables into the engine.
 *
 * @throws {Error} when a chunk is missing or a checksum does not match
 *   (the snapshot was deleted while being read, or damaged).
 */
export async function loadSnapshot(
  conn: RedisConnection,
  keys: LogKeys,
  host: EngineHost,
  snapshot: RedisSnapshot,
): Promise<number> {
  let rows = 0;
  for (const [t, table] of snapshot.tables.entries()) {
    const arrow = new Uint8Array(table.bytes);
    let at = 0;
    for (let c = 0; c < table.chunks; c++) {
      const chunk = await conn.send(["GET", keys.chunk(snapshot.name, t, c)]);
      if (!(chunk instanceof Uint8Array)) {
        throw new Error(`snapshot ${snapshot.name}: chunk ${c} of ${table.table} is missing`);
      }
      if (at + chunk.byteLength > arrow.byteLength) {
        throw new Error(`snapshot ${snapshot.name}: ${table.table} is longer than its manifest`);
      }
      arrow.set(chunk, at);
      at += chunk.byteLength;
    }
    if (at !== table.bytes || crc32c(arrow) !== table.crc32c) {
      throw new Error(`snapshot ${snapshot.name}: ${table.table} fails its checksum`);
    }
    const manifest: Manifest = {
      version: snapshot.version,
      table: table.table,
      seq: snapshot.seq,
      columns: table.columns,
      index: table.index,
      limit: table.limit,
      rows: table.rows,
      file: "",
      bytes: table.bytes,
      crc32c: table.crc32c,
      ...(table.parts ? { parts: table.parts } : {}),
    };
    checkManifest(manifest, `snapshot ${snapshot.name}: ${table.table}`);
    await restoreTable(host, manifest, arrow);
    rows += table.rows;
  }
  return rows;
}

/** Deletes a snapshot's keys and its name from the list. */
export async function deleteSnapshot(
  conn: RedisConnection,
  keys: LogKeys,
  name: string,
): Promise<void> {
  const snapshot = await readManifest(conn, keys, name);
  await conn.send(["LREM", keys.snapshots, "0", name]);
  await conn.send(["DEL", keys.snapshot(name)]);
  for (const [t, table] of (snapshot?.tables ?? []).entries()) {
    for (let c = 0; c < table.chunks; c++) await conn.send(["DEL", keys.chunk(name, t, c)]);
  }
}
