/**
 * Routes for the service's own pages and the viewer packages' assets.
 *
 * @module
 */

import type { Route } from "./router.ts";
import { HttpError } from "./http_error.ts";
import { serveFile } from "./static.ts";
import { PageRenderer } from "./template.ts";
import type { CompressionCache } from "./compress.ts";
import { ASSET_PACKAGES, type AssetPackage, type AssetRoots } from "./assets.ts";

/** `Cache-Control` for versioned assets: their URL changes when they do. */
export const IMMUTABLE = "public, max-age=31536000, immutable";

/** Dependencies of {@linkcode pageRoutes}. */
export interface PageDeps {
  /** The service's own static directory. */
  staticDir: string;
  /** Viewer package locations and version. */
  assets: AssetRoots;
  /** Shared cache of compressed bodies. */
  compression: CompressionCache;
}

/** Routes for `/`, `/view/{table}`, `/dashboard/{name}`, `/static/*` and `/assets/{version}/{package}/*`. */
export function pageRoutes(deps: PageDeps): Route[] {
  const { staticDir, assets, compression } = deps;
  const pages = new PageRenderer(staticDir, { PSP_VERSION: assets.version }, compression);
  const page = (file: string): Route["handle"] => (req) => pages.serve(req, file);
  return [
    { methods: ["GET"], path: "/", handle: page("index.html") },
    { methods: ["GET"], path: "/view/:table", handle: page("view.html") },
    { methods: ["GET"], path: "/dashboard/:name", handle: page("dashboard.html") },
    {
      methods: ["GET"],
      path: "/static/:file+",
      handle: (req, ctx) =>
        serveFile(req, staticDir, ctx.path.slice("/static/".length), { compression }),
    },
    {
      methods: ["GET"],
      path: "/assets/:version/:pkg/:file+",
      handle: (req, ctx) => {
        const pkg = ctx.params.pkg as AssetPackage;
        if (ctx.params.version !== assets.version || !ASSET_PACKAGES.includes(pkg)) {
          throw new HttpError(404, `no assets for ${ctx.params.pkg}@${ctx.params.version}`);
        }
        const prefix = `/assets/${ctx.params.version}/${ctx.params.pkg}/`;
        return serveFile(req, assets.dirs[pkg], ctx.path.slice(prefix.length), {
          compression,
          cacheControl: IMMUTABLE,
        });
      },
    },
  ];
}
