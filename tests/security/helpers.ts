/**
 * Shared set-up for the security tests: a service with tokens, a capturing
 * logger, raw upgrade requests and WebSocket helpers.
 *
 * @module
 */

import { type Service, startService } from "../../src/service.ts";
import { createLogger, type Logger } from "../../src/ops/log.ts";
import {
  readSecurityConfig,
  type SecurityConfig,
  type SecurityLimits,
} from "../../src/security/mod.ts";
import { websocketUrl } from "../support/service.ts";
import type { Route } from "../../src/server/router.ts";

/** Read on every table. */
export const READER = "reader-token-6b1f0c3e9a7d4e21";
/** Read on `public_*` only. */
export const PUBLIC_READER = "public-reader-token-51d2a8ff";
/** Read everywhere, write on `sales_*`. */
export const WRITER = "writer-token-2c9e77d04b1a5f63";
/** Every scope on every table; configured by its hash only. */
export const ADMIN = "admin-token-93f4e0b8c6d2a175";
/** Write on `sales_*` and nothing else. */
export const INGESTER = "ingest-only-token-0d7e4c1b9a";
/** Never configured. */
export const STRANGER = "stranger-token-7777777777777777";

/** Every token the tests present, for the log check. */
export const ALL_TOKENS = [READER, PUBLIC_READER, WRITER, ADMIN, INGESTER, STRANGER];

async function hex(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The `TOKENS` value for the test tokens, the admin one as `sha256:`. */
export async function tokensEnv(): Promise<string> {
  return [
    `${READER}=read`,
    `${PUBLIC_READER}=read:public_*`,
    `${WRITER}=read,write:sales_*`,
    `sha256:${await hex(ADMIN)}=read,write,admin`,
    `${INGESTER}=write:sales_*`,
  ].join(";");
}

/** Security settings from an environment map. */
export function configFrom(env: Record<string, string>): Promise<SecurityConfig> {
  return readSecurityConfig((k) => env[k]);
}

/** Options for {@linkcode withSecuredService}. */
export interface SecuredOptions {
  /** Extra environment, e.g. `ALLOWED_ORIGINS`. */
  env?: Record<string, string>;
  /** Limit overrides. */
  limits?: Partial<SecurityLimits>;
  /** Run without tokens (open development mode). */
  open?: boolean;
  /** Logger. @default one that keeps nothing */
  log?: Logger;
  /** Extra routes for the handler. */
  routes?: Route[];
}

/** Runs `fn` against a service with the test tokens, closed afterwards. */
export async function withSecuredService<T>(
  options: SecuredOptions,
  fn: (service: Service) => Promise<T>,
): Promise<T> {
  const env: Record<string, string> = { ...options.env };
  if (!options.open) env.TOKENS = await tokensEnv();
  const config = await configFrom(env);
  config.limits = { ...config.limits, ...options.limits };
  const service = await startService({
    port: 0,
    demo: false,
    log: options.log ?? createLogger("error", () => {}),
    security: config,
    handler: options.routes ? { routes: options.routes } : undefined,
  });
  try {
    return await fn(service);
  } finally {
    await service.close();
  }
}

/** The WebSocket URL of a service, with `?token=` when given. */
export function wsUrl(service: Service, token?: string): string {
  const url = websocketUrl(service);
  return token === undefined ? url : `${url}?token=${encodeURIComponent(token)}`;
}

/**
 * Sends a WebSocket upgrade over a raw TCP socket and returns the response
 * status and headers, so refusals before the upgrade can be read. A 101 is
 * closed at once.
 */
export async function rawUpgrade(
  service: Service,
  options: { token?: string; headers?: Record<string, string>; path?: string } = {},
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const conn = await Deno.connect({ hostname: service.addr.hostname, port: service.addr.port });
  try {
    const url = new URL(wsUrl(service, options.token));
    if (options.path) url.pathname = new URL(options.path, service.url).pathname;
    const path = url.pathname + url.search;
    const headers: Record<string, string> = {
      host: `${service.addr.hostname}:${service.addr.port}`,
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      ...options.headers,
    };
    const head = `GET ${path} HTTP/1.1\r\n` +
      Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
    await conn.write(new TextEncoder().encode(head));
    let text = "";
    const buf = new Uint8Array(8192);
    const decoder = new TextDecoder();
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += decoder.decode(buf.subarray(0, n));
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) continue;
      const status = Number(text.slice(9, 12));
      const out: Record<string, string> = {};
      for (const line of text.slice(0, end).split("\r\n").slice(1)) {
        const i = line.indexOf(":");
        out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      if (status === 101) return { status, headers: out, body: "" };
      const length = Number(out["content-length"] ?? 0);
      while (new TextEncoder().encode(text.slice(end + 4)).length < length) {
        const m = await conn.read(buf);
        if (m === null) break;
        text += decoder.decode(buf.subarray(0, m));
      }
      return { status, headers: out, body: text.slice(end + 4) };
    }
    throw new Error("connection closed before a response");
  } finally {
    conn.close();
  }
}

/** Opens a WebSocket with extra headers; resolves once open, rejects if it fails. */
export function openSocket(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // @ts-ignore: Deno accepts headers on the WebSocket constructor.
    const ws = new WebSocket(url, { headers });
    ws.binaryType = "arraybuffer";
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error("websocket failed to open"));
  });
}

/** Resolves with the close event of a socket. */
export function closed(ws: WebSocket): Promise<CloseEvent> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve(new CloseEvent("close"));
    ws.addEventListener("close", (e) => resolve(e), { once: true });
  });
}

/** Closes a socket and waits for the close to finish. */
export async function closeSocket(ws: WebSocket): Promise<void> {
  const done = closed(ws);
  ws.close();
  await done;
}
