/**
 * Pluggable ingest sources. A source is a module whose default export (or
 * `createSource` export) is a {@linkcode SourceFactory}: given its options
 * and a context with the sink, it runs until the context's signal aborts.
 * It may also export a {@linkcode SourceCheck} named `check`, which vets its
 * options before any source starts, so a bad one stops start-up. Built-in
 * sources are found by name in {@linkcode BUILTIN_SOURCES} and loaded
 * exactly like a user's module named by path. `source_runner.ts` runs them.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Logger } from "../ops/log.ts";
import type { Sink } from "./sink.ts";

/** What a running source gets besides its options. */
export interface SourceContext {
  /** Where batches go. */
  sink: Sink;
  /** Aborts when the service stops; the factory's promise should then settle. */
  signal: AbortSignal;
  /** Logger for the source. */
  log: Logger;
  /** The source's configured name, also used as the `source` of its events. */
  name: string;
  /** The config file's directory, for resolving relative paths in options. */
  baseDir: string;
}

/** Runs a source until `ctx.signal` aborts. */
export type SourceFactory = (
  options: Record<string, unknown>,
  ctx: SourceContext,
) => Promise<void> | void;

/**
 * Vets a source's options, and anything else it needs such as file
 * permissions, before any source starts.
 *
 * @throws {Error} whose message names the bad option, e.g. `options.path: ...`.
 */
export type SourceCheck = (
  options: Record<string, unknown>,
  ctx: Pick<SourceContext, "name" | "baseDir">,
) => Promise<void> | void;

/** A loaded source module. */
export interface SourceModule {
  /** Runs the source. */
  factory: SourceFactory;
  /** The module's `check` export, when it has one. */
  check?: SourceCheck;
}

/** Built-in source names and their modules. */
export const BUILTIN_SOURCES: Readonly<Record<string, string>> = Object.freeze({
  directory: new URL("./sources/directory.ts", import.meta.url).href,
});

/** A source that could not be loaded, or whose options were refused. */
export class SourceError extends Error {
  /**
   * @param source The source's name, or its `use` when it has none yet.
   * @param detail What went wrong.
   * @param field Which part of the source's configuration is at fault:
   *   `use`, `options` or an option such as `options.path`.
   * @param index The source's position in the configured list, when known.
   */
  constructor(
    readonly source: string,
    readonly detail: string,
    readonly field: string = "use",
    readonly index?: number,
  ) {
    super(`source ${source}: ${detail}`);
    this.name = "SourceError";
  }
}

/**
 * The module specifier for `use`: a built-in's module, or a path resolved
 * against `baseDir` (a `file:` URL is used as is).
 */
export function sourceSpecifier(use: string, baseDir: string): string {
  if (Object.hasOwn(BUILTIN_SOURCES, use)) return BUILTIN_SOURCES[use];
  if (use.startsWith("file:")) return use;
  if (!use.includes("/") && !use.includes("\\") && !/\.[cm]?[jt]s$/.test(use)) {
    throw new SourceError(
      use,
      `no built-in source by that name (${Object.keys(BUILTIN_SOURCES).join(", ")}); ` +
        "name a module by path, e.g. ./my_source.ts",
    );
  }
  return pathToFileURL(isAbsolute(use) ? use : resolve(baseDir, use)).href;
}

/**
 * Loads a source module by built-in name or module path.
 *
 * @throws {SourceError} when the module cannot be imported, exports no
 *   factory, or exports a `check` that is not a function.
 */
export async function loadSource(use: string, baseDir: string): Promise<SourceModule> {
  const specifier = sourceSpecifier(use, baseDir);
  let mod: Record<string, unknown>;
  try {
    mod = await import(specifier);
  } catch (err) {
    throw new SourceError(use, `cannot load ${specifier}: ${(err as Error).message}`);
  }
  const factory = mod.default ?? mod.createSource;
  if (typeof factory !== "function") {
    throw new SourceError(use, "the module exports no default function or createSource");
  }
  if (mod.check !== undefined && typeof mod.check !== "function") {
    throw new SourceError(use, "the module's check export is not a function");
  }
  return { factory: factory as SourceFactory, check: mod.check as SourceCheck | undefined };
}
