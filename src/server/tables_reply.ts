/**
 * Shared pieces of the ingest routes: error translation and JSON replies.
 *
 * @module
 */

import { StatusError } from "../engine/batch_types.ts";
import { DefinitionError } from "../ingest/table_def.ts";
import { HttpError } from "./http_error.ts";

/** Runs `fn`, turning ingest and definition errors into {@linkcode HttpError}s. */
export async function asHttp<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StatusError) throw new HttpError(err.status, err.message, err.headers);
    if (err instanceof DefinitionError) throw new HttpError(400, err.message);
    throw err;
  }
}

/** A JSON reply that caches nowhere. */
export function jsonReply(
  body: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return Response.json(body, { status, headers: { "cache-control": "no-store", ...headers } });
}
