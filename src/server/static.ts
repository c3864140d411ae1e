/**
 * Serves files from a directory with ETags, HEAD, compression and strict
 * path rules: nothing outside the root, no dotfiles, no traversal in any
 * spelling.
 *
 * @module
 */

import { join } from "node:path";
import { HttpError } from "./http_error.ts";
import { isCompressible, mediaType } from "./media_types.ts";
import { CompressionCache, negotiateEncoding } from "./compress.ts";

/** Options for {@linkcode serveFile}. */
export interface ServeFileOptions {
  /** `Cache-Control` value for successful responses. @default "no-cache" */
  cacheControl?: string;
  /** Cache of compressed bodies; without one, nothing is compressed. */
  compression?: CompressionCache;
}

/**
 * Validates a URL path below a root and returns its decoded segments.
 *
 * @param rawPath The still percent-encoded path relative to the root.
 * @throws {HttpError} 400 for undecodable paths, 404 for forbidden ones.
 */
export function safeSegments(rawPath: string): string[] {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw new HttpError(400, "malformed percent-encoding in path");
  }
  if (decoded.includes("\\") || decoded.includes("\0")) {
    throw new HttpError(400, "illegal character in path");
  }
  const segments = decoded.split("/").filter((s) => s !== "");
  // Dotfiles and dot-dirs are never served, which also rules out "." and "..".
  if (segments.some((s) => s.startsWith("."))) throw new HttpError(404, "not found");
  return segments;
}

/**
 * Answers a request for `rawPath` below `root`.
 *
 * @param req The request; only GET and HEAD are served (405 otherwise).
 * @param root Absolute directory to serve from.
 * @param rawPath Percent-encoded path relative to `root`.
 */
export async function serveFile(
  req: Request,
  root: string,
  rawPath: string,
  options: ServeFileOptions = {},
): Promise<Response> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    throw new HttpError(405, `${req.method} is not allowed here`, { allow: "GET, HEAD" });
  }
  const segments = safeSegments(rawPath);
  if (segments.length === 0) throw new HttpError(404, "not found");
  const path = await resolveInside(root, segments);
  const info = await Deno.stat(path);
  return respond(req, {
    key: path,
    type: mediaType(path),
    etag: `"${info.size.toString(36)}-${(info.mtime?.getTime() ?? 0).toString(36)}"`,
    size: info.size,
    compressible: isCompressible(path),
    load: () => Deno.readFile(path),
    open: async () => (await Deno.open(path, { read: true })).readable,
    cacheControl: options.cacheControl,
    compression: options.compression,
  });
}

/** A body to send, described so it can be validated, compressed and streamed. */
export interface Representation {
  /** Identity of the content for the compression cache. */
  key: string;
  /** Media type. */
  type: string;
  /** Strong ETag, quoted. */
  etag: string;
  /** Uncompressed size in bytes. */
  size: number;
  /** Whether compression is worth trying. */
  compressible: boolean;
  /** Reads the whole body, for compression. */
  load(): Promise<Uint8Array>;
  /** Streams the uncompressed body. */
  open(): Promise<ReadableStream<Uint8Array>>;
  /** `Cache-Control` value. @default "no-cache" */
  cacheControl?: string;
  /** Cache of compressed bodies; without one, nothing is compressed. */
  compression?: CompressionCache;
}

/** Answers GET or HEAD for a representation, with conditional requests and compression. */
export async function respond(req: Request, rep: Representation): Promise<Response> {
  const headers = new Headers({
    "content-type": rep.type,
    "cache-control": rep.cacheControl ?? "no-cache",
    "x-content-type-options": "nosniff",
  });
  let body: Uint8Array | null = null;
  let tag = rep.etag;
  if (rep.compressible) headers.set("vary", "Accept-Encoding");
  const encoding = rep.compression && rep.compressible
    ? negotiateEncoding(req.headers.get("accept-encoding"))
    : null;
  if (encoding && rep.compression) {
    body = await rep.compression.get(`${rep.key}|${rep.etag}`, encoding, rep.load);
    if (body) {
      tag = `${rep.etag.slice(0, -1)}-${encoding}"`;
      headers.set("content-encoding", encoding);
    }
  }
  headers.set("etag", tag);
  if (matchesEtag(req.headers.get("if-none-match"), tag)) {
    return new Response(null, { status: 304, headers });
  }
  headers.set("content-length", String(body?.byteLength ?? rep.size));
  if (req.method === "HEAD") return new Response(null, { status: 200, headers });
  return new Response(body ? body as Uint8Array<ArrayBuffer> : await rep.open(), {
    status: 200,
    headers,
  });
}

/** Joins segments onto the root and proves, through symlinks, that the file is inside it. */
async function resolveInside(root: string, segments: string[]): Promise<string> {
  try {
    const realRoot = await Deno.realPath(root);
    const real = await Deno.realPath(join(realRoot, ...segments));
    const info = await Deno.stat(real);
    if (!real.startsWith(realRoot + "/") || !info.isFile) throw new Error("outside");
    return real;
  } catch {
    throw new HttpError(404, "not found");
  }
}

function matchesEtag(header: string | null, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}
