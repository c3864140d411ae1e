/**
 * Reads the service's settings from environment variables.
 *
 * @module
 */

import { isLogLevel, type LogLevel } from "../ops/log.ts";
import { parseEngineMemory } from "./bytes.ts";

/** Settings that come from the environment. */
export interface EnvConfig {
  /** Interface to bind. @default "127.0.0.1" */
  host: string;
  /** TCP port; 0 picks a free one. @default 8080 */
  port: number;
  /** Prefix for every route, without a trailing slash, e.g. `/user/alice/proxy/8080`. @default "" */
  basePath: string;
  /** Minimum log level. @default "info" */
  logLevel: LogLevel;
  /** Whether the embedded demo table streams from start-up. @default true */
  demo: boolean;
  /** Seconds a graceful shutdown may take before the process exits anyway. @default 10 */
  drainSeconds: number;
  /** Most engine polls, so notifications per viewer, a second (conflation). @default 20 */
  maxUpdateRate: number;
  /** Viewers opening identical views share one engine view. @default true */
  shareViews: boolean;
  /** The engine runs in a Worker, off the thread serving requests. @default true */
  engineWorker: boolean;
  /** Engine memory budget in bytes (`MAX_ENGINE_MEMORY`); unset means the default. */
  maxEngineMemory?: number;
  /**
   * Where durable tables live; empty keeps everything in memory only.
   * `DATA_DIR`. @default "./data"
   */
  dataDir: string;
  /**
   * `group`: a batch is acknowledged once its record is synced (one
   * `fdatasync` for every record waiting); `none`: once written, leaving the
   * sync to the OS (a crash of the machine, not of the process, can lose
   * acknowledged batches). `WAL_SYNC`. @default "group"
   */
  walSync: "group" | "none";
  /** Log bytes after which a checkpoint is taken. `CHECKPOINT_MB` × 2^20. @default 256 MiB */
  checkpointBytes: number;
  /** Seconds after a change by which a checkpoint is taken. `CHECKPOINT_SECONDS`. @default 300 */
  checkpointSeconds: number;
  /**
   * The shared batch log on Redis (`redis://` or `rediss://` for TLS, with
   * any password in the URL); replicas then share tables and `DATA_DIR` is
   * not used. `REDIS_URL`. @default "" (no Redis)
   */
  redisUrl: string;
}

/** Thrown for a bad setting; the message names the variable. */
export class ConfigError extends Error {
  /** @param field The variable or config field at fault. @param detail What is wrong with it. */
  constructor(readonly field: string, detail: string) {
    super(`${field}: ${detail}`);
    this.name = "ConfigError";
  }
}

/** The variables this module reads, for permission lists and docs. */
export const ENV_VARS = [
  "HOST",
  "PORT",
  "BASE_PATH",
  "LOG_LEVEL",
  "DEMO",
  "DRAIN_SECONDS",
  "MAX_UPDATE_RATE",
  "SHARE_VIEWS",
  "ENGINE_WORKER",
  "MAX_ENGINE_MEMORY",
  "DATA_DIR",
  "WAL_SYNC",
  "CHECKPOINT_MB",
  "CHECKPOINT_SECONDS",
  "REDIS_URL",
] as const;

/**
 * Parses environment variables into an {@linkcode EnvConfig}.
 *
 * @param env Variable lookup, e.g. `(k) => Deno.env.get(k)`.
 * @throws {ConfigError} naming the first bad variable.
 */
export function readEnvConfig(env: (name: string) => string | undefined): EnvConfig {
  return {
    host: parseHost(env("HOST")),
    port: parsePort(env("PORT")),
    basePath: normalizeBasePath(env("BASE_PATH") ?? ""),
    logLevel: parseLogLevel(env("LOG_LEVEL")),
    demo: parseBool("DEMO", env("DEMO"), true),
    drainSeconds: parseDrainSeconds(env("DRAIN_SECONDS")),
    maxUpdateRate: parseMaxUpdateRate(env("MAX_UPDATE_RATE")),
    shareViews: parseBool("SHARE_VIEWS", env("SHARE_VIEWS"), true),
    engineWorker: parseBool("ENGINE_WORKER", env("ENGINE_WORKER"), true),
    maxEngineMemory: parseEngineMemory("MAX_ENGINE_MEMORY", env("MAX_ENGINE_MEMORY")),
    dataDir: env("DATA_DIR") ?? "./data",
    walSync: parseWalSync(env("WAL_SYNC")),
    checkpointBytes: parseNumber("CHECKPOINT_MB", env("CHECKPOINT_MB"), 256, 1, 1 << 20) *
      1024 * 1024,
    checkpointSeconds: parseNumber("CHECKPOINT_SECONDS", env("CHECKPOINT_SECONDS"), 300, 1, 86400),
    redisUrl: parseRedisUrl(env("REDIS_URL")),
  };
}

function parseRedisUrl(raw: string | undefined): string {
  if (raw === undefined || raw === "") return "";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError("REDIS_URL", "expected a URL like redis://host:6379/0");
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new ConfigError("REDIS_URL", `expected redis:// or rediss://, got ${url.protocol}//`);
  }
  return raw;
}

function parseWalSync(raw: string | undefined): "group" | "none" {
  if (raw === undefined || raw === "") return "group";
  if (raw !== "group" && raw !== "none") {
    throw new ConfigError("WAL_SYNC", `expected group or none, got ${raw}`);
  }
  return raw;
}

function parseNumber(
  name: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || n < min || n > max) {
    throw new ConfigError(name, `expected a number from ${min} to ${max}, got ${raw}`);
  }
  return n;
}

function parseHost(raw: string | undefined): string {
  if (raw === undefined || raw === "") return "127.0.0.1";
  if (/[\s/]/.test(raw)) throw new ConfigError("HOST", `not a host name or address: ${raw}`);
  return raw;
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 8080;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) {
    throw new ConfigError("PORT", `expected an integer from 0 to 65535, got ${raw}`);
  }
  return port;
}

function parseDrainSeconds(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 10;
  const seconds = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || seconds <= 0 || seconds > 3600) {
    throw new ConfigError("DRAIN_SECONDS", `expected seconds above 0 and at most 3600, got ${raw}`);
  }
  return seconds;
}

function parseMaxUpdateRate(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 20;
  const rate = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || rate <= 0 || rate > 1000) {
    throw new ConfigError(
      "MAX_UPDATE_RATE",
      `expected updates a second above 0 and at most 1000, got ${raw}`,
    );
  }
  return rate;
}

function parseLogLevel(raw: string | undefined): LogLevel {
  if (raw === undefined || raw === "") return "info";
  const level = raw.toLowerCase();
  if (!isLogLevel(level)) {
    throw new ConfigError("LOG_LEVEL", `expected debug, info, warn or error, got ${raw}`);
  }
  return level;
}

/**
 * Parses a boolean variable: 1/true/yes/on or 0/false/no/off.
 *
 * @param name Variable name, for the error message.
 * @param raw The raw value, if set.
 * @param fallback Value when unset or empty.
 */
export function parseBool(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw === "") return fallback;
  const v = raw.toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new ConfigError(name, `expected 1/0, true/false, yes/no or on/off, got ${raw}`);
}

/**
 * Normalizes a base path to `""` or `/segment[/segment...]` with no trailing slash.
 *
 * @throws {ConfigError} for characters that cannot appear in a path prefix.
 */
export function normalizeBasePath(raw: string): string {
  const trimmed = raw.trim().replace(/\/+$/, "");
  if (trimmed === "") return "";
  const path = trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
  if (!/^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/.test(path) || /\/\.\.?(\/|$)/.test(path)) {
    throw new ConfigError("BASE_PATH", `not a URL path prefix: ${raw}`);
  }
  return path;
}
