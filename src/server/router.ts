/**
 * A minimal router: routes are plain data, so each part of the service
 * contributes its own list and none reaches into another.
 *
 * @module
 */

import { HttpError } from "./http_error.ts";
import type { RouteScope } from "../security/security.ts";
import type { Scope } from "../security/scopes.ts";

/** What a route handler receives besides the request. */
export interface RouteContext {
  /** Path parameters captured by the route's pattern, percent-decoded. */
  params: Record<string, string>;
  /** The request URL. */
  url: URL;
  /** The path below the base path, still percent-encoded. */
  path: string;
  /** Remote address of the client, when known. */
  remoteAddr?: string;
  /**
   * Whether the caller may use `scope` on `table`, for routes that list
   * tables. Absent on public routes. Never exposes the credential itself.
   */
  allows?: (scope: Scope, table: string) => boolean;
}

/** One route: a method set, a path pattern below the base path, and a handler. */
export interface Route {
  /** Methods served; others on a matching path get 405. */
  methods: readonly string[];
  /** Path pattern in `URLPattern` pathname syntax, e.g. `/api/tables/:table`. */
  path: string;
  /** Produces the response. */
  handle(req: Request, ctx: RouteContext): Response | Promise<Response>;
  /**
   * The scope a caller needs: one for all methods or one per method, e.g.
   * `{GET: "read", POST: "write"}`. Undeclared routes under `/api/` need
   * `read` for GET and `admin` otherwise; elsewhere they are public.
   */
  scope?: RouteScope;
  /** Path parameter naming the table the scope applies to. @default "table" */
  tableParam?: string;
}

interface Compiled {
  route: Route;
  pattern: URLPattern;
}

/** Compiles routes once; {@linkcode Router.match} finds the handler for a path. */
export class Router {
  readonly #routes: Compiled[];

  /** @param routes Routes in priority order. */
  constructor(routes: Route[]) {
    this.#routes = routes.map((route) => ({
      route,
      pattern: new URLPattern({ pathname: route.path }),
    }));
  }

  /**
   * Finds the route for a method and path.
   *
   * @returns The route and its decoded parameters, or undefined when no path matches.
   * @throws {HttpError} 405 when a path matches but not for this method.
   */
  match(
    method: string,
    path: string,
  ): { route: Route; params: Record<string, string> } | undefined {
    const allowed = new Set<string>();
    for (const { route, pattern } of this.#routes) {
      const m = pattern.exec({ pathname: path });
      if (!m) continue;
      if (route.methods.includes(method) || (method === "HEAD" && route.methods.includes("GET"))) {
        return { route, params: decodeParams(m.pathname.groups) };
      }
      route.methods.forEach((x) => allowed.add(x));
    }
    if (allowed.size === 0) return undefined;
    if (allowed.has("GET")) allowed.add("HEAD");
    throw new HttpError(405, `${method} is not allowed here`, { allow: [...allowed].join(", ") });
  }
}

function decodeParams(groups: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(groups)) {
    if (v === undefined) continue;
    try {
      out[k] = decodeURIComponent(v);
    } catch {
      throw new HttpError(400, `malformed percent-encoding in path parameter ${k}`);
    }
  }
  return out;
}
