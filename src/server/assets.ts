/**
 * Locates the viewer packages' `dist/` trees in `node_modules`, so the
 * service serves them itself and needs no CDN at run time.
 *
 * @module
 */

import { fromFileUrl } from "./paths.ts";

/** Packages whose `dist/` trees are served under `/assets/{version}/{name}/`. */
export const ASSET_PACKAGES = [
  "perspective",
  "perspective-viewer",
  "perspective-viewer-datagrid",
  "perspective-viewer-d3fc",
  "perspective-workspace",
] as const;

/** A served package name. */
export type AssetPackage = typeof ASSET_PACKAGES[number];

/** Where the assets live and the version that prefixes their URLs. */
export interface AssetRoots {
  /** The Perspective version shared by all the packages. */
  version: string;
  /** Absolute `dist/` directory of each package. */
  dirs: Record<AssetPackage, string>;
}

/** The project's `node_modules/@finos/` directory. */
const FINOS_DIR = fromFileUrl(new URL("../../node_modules/@finos/", import.meta.url));

/**
 * Finds the packages and checks that they share one version.
 *
 * @param finosDir Directory holding the `@finos` packages. @default the project's node_modules
 * @throws {Error} when a package is missing or the versions differ.
 */
export function findAssets(finosDir: string = FINOS_DIR): AssetRoots {
  const dirs = {} as Record<AssetPackage, string>;
  const versions = new Set<string>();
  for (const name of ASSET_PACKAGES) {
    const pkgDir = `${finosDir}/${name}`;
    let manifest: { version?: string };
    try {
      manifest = JSON.parse(Deno.readTextFileSync(`${pkgDir}/package.json`));
    } catch (err) {
      throw new Error(`@finos/${name} is not installed in ${finosDir}: ${err}`);
    }
    versions.add(String(manifest.version));
    dirs[name] = `${pkgDir}/dist`;
  }
  if (versions.size !== 1) {
    throw new Error(`viewer packages disagree on version: ${[...versions].join(", ")}`);
  }
  return { version: [...versions][0], dirs };
}
