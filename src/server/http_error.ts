/**
 * Errors that carry an HTTP status, rendered as RFC 9457
 * `application/problem+json` bodies.
 *
 * @module
 */

import { StatusError } from "../engine/batch_types.ts";

/** Short titles for the statuses the API uses, per the design's error table. */
const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
  507: "Insufficient Storage",
};

/**
 * An error that maps to one HTTP status and a human-readable detail: the
 * data path's {@linkcode StatusError}, named for the routes that throw it.
 */
export class HttpError extends StatusError {
  /**
   * @param status HTTP status code.
   * @param detail Human-readable explanation; never include secrets.
   * @param headers Extra response headers.
   */
  constructor(status: number, detail: string, headers: Record<string, string> = {}) {
    super(status, detail, headers);
    this.name = "HttpError";
  }
}

/** The title for a status code, falling back to a generic one. */
export function statusTitle(status: number): string {
  return TITLES[status] ?? (status >= 500 ? "Server Error" : "Client Error");
}

/**
 * Builds an `application/problem+json` response.
 *
 * @param status HTTP status code.
 * @param detail Explanation for the client.
 * @param headers Extra headers to set.
 */
export function problem(
  status: number,
  detail: string,
  headers: Record<string, string> = {},
): Response {
  const body = {
    type: "about:blank",
    title: statusTitle(status),
    status,
    detail,
  };
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...headers, "content-type": "application/problem+json" },
  });
}

/** Renders any thrown value as a problem response; unknown errors become 500. */
export function errorResponse(err: unknown): Response {
  if (err instanceof StatusError) {
    return problem(err.status, err.message, err.headers);
  }
  return problem(500, "internal error");
}
