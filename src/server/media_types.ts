/**
 * Media types by file extension for the files the service serves.
 *
 * @module
 */

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
  ".arrow": "application/vnd.apache.arrow.file",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
};

const COMPRESSIBLE = new Set([
  ".html",
  ".js",
  ".mjs",
  ".css",
  ".json",
  ".map",
  ".wasm",
  ".svg",
  ".txt",
  ".ts",
  ".ttf",
]);

function extension(path: string): string {
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  return dot > slash ? path.slice(dot).toLowerCase() : "";
}

/** The media type for a file path; unknown extensions are `application/octet-stream`. */
export function mediaType(path: string): string {
  return TYPES[extension(path)] ?? "application/octet-stream";
}

/** Whether a file of this path is worth compressing on the wire. */
export function isCompressible(path: string): boolean {
  return COMPRESSIBLE.has(extension(path));
}
