/**
 * Serves the service's HTML pages with the asset version filled in, so the
 * pages can reference immutable, versioned asset URLs.
 *
 * @module
 */

import { join } from "node:path";
import { type CompressionCache } from "./compress.ts";
import { respond } from "./static.ts";

const encoder = new TextEncoder();

/**
 * Fills `{{NAME}}` (or `{{ NAME }}`) placeholders from `vars`; unknown names are left as they are.
 *
 * @param text Template text.
 * @param vars Values by placeholder name.
 */
export function fillTemplate(text: string, vars: Record<string, string>): string {
  // Formatters may pad placeholders with spaces, so both spellings are accepted.
  return text.replace(/\{\{\s*([A-Z_]+)\s*\}\}/g, (whole, name: string) => vars[name] ?? whole);
}

async function sha1Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Renders page templates once per file version and answers requests for them.
 */
export class PageRenderer {
  readonly #dir: string;
  readonly #vars: Record<string, string>;
  readonly #compression: CompressionCache;
  readonly #cache = new Map<string, { mtime: number; body: Uint8Array; etag: string }>();

  /**
   * @param dir Directory holding the templates.
   * @param vars Placeholder values.
   * @param compression Shared compression cache.
   */
  constructor(dir: string, vars: Record<string, string>, compression: CompressionCache) {
    this.#dir = dir;
    this.#vars = vars;
    this.#compression = compression;
  }

  /** Answers a GET or HEAD for the named template. */
  async serve(req: Request, file: string): Promise<Response> {
    const path = join(this.#dir, file);
    const mtime = (await Deno.stat(path)).mtime?.getTime() ?? 0;
    let page = this.#cache.get(path);
    if (!page || page.mtime !== mtime) {
      const body = encoder.encode(fillTemplate(await Deno.readTextFile(path), this.#vars));
      page = { mtime, body, etag: `"${(await sha1Hex(body)).slice(0, 20)}"` };
      this.#cache.set(path, page);
    }
    const body = page.body;
    return respond(req, {
      key: path,
      type: "text/html; charset=utf-8",
      etag: page.etag,
      size: body.byteLength,
      compressible: true,
      load: () => Promise.resolve(body),
      open: () => Promise.resolve(new Blob([body as Uint8Array<ArrayBuffer>]).stream()),
      compression: this.#compression,
    });
  }
}
