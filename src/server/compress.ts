/**
 * Compresses static files once per version and keeps the result in memory.
 *
 * @module
 */

import zlib from "node:zlib";
import { promisify } from "node:util";

/** A content coding the service produces. */
export type Encoding = "br" | "gzip";

const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);

/**
 * Picks the best coding the client accepts, honouring `q=0` refusals.
 *
 * @param header The request's `Accept-Encoding` value.
 */
export function negotiateEncoding(header: string | null): Encoding | null {
  if (!header) return null;
  const accepted = new Map<string, number>();
  for (const part of header.split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const weight = q ? Number(q.slice(2)) : 1;
    accepted.set(name, Number.isFinite(weight) ? weight : 0);
  }
  const weight = (name: string) => accepted.get(name) ?? accepted.get("*") ?? 0;
  if (weight("br") > 0) return "br";
  if (weight("gzip") > 0) return "gzip";
  return null;
}

/** Options for {@linkcode CompressionCache}. */
export interface CompressionCacheOptions {
  /** Total compressed bytes kept before the oldest entries are evicted. @default 64 MiB */
  maxBytes?: number;
}

/**
 * An in-memory cache of compressed bodies keyed by file identity, so each
 * asset version is compressed once however many clients fetch it.
 */
export class CompressionCache {
  readonly #entries = new Map<string, Promise<Uint8Array | null>>();
  readonly #sizes = new Map<string, number>();
  readonly #maxBytes: number;
  #bytes = 0;

  /** @param options Cache bounds. */
  constructor(options: CompressionCacheOptions = {}) {
    this.#maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  }

  /**
   * The compressed body, or null when compression does not make it smaller.
   *
   * @param key Identity of the file version (path and ETag).
   * @param encoding Coding to produce.
   * @param load Reads the raw bytes when the entry is missing.
   */
  get(
    key: string,
    encoding: Encoding,
    load: () => Promise<Uint8Array>,
  ): Promise<Uint8Array | null> {
    const id = `${encoding}:${key}`;
    const hit = this.#entries.get(id);
    if (hit) {
      // Refresh recency: Map keeps insertion order, eviction takes the first.
      this.#entries.delete(id);
      this.#entries.set(id, hit);
      return hit;
    }
    const pending = load().then(async (raw) => {
      const packed = encoding === "br"
        ? await brotli(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 6 } })
        : await gzip(raw);
      const out = packed.byteLength < raw.byteLength ? new Uint8Array(packed) : null;
      this.#account(id, out?.byteLength ?? 0);
      return out;
    });
    pending.catch(() => this.#entries.delete(id));
    this.#entries.set(id, pending);
    return pending;
  }

  #account(id: string, size: number): void {
    if (!this.#entries.has(id)) return;
    this.#sizes.set(id, size);
    this.#bytes += size;
    for (const oldest of this.#entries.keys()) {
      if (this.#bytes <= this.#maxBytes || oldest === id) break;
      this.#entries.delete(oldest);
      this.#bytes -= this.#sizes.get(oldest) ?? 0;
      this.#sizes.delete(oldest);
    }
  }
}
