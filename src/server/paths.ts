/**
 * File-URL helpers shared by modules that locate files relative to the source tree.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** Converts a `file:` URL to a path without a trailing slash. */
export function fromFileUrl(url: URL): string {
  return fileURLToPath(url).replace(/\/+$/, "");
}

/** The project's `static/` directory. */
export const STATIC_DIR: string = fromFileUrl(new URL("../../static/", import.meta.url));
