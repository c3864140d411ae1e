/**
 * The security layer's one object: authenticates requests, authorizes them
 * per scope and table, checks origins, and holds the shared limit counters.
 *
 * @module
 */

import { StatusError } from "../engine/batch_types.ts";
import { type Logger, silentLogger } from "../ops/log.ts";
import type { SecurityConfig } from "./config.ts";
import { ConnectionLimiter, RateLimiter } from "./limits.ts";
import { originAllowed } from "./origin.ts";
import { ALL_GRANTS, allows, type Grants, READ_GRANTS, type Scope } from "./scopes.ts";
import { TokenStore } from "./tokens.ts";

/** Who made a request and what they may do. */
export interface Principal {
  /** The token's name, or `anonymous` in open mode. Safe to log. */
  name: string;
  /** What the principal may do. */
  grants: Grants;
  /** Where the credential came from. */
  via: "bearer" | "cookie" | "query" | "open";
}

/** A route's scope: one for all methods, or one per method. */
export type RouteScope = Scope | "public" | Partial<Record<string, Scope | "public">>;

/** Query parameter that carries a WebSocket token. */
export const TOKEN_PARAM = "token";

const CHALLENGE = 'Bearer realm="perspective"';

/** Authenticates, authorizes and limits requests for one service. */
export class Security {
  /** The settings. */
  readonly config: SecurityConfig;
  /** Open WebSocket connections. */
  readonly connections: ConnectionLimiter;
  /** Table names claimed by WebSocket sessions that created them. */
  readonly claimed: Set<string> = new Set();
  readonly #rate: RateLimiter;
  readonly #tokens: TokenStore;
  readonly #log: Logger;

  /** @param config Resolved settings. @param log Where refusals are logged. */
  constructor(config: SecurityConfig, log: Logger = silentLogger) {
    this.config = config;
    this.#log = log;
    this.#tokens = new TokenStore(config.tokens);
    this.connections = new ConnectionLimiter(
      config.limits.maxConnections,
      config.limits.maxConnectionsPerAddress,
    );
    this.#rate = new RateLimiter(config.limits.ingestRequestsPerSecond, config.limits.ingestBurst);
  }

  /** True when no tokens are configured: open development mode. */
  get open(): boolean {
    return this.#tokens.size === 0;
  }

  /** Logs the mode at start-up; open mode is a warning that says what is exposed. */
  announce(log: Logger = this.#log): void {
    if (this.open) {
      log.warn(
        "SECURITY: no tokens configured; open development mode. Anyone who can reach this " +
          "address can read every table and use the whole HTTP API (create, write, drop).",
        {
          websocketEdit: this.config.allowEdit,
          allowInsecure: this.config.allowInsecure,
        },
      );
    } else {
      log.info("security: bearer tokens required", { tokens: this.config.tokens.length });
    }
  }

  /**
   * Finds the principal behind a request.
   *
   * @param allowQuery Accept `?token=` (WebSocket upgrades only; browsers cannot set headers there).
   * @throws {StatusError} 401 with `WWW-Authenticate` when no valid token is presented.
   */
  async authenticate(req: Request, allowQuery = false): Promise<Principal> {
    if (this.open) return { name: "anonymous", grants: ALL_GRANTS, via: "open" };
    const cred = this.#credential(req, allowQuery);
    if (!cred) {
      throw new StatusError(401, "a bearer token is required", { "www-authenticate": CHALLENGE });
    }
    const entry = cred.token === "" ? undefined : await this.#tokens.find(cred.token);
    if (!entry) {
      this.#log.info("authentication failed", { via: cred.via });
      throw new StatusError(401, "the token is not valid", {
        "www-authenticate": `${CHALLENGE}, error="invalid_token"`,
      });
    }
    return { name: entry.name, grants: entry.grants, via: cred.via };
  }

  /**
   * Authenticates a request and checks one scope, on one table when given.
   * Cookie-borne credentials also need an acceptable Origin, since browsers
   * attach cookies to cross-site requests.
   *
   * @throws {StatusError} 401 for no or bad credentials, 403 for a missing scope or a foreign Origin.
   */
  async authorize(req: Request, scope: Scope, table?: string): Promise<Principal> {
    const principal = await this.authenticate(req);
    if (principal.via === "cookie") this.#checkCookieOrigin(req);
    if (!allows(principal.grants, scope, table)) throw this.#forbidden(principal, scope, table);
    return principal;
  }

  #forbidden(principal: Principal, scope: Scope, table?: string): StatusError {
    this.#log.info("request refused", { token: principal.name, scope, table });
    const where = table === undefined ? "" : ` on table ${JSON.stringify(table)}`;
    return new StatusError(403, `this token lacks the ${scope} scope${where}`, {
      "www-authenticate": `${CHALLENGE}, error="insufficient_scope", scope="${scope}"`,
    });
  }

  /**
   * Checks a WebSocket upgrade before it happens: the Origin first, then the
   * token from the `Authorization` header, `?token=` or the cookie.
   *
   * @returns The principal and the grants its session keeps.
   * @throws {StatusError} 403 for a foreign or required-but-missing Origin, 401 for credentials.
   */
  async checkUpgrade(req: Request): Promise<{ principal: Principal; grants: Grants }> {
    const origin = req.headers.get("origin");
    if (origin !== null) {
      if (!originAllowed(origin, req.headers.get("host"), this.config.allowedOrigins)) {
        this.#log.info("websocket refused: origin not allowed", { origin });
        throw new StatusError(403, "this Origin may not open a WebSocket here");
      }
    } else if (this.config.requireOrigin) {
      throw new StatusError(403, "an Origin header is required");
    }
    const principal = await this.authenticate(req, true);
    if (origin === null && principal.via === "cookie") {
      throw new StatusError(403, "a cookie credential needs an Origin header");
    }
    if (principal.via !== "open" && !allows(principal.grants, "read")) {
      throw new StatusError(403, "this token lacks the read scope", {
        "www-authenticate": `${CHALLENGE}, error="insufficient_scope", scope="read"`,
      });
    }
    const grants = principal.via === "open"
      ? (this.config.allowEdit ? ALL_GRANTS : READ_GRANTS)
      : principal.grants;
    return { principal, grants };
  }

  /**
   * Applies the ingest rate limit to a principal (per client address in open mode).
   *
   * @throws {StatusError} 429 with `Retry-After`.
   */
  limitIngest(principal: Principal, remoteAddr?: string): void {
    const key = principal.via === "open" ? `addr:${remoteAddr ?? "?"}` : `token:${principal.name}`;
    const wait = this.#rate.take(key);
    if (wait > 0) {
      throw new StatusError(429, "ingest rate limit reached", { "retry-after": String(wait) });
    }
  }

  /**
   * Enforces a route's scope: `public` and absent scopes pass, except under
   * `/api/`, where an undeclared route needs `read` for GET and `admin`
   * otherwise so that a new route is never open by accident. `write` routes
   * are also rate limited.
   *
   * @param tableParam Name of the path parameter holding the table. @default "table"
   */
  async guard(
    req: Request,
    scope: RouteScope | undefined,
    ctx: { params: Record<string, string>; path: string; remoteAddr?: string },
    tableParam = "table",
  ): Promise<Principal | undefined> {
    const needed = scopeFor(scope, req.method, ctx.path);
    if (needed === "public") return undefined;
    const table = ctx.params[tableParam];
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      // Upgrades carry the token in the query or a cookie and need the Origin check.
      const { principal, grants } = await this.checkUpgrade(req);
      if (!allows(grants, needed, table)) throw this.#forbidden(principal, needed, table);
      return principal;
    }
    const principal = await this.authorize(req, needed, table);
    if (needed === "write") this.limitIngest(principal, ctx.remoteAddr);
    return principal;
  }

  #credential(
    req: Request,
    allowQuery: boolean,
  ): { token: string; via: Principal["via"] } | undefined {
    const auth = req.headers.get("authorization");
    if (auth !== null) {
      const m = /^Bearer[ ]+(\S*)\s*$/i.exec(auth);
      return { token: m ? m[1] : "", via: "bearer" };
    }
    if (allowQuery) {
      const q = new URL(req.url).searchParams.get(TOKEN_PARAM);
      if (q !== null) return { token: q, via: "query" };
    }
    const cookie = readCookie(req.headers.get("cookie"), this.config.cookieName);
    if (cookie !== undefined) return { token: cookie, via: "cookie" };
    return undefined;
  }

  #checkCookieOrigin(req: Request): void {
    const origin = req.headers.get("origin");
    const safe = req.method === "GET" || req.method === "HEAD";
    if (
      origin === null
        ? !safe
        : !originAllowed(origin, req.headers.get("host"), this.config.allowedOrigins)
    ) {
      throw new StatusError(403, "a cookie credential is not accepted from this origin");
    }
  }
}

/** The scope a method needs on a route, with the `/api/` fail-closed default. */
export function scopeFor(
  scope: RouteScope | undefined,
  method: string,
  path: string,
): Scope | "public" {
  const m = method === "HEAD" ? "GET" : method;
  const declared = typeof scope === "string" ? scope : scope?.[m] ?? scope?.["*"];
  if (declared) return declared;
  if (path === "/api" || path.startsWith("/api/")) return m === "GET" ? "read" : "admin";
  return "public";
}

function readCookie(header: string | null, name: string): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return undefined;
}
