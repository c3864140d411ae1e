/**
 * Table snapshots: a table's rows as Arrow IPC plus a manifest (sequence
 * number, schema, index, limit, rows, checksum), each file written whole and
 * synced before anything refers to it.
 *
 * The rows are read in windows, one engine call each, so ingest and viewers
 * wait for one window at a time rather than for the whole table. The data
 * file is the windows' IPC streams one after another, and the manifest
 * lists each stream's length (`parts`); they load back in order.
 *
 * Rows are captured in the engine's own row order. For a `limit` table that
 * order is oldest first (the engine numbers rows as they arrive, keeps the
 * newest `limit` of them, and lists them by number), so loading the rows
 * back in that order gives the same rows in the same order, and the next
 * batches roll over the same rows as they would have without a restart.
 *
 * @module
 */

import { join } from "node:path";
import type { EngineHost } from "../engine/host.ts";
import type { TableDef } from "../engine/batch_types.ts";
import type { Schema } from "../engine/perspective.ts";
import { viewCost } from "../engine/memory.ts";
import { rowWindows, windowRowsFor } from "../engine/export_windows.ts";
import { concatBytes } from "../engine/export_arrow.ts";
import { crc32c } from "./crc32c.ts";
import type { StorageFs } from "./fs.ts";

/** A snapshot's manifest. */
export interface Manifest {
  /** Format version: 1 for one IPC stream, 2 for `parts`. */
  version: 1 | 2;
  /** Table name. */
  table: string;
  /** Sequence number of the last record the snapshot includes. */
  seq: number;
  /** Columns in order, with their types. */
  columns: [string, string][];
  /** Index column, or null. */
  index: string | null;
  /** Row limit, or null. */
  limit: number | null;
  /** Rows in the snapshot. */
  rows: number;
  /** The data file's name, beside the manifest. */
  file: string;
  /** Bytes of the data file. */
  bytes: number;
  /** CRC-32C of the data file. */
  crc32c: number;
  /** Bytes of each IPC stream in the data file, in order (version 2). */
  parts?: number[];
}

/** A table's rows and definition, captured from the engine. */
export interface Capture {
  /** Table name. */
  table: string;
  /** Its definition. */
  def: TableDef;
  /** Rows. */
  rows: number;
  /** Arrow IPC streams of the rows, one after another. */
  arrow: Uint8Array;
  /** Bytes of each stream in `arrow`, in row order. */
  parts: number[];
}

/** A table's definition and size, the part of a capture that must see one moment. */
export interface TableShape {
  /** Table name. */
  table: string;
  /** Its definition. */
  def: TableDef;
  /** Rows now. */
  size: number;
}

/** Reads a table's definition and size. */
export async function describeTable(host: EngineHost, name: string): Promise<TableShape> {
  const info = await host.describeTable(name);
  if (!info) throw new Error(`no table named ${JSON.stringify(name)} to capture`);
  const { schema, index, limit, size } = info;
  return { table: name, def: { schema, index, limit }, size };
}

/**
 * Captures the first `shape.size` rows of a table in the engine's row order.
 * For a table that only appends (no index, no limit) those rows do not
 * change as later batches arrive, so this may run while ingest goes on;
 * any other table must not be written meanwhile (see `OrderedLog.paused`).
 */
export async function captureRows(
  host: EngineHost,
  shape: TableShape,
  windowRows = windowRowsFor(Object.keys(shape.def.schema).length),
): Promise<Capture> {
  const table = await host.table(shape.table);
  if (!table) throw new Error(`no table named ${JSON.stringify(shape.table)} to capture`);
  // The engine holds a view of every row while it is read out, which a big
  // table may not have room for: a refused snapshot leaves the log to keep
  // every record until one fits, where a view past the engine's ceiling
  // would stall the engine.
  const { size } = shape;
  using _room = await host.memory.admit(
    viewCost(size) + size * Object.keys(shape.def.schema).length * 8,
    `a snapshot of table ${JSON.stringify(shape.table)} (${size} rows)`,
    true,
  );
  const view = await table.view();
  try {
    const windows: Uint8Array[] = [];
    for (const w of rowWindows(size, windowRows)) {
      windows.push(new Uint8Array(await view.to_arrow({ start_row: w.start, end_row: w.end })));
    }
    return {
      table: shape.table,
      def: shape.def,
      rows: size,
      arrow: concatBytes(windows),
      parts: windows.map((w) => w.byteLength),
    };
  } finally {
    await view.delete().catch(() => {});
  }
}

/**
 * Captures a whole table. The caller makes sure no batch for it is staged
 * while this runs (see `OrderedLog.paused`).
 */
export async function captureTable(host: EngineHost, name: string): Promise<Capture> {
  return await captureRows(host, await describeTable(host, name));
}

/** Whether a table only ever appends, so its first rows never change. */
export function appendOnly(def: TableDef): boolean {
  return def.index === null && def.limit === null;
}

/** Creates a table from a snapshot's definition and loads its rows. */
export async function restoreTable(
  host: EngineHost,
  manifest: Manifest,
  arrow: Uint8Array,
): Promise<void> {
  const table = await host.createTable(
    manifest.table,
    Object.fromEntries(manifest.columns) as Schema,
    {
      ...(manifest.index !== null ? { index: manifest.index } : {}),
      ...(manifest.limit !== null ? { limit: manifest.limit } : {}),
    },
  );
  if (manifest.rows === 0) return;
  const options = { format: "arrow" } as Parameters<typeof table.update>[1];
  let at = 0;
  for (const length of manifest.parts ?? [arrow.byteLength]) {
    // In order: a limit table's rows keep their order, so its rollover too.
    await table.update(arrow.slice(at, at + length).buffer, options);
    at += length;
  }
}

/**
 * Checks a manifest's version and that its parts add up to its data.
 *
 * @throws {Error} naming `where` when they do not.
 */
export function checkManifest(manifest: Manifest, where: string): void {
  if (manifest.version !== 1 && manifest.version !== 2) {
    throw new Error(`${where}: unknown manifest version ${manifest.version}`);
  }
  if (manifest.version === 1) return;
  const parts = manifest.parts;
  if (
    !Array.isArray(parts) || parts.length === 0 ||
    parts.some((n) => !Number.isInteger(n) || n <= 0) ||
    parts.reduce((a, b) => a + b, 0) !== manifest.bytes
  ) {
    throw new Error(`${where}: the manifest's parts do not add up to its ${manifest.bytes} bytes`);
  }
}

/** A file-system-safe name for a table's files: readable prefix plus a hash. */
export async function fileStem(table: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(table)),
  );
  const hex = [...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const readable = table.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 40);
  return `${readable}-${hex}`;
}

/**
 * Writes a capture as `<stem>-<seq>.arrow` and `<stem>-<seq>.json` in
 * `dir`, both synced; the caller syncs the directory.
 */
export async function writeSnapshot(
  fs: StorageFs,
  dir: string,
  capture: Capture,
  seq: number,
): Promise<{ manifest: Manifest; manifestFile: string }> {
  const stem = `${await fileStem(capture.table)}-${seq}`;
  const manifest: Manifest = {
    version: 2,
    table: capture.table,
    seq,
    columns: Object.entries(capture.def.schema),
    index: capture.def.index,
    limit: capture.def.limit,
    rows: capture.rows,
    file: `${stem}.arrow`,
    bytes: capture.arrow.byteLength,
    crc32c: crc32c(capture.arrow),
    parts: capture.parts,
  };
  await fs.writeFileSynced(join(dir, manifest.file), capture.arrow);
  const manifestFile = `${stem}.json`;
  await fs.writeFileSynced(
    join(dir, manifestFile),
    new TextEncoder().encode(JSON.stringify(manifest)),
  );
  return { manifest, manifestFile };
}

/**
 * Reads a manifest and its data file, checking the checksum.
 *
 * @throws {Error} naming the file when either is missing or damaged.
 */
export async function readSnapshot(
  fs: StorageFs,
  dir: string,
  manifestFile: string,
): Promise<{ manifest: Manifest; arrow: Uint8Array }> {
  const path = join(dir, manifestFile);
  const manifest = JSON.parse(new TextDecoder().decode(await fs.readFile(path))) as Manifest;
  checkManifest(manifest, path);
  const arrow = await fs.readFile(join(dir, manifest.file));
  if (arrow.byteLength !== manifest.bytes || crc32c(arrow) !== manifest.crc32c) {
    throw new Error(`${join(dir, manifest.file)}: checksum mismatch`);
  }
  return { manifest, arrow };
}
