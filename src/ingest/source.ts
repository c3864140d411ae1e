/**
 * Pluggable ingest sources. A source is a module whose default export (or
 * `createSource` export) is a {@linkcode SourceFactory}: given its options
 * and a context with the sink, it runs until the context's signal aborts.
 * Built-in sources are found by name in {@linkcode BUILTIN_SOURCES} and
 * loaded exactly like a user's module named by path.
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

/** Built-in source names and their modules. */
export const BUILTIN_SOURCES: Readonly<Record<string, string>> = Object.freeze({
  directory: new URL("./sources/directory.ts", import.meta.url).href,
});

/** A source that could not be loaded or started. */
export class SourceError extends Error {
  /** @param source The source's name. @param detail What went wrong. */
  constructor(readonly source: string, detail: string) {
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
 * Loads a source factory by built-in name or module path.
 *
 * @throws {SourceError} when the module cannot be imported or exports no factory.
 */
export async function loadSource(use: string, baseDir: string): Promise<SourceFactory> {
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
  return factory as SourceFactory;
}

/** Sources started by {@linkcode startSources}. */
export interface RunningSources {
  /** Names of the running sources. */
  names: string[];
  /** Aborts every source and waits for them to settle. */
  stop(): Promise<void>;
}

/** What {@linkcode startSources} starts. */
export interface SourceSpec {
  /** Name for logs and events. */
  name: string;
  /** Built-in name or module path. */
  use: string;
  /** Factory options. */
  options: Record<string, unknown>;
}

/**
 * Loads every source first (so a bad one stops start-up before any runs),
 * then starts them all. A source that fails later is logged; the others go on.
 *
 * @throws {SourceError} when a source cannot be loaded.
 */
export async function startSources(
  specs: readonly SourceSpec[],
  deps: { sink: Sink; log: Logger; baseDir: string },
): Promise<RunningSources> {
  const factories = await Promise.all(specs.map((s) => loadSource(s.use, deps.baseDir)));
  const stop = new AbortController();
  const running = specs.map((spec, i) => {
    const ctx: SourceContext = {
      sink: deps.sink,
      signal: stop.signal,
      log: deps.log,
      name: spec.name,
      baseDir: deps.baseDir,
    };
    deps.log.info("source started", { source: spec.name, use: spec.use });
    return Promise.resolve()
      .then(() => factories[i](spec.options, ctx))
      .catch((err) => deps.log.error("source failed", { source: spec.name, error: err }));
  });
  return {
    names: specs.map((s) => s.name),
    async stop() {
      stop.abort();
      await Promise.all(running);
    },
  };
}
