/**
 * The `directory` source: a spool directory that other processes drop
 * files into (write under a temporary name, then rename). Each complete
 * file is one batch: `.arrow`/`.arrows` (Arrow IPC), `.csv`, `.ndjson`/
 * `.jsonl`, `.json`. Applied files move to `done/` (or are deleted); refused
 * ones move to `failed/` with a `.error.json` beside them saying why.
 *
 * Options: `path` (required), `table` (default: the file name up to its
 * first dot), `op` (`update` or `replace`), `index` and `limit` (for tables
 * the first file creates), `intervalMs` (scan period, default 500),
 * `after` (`move` or `delete`, default `move`), `maxFileBytes`.
 *
 * @module
 */

import { basename, isAbsolute, join, resolve } from "node:path";
import type { BatchFormat, CreateOptions } from "../batch.ts";
import { IngestError } from "../batch.ts";
import { limits } from "../limits.ts";
import type { SourceContext } from "../source.ts";
import { sleep } from "../sleep.ts";

const FORMATS: Record<string, BatchFormat> = {
  ".arrow": "arrow",
  ".arrows": "arrow",
  ".feather": "arrow",
  ".csv": "csv",
  ".ndjson": "ndjson",
  ".jsonl": "ndjson",
  ".json": "json",
};

/** Parsed options of the directory source. */
export interface DirectoryOptions {
  /** The spool directory. */
  path: string;
  /** Fixed target table; by default the file name up to its first dot. */
  table?: string;
  /** Operation for each file. */
  op: "update" | "replace";
  /** How tables created by a first file are made. */
  create: CreateOptions;
  /** Scan period in ms. */
  intervalMs: number;
  /** What happens to applied files. */
  after: "move" | "delete";
  /** Larger files are refused. */
  maxFileBytes: number;
}

/**
 * Validates the source's options.
 *
 * @throws {Error} naming the bad option.
 */
export function directoryOptions(raw: Record<string, unknown>, baseDir: string): DirectoryOptions {
  const bad = (name: string, what: string) => new Error(`options.${name}: ${what}`);
  if (typeof raw.path !== "string" || raw.path === "") {
    throw bad("path", "expected a directory path");
  }
  if (raw.table !== undefined && (typeof raw.table !== "string" || raw.table === "")) {
    throw bad("table", "expected a table name");
  }
  const op = raw.op ?? "update";
  if (op !== "update" && op !== "replace") throw bad("op", "expected update or replace");
  const after = raw.after ?? "move";
  if (after !== "move" && after !== "delete") throw bad("after", "expected move or delete");
  const intervalMs = raw.intervalMs ?? 500;
  if (typeof intervalMs !== "number" || !(intervalMs >= 10)) {
    throw bad("intervalMs", "expected a number of at least 10");
  }
  const maxFileBytes = raw.maxFileBytes ?? limits.maxDecodedBytes;
  if (typeof maxFileBytes !== "number" || !(maxFileBytes > 0)) {
    throw bad("maxFileBytes", "expected a positive number");
  }
  const create: CreateOptions = {};
  if (raw.index !== undefined) {
    if (typeof raw.index !== "string") throw bad("index", "expected a column name");
    create.index = raw.index;
  }
  if (raw.limit !== undefined) {
    if (typeof raw.limit !== "number" || !Number.isInteger(raw.limit) || raw.limit < 1) {
      throw bad("limit", "expected a positive integer");
    }
    create.limit = raw.limit;
  }
  return {
    path: isAbsolute(raw.path) ? raw.path : resolve(baseDir, raw.path),
    table: raw.table as string | undefined,
    op,
    create,
    intervalMs,
    after,
    maxFileBytes,
  };
}

/** The batch format for a file name, or undefined for files the source ignores. */
export function fileFormat(name: string): BatchFormat | undefined {
  if (name.startsWith(".")) return undefined;
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return undefined;
  const ext = name.slice(dot).toLowerCase();
  return Object.hasOwn(FORMATS, ext) ? FORMATS[ext] : undefined;
}

/**
 * Vets the options and the permissions the source needs (read and write on
 * the spool, since it moves files) before any source starts, so a service
 * started without them stops with the flag to add instead of running
 * without its source.
 *
 * @throws {Error} naming the option at fault.
 */
export async function check(
  raw: Record<string, unknown>,
  ctx: Pick<SourceContext, "baseDir">,
): Promise<void> {
  const { path } = directoryOptions(raw, ctx.baseDir);
  const missing: string[] = [];
  for (const name of ["read", "write"] as const) {
    if ((await Deno.permissions.query({ name, path })).state !== "granted") missing.push(name);
  }
  if (missing.length > 0) {
    throw new Error(
      `options.path: the directory source needs ${missing.join(" and ")} access to ${path}; ` +
        `run with ${missing.map((m) => `--allow-${m}=${path}`).join(" ")}`,
    );
  }
}

/** Runs the directory source until `ctx.signal` aborts. */
export default async function directorySource(
  raw: Record<string, unknown>,
  ctx: SourceContext,
): Promise<void> {
  const opts = directoryOptions(raw, ctx.baseDir);
  await Deno.mkdir(opts.path, { recursive: true });
  while (!ctx.signal.aborted) {
    try {
      await scanOnce(opts, ctx);
    } catch (err) {
      ctx.log.warn("directory scan failed", { source: ctx.name, error: err });
    }
    await sleep(opts.intervalMs, ctx.signal);
  }
}

/** Processes every complete file in the directory once, in name order. */
export async function scanOnce(opts: DirectoryOptions, ctx: SourceContext): Promise<number> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(opts.path)) {
    if (entry.isFile && fileFormat(entry.name)) names.push(entry.name);
  }
  names.sort();
  let applied = 0;
  for (const name of names) {
    if (ctx.signal.aborted) break;
    if (await processFile(join(opts.path, name), opts, ctx)) applied++;
  }
  return applied;
}

async function processFile(
  file: string,
  opts: DirectoryOptions,
  ctx: SourceContext,
): Promise<boolean> {
  const name = basename(file);
  const format = fileFormat(name)!;
  const table = opts.table ?? name.slice(0, name.indexOf("."));
  try {
    const info = await Deno.stat(file);
    if (info.size > opts.maxFileBytes) {
      throw new IngestError(413, `file is larger than ${opts.maxFileBytes} bytes`);
    }
    const bytes = await Deno.readFile(file);
    const result = await ctx.sink.submit(
      { table, op: opts.op, format, bytes, create: opts.create, owned: true },
      ctx.name,
    );
    ctx.log.debug("file applied", { source: ctx.name, file: name, ...result });
    if (opts.after === "delete") await Deno.remove(file);
    else await moveTo(file, join(opts.path, "done"));
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    // Cut off by shutdown, not refused: the file stays for the next start.
    if (ctx.signal.aborted && !(err instanceof IngestError && err.status < 500)) return false;
    const status = err instanceof IngestError ? err.status : 500;
    const detail = err instanceof Error ? err.message : String(err);
    ctx.log.warn("file refused", { source: ctx.name, file: name, status, detail });
    const failed = join(opts.path, "failed");
    await moveTo(file, failed);
    await Deno.writeTextFile(
      join(failed, `${name}.error.json`),
      JSON.stringify({ file: name, table, status, detail }, null, 2) + "\n",
    );
    return false;
  }
}

async function moveTo(file: string, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.rename(file, join(dir, basename(file)));
}
