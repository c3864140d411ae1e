/**
 * Security settings from the environment and the config file's `security`
 * section. Bad values stop start-up with a message naming the field.
 *
 * @module
 */

import { ConfigError, parseBool } from "../config/env.ts";
import { parseTokenList, toEntry, type TokenEntry, type TokenSpec } from "./tokens.ts";

/** Limits enforced by the security layer. Each one has its own response. */
export interface SecurityLimits {
  /** Open WebSocket sessions in total; past it, upgrades get 503. @default 1000 */
  maxConnections: number;
  /** Open WebSocket sessions per client address; past it, upgrades get 429. @default 64 */
  maxConnectionsPerAddress: number;
  /** Largest inbound WebSocket message; a bigger one closes the socket with 1009. @default 16777216 */
  maxMessageBytes: number;
  /** Tables one WebSocket session may create; more are refused in the protocol. @default 16 */
  maxTablesPerSession: number;
  /** Views one WebSocket session may hold open; more are refused in the protocol. @default 256 */
  maxViewsPerSession: number;
  /** Sustained ingest requests per second per token (per address when open). @default 50 */
  ingestRequestsPerSecond: number;
  /** Ingest requests allowed in a burst above the sustained rate. @default 100 */
  ingestBurst: number;
}

/** The default limits. */
export const DEFAULT_LIMITS: Readonly<SecurityLimits> = {
  maxConnections: 1000,
  maxConnectionsPerAddress: 64,
  maxMessageBytes: 16 * 1024 * 1024,
  maxTablesPerSession: 16,
  maxViewsPerSession: 256,
  ingestRequestsPerSecond: 50,
  ingestBurst: 100,
};

/** Resolved security settings. */
export interface SecurityConfig {
  /** Hashed tokens; empty means open development mode. */
  tokens: TokenEntry[];
  /** Origins allowed besides the service's own, e.g. `https://dash.example.com`; `*` allows any. @default [] */
  allowedOrigins: string[];
  /** Refuse WebSocket upgrades that carry no Origin header. @default false */
  requireOrigin: boolean;
  /** With no tokens, let WebSocket sessions create, change and delete tables. @default false */
  allowEdit: boolean;
  /** With no tokens, allow binding to a non-loopback address. @default false */
  allowInsecure: boolean;
  /** Name of the cookie that may carry a token. @default "perspective_token" */
  cookieName: string;
  /** Limits. */
  limits: SecurityLimits;
}

/** The config file's `security` section, as JSON. */
export interface SecuritySection {
  /** Tokens, plain or `sha256:` hashed. */
  tokens?: TokenSpec[];
  /** See {@linkcode SecurityConfig.allowedOrigins}. */
  allowedOrigins?: string[];
  /** See {@linkcode SecurityConfig.requireOrigin}. */
  requireOrigin?: boolean;
  /** See {@linkcode SecurityConfig.allowEdit}. */
  allowEdit?: boolean;
  /** See {@linkcode SecurityConfig.allowInsecure}. */
  allowInsecure?: boolean;
  /** See {@linkcode SecurityConfig.cookieName}. */
  cookieName?: string;
  /** See {@linkcode SecurityLimits}. */
  limits?: Partial<SecurityLimits>;
}

/** Environment variables this module reads. */
export const SECURITY_ENV_VARS = [
  "TOKENS",
  "TOKENS_FILE",
  "ALLOWED_ORIGINS",
  "REQUIRE_ORIGIN",
  "ALLOW_EDIT",
  "ALLOW_INSECURE",
  "MAX_CONNECTIONS",
  "MAX_CONNECTIONS_PER_ADDRESS",
  "MAX_WS_MESSAGE_BYTES",
  "MAX_TABLES_PER_SESSION",
  "MAX_VIEWS_PER_SESSION",
  "INGEST_RPS",
  "INGEST_BURST",
] as const;

const LIMIT_VARS: Record<keyof SecurityLimits, string> = {
  maxConnections: "MAX_CONNECTIONS",
  maxConnectionsPerAddress: "MAX_CONNECTIONS_PER_ADDRESS",
  maxMessageBytes: "MAX_WS_MESSAGE_BYTES",
  maxTablesPerSession: "MAX_TABLES_PER_SESSION",
  maxViewsPerSession: "MAX_VIEWS_PER_SESSION",
  ingestRequestsPerSecond: "INGEST_RPS",
  ingestBurst: "INGEST_BURST",
};

/**
 * Reads security settings. Environment variables win over the file section;
 * tokens from `TOKENS`, `TOKENS_FILE` and the file section are all accepted.
 *
 * @param env Variable lookup, e.g. `(k) => Deno.env.get(k)`.
 * @param section The config file's `security` object, if any.
 * @param readFile Reads `TOKENS_FILE`. @default Deno.readTextFileSync
 * @throws {ConfigError} naming the first bad field.
 */
export async function readSecurityConfig(
  env: (name: string) => string | undefined,
  section: SecuritySection = {},
  readFile: (path: string) => string = Deno.readTextFileSync,
): Promise<SecurityConfig> {
  if (typeof section !== "object" || section === null || Array.isArray(section)) {
    throw new ConfigError("security", "must be an object");
  }
  const specs: [TokenSpec, string][] = [];
  const fromEnv = env("TOKENS");
  if (fromEnv) parseTokenList(fromEnv, "TOKENS").forEach((s, i) => specs.push([s, `TOKENS[${i}]`]));
  const file = env("TOKENS_FILE");
  if (file) {
    let text: string;
    try {
      text = readFile(file);
    } catch (err) {
      throw new ConfigError("TOKENS_FILE", `cannot read ${file}: ${(err as Error).name}`);
    }
    parseTokenList(text, "TOKENS_FILE").forEach((s, i) => specs.push([s, `TOKENS_FILE[${i}]`]));
  }
  if (section.tokens !== undefined) {
    if (!Array.isArray(section.tokens)) {
      throw new ConfigError("security.tokens", "must be an array");
    }
    section.tokens.forEach((s, i) => specs.push([s, `security.tokens[${i}]`]));
  }
  const tokens: TokenEntry[] = [];
  for (const [i, [spec, field]] of specs.entries()) {
    const entry = await toEntry(spec, field, i + 1);
    if (tokens.some((t) => t.name === entry.name)) {
      throw new ConfigError(field, `duplicate token name ${entry.name}`);
    }
    tokens.push(entry);
  }
  const limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(LIMIT_VARS) as (keyof SecurityLimits)[]) {
    const fileValue = section.limits?.[key];
    if (fileValue !== undefined) limits[key] = positiveInt(`security.limits.${key}`, fileValue);
    const raw = env(LIMIT_VARS[key]);
    if (raw !== undefined && raw !== "") limits[key] = positiveInt(LIMIT_VARS[key], raw);
  }
  const origins = env("ALLOWED_ORIGINS");
  return {
    tokens,
    allowedOrigins: origins
      ? parseOrigins(origins.split(",").map((o) => o.trim()).filter(Boolean), "ALLOWED_ORIGINS")
      : parseOrigins(section.allowedOrigins ?? [], "security.allowedOrigins"),
    requireOrigin: flag(env, "REQUIRE_ORIGIN", section.requireOrigin, "security.requireOrigin"),
    allowEdit: flag(env, "ALLOW_EDIT", section.allowEdit, "security.allowEdit"),
    allowInsecure: flag(env, "ALLOW_INSECURE", section.allowInsecure, "security.allowInsecure"),
    cookieName: cookieName(section.cookieName),
    limits,
  };
}

/** Settings for tests and embedders: open mode and default limits, overridden by `overrides`. */
export function securityConfig(overrides: Partial<SecurityConfig> = {}): SecurityConfig {
  return {
    tokens: [],
    allowedOrigins: [],
    requireOrigin: false,
    allowEdit: false,
    allowInsecure: false,
    cookieName: "perspective_token",
    ...overrides,
    limits: { ...DEFAULT_LIMITS, ...overrides.limits },
  };
}

/** True for addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) ||
    h === "::ffff:127.0.0.1";
}

/**
 * Refuses to serve an open (token-less) service on a reachable address
 * unless the operator opted in.
 *
 * @throws {ConfigError} naming `ALLOW_INSECURE`.
 */
export function checkBinding(host: string, config: SecurityConfig): void {
  if (config.tokens.length > 0 || config.allowInsecure || isLoopback(host)) return;
  throw new ConfigError(
    "ALLOW_INSECURE",
    `HOST=${host} is reachable from other machines but no TOKENS are configured; ` +
      "configure TOKENS or TOKENS_FILE, or set ALLOW_INSECURE=1 to serve without authentication",
  );
}

function positiveInt(field: string, raw: unknown): number {
  const n = typeof raw === "number" ? raw : /^\d+$/.test(String(raw)) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new ConfigError(field, `expected a positive integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function flag(
  env: (name: string) => string | undefined,
  name: string,
  fileValue: unknown,
  fileField: string,
): boolean {
  if (fileValue !== undefined && typeof fileValue !== "boolean") {
    throw new ConfigError(fileField, "expected true or false");
  }
  return parseBool(name, env(name), fileValue ?? false);
}

function parseOrigins(list: unknown, field: string): string[] {
  if (!Array.isArray(list)) throw new ConfigError(field, "must be a list of origins");
  return list.map((o) => {
    if (o === "*") return o;
    let url: URL;
    try {
      url = new URL(String(o));
    } catch {
      throw new ConfigError(field, `not an origin: ${JSON.stringify(o)}`);
    }
    if (url.origin === "null" || url.origin !== String(o).replace(/\/$/, "")) {
      throw new ConfigError(field, `expected scheme://host[:port], got ${JSON.stringify(o)}`);
    }
    return url.origin;
  });
}

function cookieName(raw: unknown): string {
  if (raw === undefined) return "perspective_token";
  if (typeof raw !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(raw)) {
    throw new ConfigError("security.cookieName", "expected 1-64 letters, digits, - or _");
  }
  return raw;
}
