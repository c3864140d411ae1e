/**
 * Runs the configured sources under supervision. Every module is loaded and
 * every source's options are checked before any source starts, so a bad
 * configuration stops start-up. A source that later fails (its factory
 * rejects) is restarted after a delay that doubles up to a ceiling, so a
 * broker that is down for a while is retried without a busy loop; a source
 * whose factory returns before the service stops has finished its work and
 * is not restarted.
 *
 * @module
 */

import type { Logger } from "../ops/log.ts";
import type { Sink } from "./sink.ts";
import { loadSource, type SourceContext, SourceError, type SourceModule } from "./source.ts";
import { sleep } from "./sleep.ts";

/** What {@linkcode startSources} starts. */
export interface SourceSpec {
  /** Name for logs, events and metrics. */
  name: string;
  /** Built-in name or module path. */
  use: string;
  /** Factory options. */
  options: Record<string, unknown>;
}

/** How failed sources are restarted. */
export interface RestartPolicy {
  /** Delay before the first restart. @default 1000 ms */
  initialDelayMs?: number;
  /** Longest delay between restarts; a source that ran this long starts over from the first delay. @default 60000 ms */
  maxDelayMs?: number;
}

/** One source's state, for metrics. */
export interface SourceStatus {
  /** The source's name. */
  name: string;
  /** `running`, `restarting` (failed, waiting to start again), `finished` or `stopped`. */
  state: "running" | "restarting" | "finished" | "stopped";
  /** Restarts after failures so far. */
  restarts: number;
  /** The last failure's message, if any. */
  lastError?: string;
}

/** Sources started by {@linkcode startSources}. */
export interface RunningSources {
  /** Names of the sources. */
  names: string[];
  /** Each source's state now. */
  status(): SourceStatus[];
  /** Aborts every source and waits for them to settle. */
  stop(): Promise<void>;
}

/** What the sources share. */
export interface SourceDeps {
  /** Where batches go. */
  sink: Sink;
  /** Logger for every source. */
  log: Logger;
  /** The config file's directory, for relative paths. */
  baseDir: string;
  /** Restart delays. */
  restart?: RestartPolicy;
}

/**
 * Loads every source and runs every `check`, then starts them all.
 *
 * @throws {SourceError} naming the source (and its position) that cannot be
 *   loaded or whose options were refused; no source has started then.
 */
export async function startSources(
  specs: readonly SourceSpec[],
  deps: SourceDeps,
): Promise<RunningSources> {
  const modules = await Promise.all(specs.map(async (spec, i) => {
    try {
      return await loadSource(spec.use, deps.baseDir);
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      throw new SourceError(spec.name, err.detail, "use", i);
    }
  }));
  for (const [i, spec] of specs.entries()) {
    try {
      await modules[i].check?.(spec.options, { name: spec.name, baseDir: deps.baseDir });
    } catch (err) {
      // A check names the option at fault as `options.x: ...`; keep it as the field.
      const text = messageOf(err);
      const named = text.match(/^(options(?:[.[][^:\s]*)?): (.*)$/s);
      throw new SourceError(spec.name, named?.[2] ?? text, named?.[1] ?? "options", i);
    }
  }
  const stop = new AbortController();
  const statuses = specs.map((s): SourceStatus => ({
    name: s.name,
    state: "running",
    restarts: 0,
  }));
  const running = specs.map((spec, i) =>
    supervise(spec, modules[i], statuses[i], stop.signal, deps)
  );
  return {
    names: specs.map((s) => s.name),
    status: () => statuses.map((s) => ({ ...s })),
    async stop() {
      stop.abort();
      await Promise.all(running);
    },
  };
}

/** Runs one source until the signal aborts, restarting it after failures. */
async function supervise(
  spec: SourceSpec,
  module: SourceModule,
  status: SourceStatus,
  signal: AbortSignal,
  deps: SourceDeps,
): Promise<void> {
  const initial = deps.restart?.initialDelayMs ?? 1000;
  const ceiling = deps.restart?.maxDelayMs ?? 60_000;
  const ctx: SourceContext = {
    sink: deps.sink,
    signal,
    log: deps.log,
    name: spec.name,
    baseDir: deps.baseDir,
  };
  let delay = initial;
  while (!signal.aborted) {
    status.state = "running";
    deps.log.info("source started", { source: spec.name, use: spec.use });
    const started = performance.now();
    try {
      await module.factory(spec.options, ctx);
      if (!signal.aborted) {
        status.state = "finished";
        deps.log.info("source finished", { source: spec.name });
      }
      break;
    } catch (err) {
      if (signal.aborted) break;
      // A source that ran for a good while before failing is not failing in a loop.
      if (performance.now() - started >= ceiling) delay = initial;
      status.state = "restarting";
      status.restarts++;
      status.lastError = messageOf(err);
      deps.log.error("source failed; restarting", {
        source: spec.name,
        error: err,
        retryInMs: delay,
        restarts: status.restarts,
      });
      await sleep(delay, signal);
      delay = Math.min(delay * 2, ceiling);
    }
  }
  if (status.state !== "finished") status.state = "stopped";
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
