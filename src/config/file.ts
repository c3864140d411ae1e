/**
 * The optional JSON config file: tables created at start-up, ingest sources
 * (built-in name or module path, with options), ingest limits and switches,
 * and the `security` section (read by the security part). Bad configuration
 * throws a {@linkcode ConfigError} naming the field.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { ConfigError } from "./env.ts";
import type { TableDef } from "../ingest/batch.ts";
import { DefinitionError, parseTableDef } from "../ingest/table_def.ts";
import { DEFAULT_INGEST_LIMITS, type IngestLimits } from "../ingest/limits.ts";
import { isRecord, parseJson } from "../ingest/json_safe.ts";
import { IngestError } from "../ingest/batch.ts";
import { checkViewerLayout, LayoutError } from "../storage/dashboards_validate.ts";

/** A table created at start-up. */
export interface TableConfig extends TableDef {
  /** Table name. */
  name: string;
  /** The table's default viewer layout (a `<perspective-viewer>` `save()` token). */
  layout?: Record<string, unknown>;
}

/** An ingest source to start. */
export interface SourceConfig {
  /** Name for logs and events. @default the `use` value */
  name: string;
  /** A built-in source name, or a module path relative to the config file. */
  use: string;
  /** Options handed to the source's factory. */
  options: Record<string, unknown>;
}

/** The parsed config file. */
export interface FileConfig {
  /** Tables to create at start-up. */
  tables: TableConfig[];
  /** Sources to start. */
  sources: SourceConfig[];
  /** Ingest limits set by the file. */
  limits: Partial<IngestLimits>;
  /** Whether `POST .../rows` creates unknown tables. @default true */
  autoCreate: boolean;
  /** The `security` section, unparsed; the security part reads it. */
  security: Record<string, unknown>;
  /** Directory that relative module paths resolve against. */
  baseDir: string;
}

const TOP_KEYS = ["tables", "sources", "limits", "ingest", "security"];

/** Largest config file read. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * Reads and parses the config file at `path`.
 *
 * @throws {ConfigError} naming the file or the field at fault.
 */
export async function readConfigFile(path: string): Promise<FileConfig> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw new ConfigError("CONFIG", `cannot read ${path}: ${(err as Error).name}`);
  }
  if (bytes.byteLength > MAX_CONFIG_BYTES) {
    throw new ConfigError("CONFIG", `${path} is larger than ${MAX_CONFIG_BYTES} bytes`);
  }
  let doc: unknown;
  try {
    doc = parseJson(bytes, 64);
  } catch (err) {
    throw new ConfigError("CONFIG", `${path}: ${(err as IngestError).message}`);
  }
  return parseConfig(doc, dirname(resolve(path)));
}

/**
 * Validates a parsed config document.
 *
 * @param baseDir Where relative source module paths resolve.
 * @throws {ConfigError} naming the first bad field, e.g. `tables[1].schema.price`.
 */
export function parseConfig(doc: unknown, baseDir: string): FileConfig {
  if (!isRecord(doc)) throw new ConfigError("config", "expected a JSON object");
  for (const key of Object.keys(doc)) {
    if (!TOP_KEYS.includes(key)) {
      throw new ConfigError(key, `unknown field; expected one of ${TOP_KEYS.join(", ")}`);
    }
  }
  return {
    tables: parseTables(doc.tables),
    sources: parseSources(doc.sources),
    limits: parseLimits(doc.limits),
    autoCreate: parseIngest(doc.ingest),
    security: parseSecurity(doc.security),
    baseDir,
  };
}

function list(value: unknown, field: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new ConfigError(field, "expected an array");
  return value;
}

function parseTables(value: unknown): TableConfig[] {
  const names = new Set<string>();
  return list(value, "tables").map((item, i) => {
    const at = `tables[${i}]`;
    if (!isRecord(item)) throw new ConfigError(at, "expected an object");
    const name = item.name;
    if (typeof name !== "string" || name === "" || name.length > 255) {
      throw new ConfigError(`${at}.name`, "expected a table name of 1 to 255 characters");
    }
    if (names.has(name)) throw new ConfigError(`${at}.name`, `table ${name} is listed twice`);
    names.add(name);
    try {
      const def: TableConfig = { name, ...parseTableDef(item, `${at}.`, ["name", "layout"]) };
      if (item.layout !== undefined) {
        checkViewerLayout(item.layout, `${at}.layout`);
        def.layout = item.layout as Record<string, unknown>;
      }
      return def;
    } catch (err) {
      if (err instanceof DefinitionError || err instanceof LayoutError) {
        throw new ConfigError(err.field, err.message.slice(err.field.length + 2));
      }
      throw err;
    }
  });
}

function parseSources(value: unknown): SourceConfig[] {
  const names = new Set<string>();
  return list(value, "sources").map((item, i) => {
    const at = `sources[${i}]`;
    if (!isRecord(item)) throw new ConfigError(at, "expected an object");
    for (const key of Object.keys(item)) {
      if (!["name", "use", "options"].includes(key)) {
        throw new ConfigError(`${at}.${key}`, "unknown field; expected name, use or options");
      }
    }
    if (typeof item.use !== "string" || item.use === "") {
      throw new ConfigError(`${at}.use`, "expected a built-in source name or a module path");
    }
    const name = item.name ?? item.use;
    if (typeof name !== "string" || name === "") {
      throw new ConfigError(`${at}.name`, "expected a string");
    }
    if (names.has(name)) throw new ConfigError(`${at}.name`, `source ${name} is listed twice`);
    names.add(name);
    const options = item.options ?? {};
    if (!isRecord(options)) throw new ConfigError(`${at}.options`, "expected an object");
    return { name, use: item.use, options };
  });
}

function parseLimits(value: unknown): Partial<IngestLimits> {
  if (value === undefined) return {};
  if (!isRecord(value)) throw new ConfigError("limits", "expected an object");
  const out: Partial<IngestLimits> = {};
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(DEFAULT_INGEST_LIMITS, key)) {
      throw new ConfigError(
        `limits.${key}`,
        `unknown limit; expected ${Object.keys(DEFAULT_INGEST_LIMITS).join(", ")}`,
      );
    }
    const n = value[key];
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
      throw new ConfigError(`limits.${key}`, "expected a positive integer");
    }
    out[key as keyof IngestLimits] = n;
  }
  return out;
}

function parseIngest(value: unknown): boolean {
  if (value === undefined) return true;
  if (!isRecord(value)) throw new ConfigError("ingest", "expected an object");
  for (const key of Object.keys(value)) {
    if (key !== "autoCreate") {
      throw new ConfigError(`ingest.${key}`, "unknown field; expected autoCreate");
    }
  }
  if (value.autoCreate === undefined) return true;
  if (typeof value.autoCreate !== "boolean") {
    throw new ConfigError("ingest.autoCreate", "expected true or false");
  }
  return value.autoCreate;
}

function parseSecurity(value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isRecord(value)) throw new ConfigError("security", "expected an object");
  return value;
}

/**
 * The config file path from `--config PATH`, `--config=PATH` or the
 * `CONFIG` variable; undefined when neither is given.
 *
 * @throws {ConfigError} for `--config` without a value.
 */
export function configPath(
  args: readonly string[],
  env: (name: string) => string | undefined,
): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--config") {
      const v = args[i + 1];
      if (!v || v.startsWith("--")) throw new ConfigError("--config", "expected a file path");
      return v;
    }
    if (args[i].startsWith("--config=")) {
      const v = args[i].slice("--config=".length);
      if (!v) throw new ConfigError("--config", "expected a file path");
      return v;
    }
  }
  const fromEnv = env("CONFIG");
  return fromEnv === undefined || fromEnv === "" ? undefined : fromEnv;
}
