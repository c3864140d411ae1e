/**
 * Graceful shutdown: on the first SIGTERM or SIGINT the service stops being
 * ready and stops accepting work (writes and upgrades get 503), closes
 * WebSockets with 1001, lets in-flight requests finish (so every ingest batch
 * is either applied and acknowledged or refused), closes the listener, then
 * exits 0 within a bounded drain time. A second signal exits at once.
 *
 * @module
 */

import type { Handler } from "./http.ts";
import type { Logger } from "./log.ts";

/** Seconds a drain may take by default. */
export const DEFAULT_DRAIN_SECONDS = 10;

/** Methods that never change data, so they are still served while draining. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Counts requests in flight and, once draining, refuses new work: mutating
 * requests and WebSocket upgrades get 503 with `Retry-After` and
 * `Connection: close`, so the client retries on another replica and no batch
 * is half-done.
 */
export class InFlight {
  #count = 0;
  #draining = false;
  #lastWrite = 0;
  #idle: (() => void)[] = [];

  /** Requests being handled now. */
  get count(): number {
    return this.#count;
  }

  /**
   * `performance.now()` when the latest write or upgrade request arrived,
   * refused ones included; reads do not count, since cutting one is harmless.
   */
  get lastWrite(): number {
    return this.#lastWrite;
  }

  /** Whether new work is refused. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Starts refusing new work. */
  startDraining(): void {
    this.#draining = true;
  }

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Wraps a handler so its requests are counted and gated. */
  wrap(handler: Handler): Handler {
    return async (req, info) => {
      if (refusedWhileDraining(req)) {
        this.#lastWrite = performance.now();
        if (this.#draining) return drainingResponse();
      }
      this.#count++;
      try {
        const res = await handler(req, info);
        // Once draining, clients stop reusing the connection, so their next
        // request is refused cleanly instead of racing the listener's close.
        if (this.#draining && res.status !== 101) {
          try {
            res.headers.set("connection", "close");
          } catch {
            // Immutable headers: the response goes out as it is.
          }
        }
        return res;
      } finally {
        if (--this.#count === 0) {
          for (const resolve of this.#idle.splice(0)) resolve();
        }
      }
    };
  }
}

function refusedWhileDraining(req: Request): boolean {
  return !SAFE_METHODS.has(req.method) || req.headers.get("upgrade")?.toLowerCase() === "websocket";
}

function drainingResponse(): Response {
  return new Response(
    JSON.stringify({
      type: "about:blank",
      title: "Service Unavailable",
      status: 503,
      detail: "the server is shutting down; retry on another replica",
    }),
    {
      status: 503,
      headers: {
        "content-type": "application/problem+json",
        "retry-after": "1",
        connection: "close",
      },
    },
  );
}

/** The steps a drain runs, supplied by the service. */
export interface DrainSteps {
  /** Marks the service not ready and starts refusing new work. */
  markDraining(): void;
  /** Closes the listener and idle connections; resolves once the server has finished. */
  stopAccepting(): Promise<void>;
  /** Closes WebSockets with 1001; resolves with how many did not close in time. */
  closeSockets(timeoutMs: number): Promise<number>;
  /** Resolves once no request is in flight. */
  idle(): Promise<void>;
  /** Requests still in flight. */
  inflight(): number;
  /** `performance.now()` when the latest write or upgrade request arrived. */
  lastWrite(): number;
  /** Stops sources, closes engine sessions, and closes the batch log's files. */
  stopEngine(): void | Promise<void>;
}

/** How a drain went. */
export interface DrainResult {
  /** True when everything finished before the deadline. */
  clean: boolean;
  /** Milliseconds the drain took. */
  ms: number;
  /** Requests still in flight when the wait for them ended. */
  inflight: number;
  /** Sockets that did not finish their close handshake in time. */
  socketsLeft: number;
}

/**
 * Runs a drain bounded by `timeoutMs`. Never rejects.
 *
 * Once in-flight requests are done, the listener stays open until no write
 * has arrived for `quietMs`: a batch a client sent just before the drain
 * began then gets a 503 it can act on rather than a reset connection.
 *
 * @param steps What to stop, in order.
 * @param timeoutMs The bound; past it the drain gives up and reports unclean.
 * @param quietMs How long no write must arrive before the listener closes. @default 250
 */
export async function drain(
  steps: DrainSteps,
  timeoutMs: number,
  quietMs = 250,
): Promise<DrainResult> {
  const t0 = performance.now();
  const left = () => Math.max(0, timeoutMs - (performance.now() - t0));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), timeoutMs));
  steps.markDraining();
  const socketsLeft = await steps.closeSockets(Math.min(2000, left()));
  const idle = () => Promise.race([steps.idle().then(() => "done" as const), deadline]);
  let work = await idle();
  while (work === "done") {
    const quiet = performance.now() - steps.lastWrite();
    if (quiet >= quietMs || left() <= 0) break;
    await new Promise((r) => setTimeout(r, Math.min(quietMs - quiet, left())));
    work = await idle();
  }
  const inflight = steps.inflight();
  clearTimeout(timer);
  // Closing the server cuts request bodies still uploading, so it waits until
  // in-flight requests are done; past the bound it cuts them, and each such
  // batch fails whole.
  const serverDone = steps.stopAccepting().then(() => "done" as const, () => "done" as const);
  const grace = new Promise<"timeout">((r) =>
    timer = setTimeout(() => r("timeout"), Math.max(left(), 1000))
  );
  const server = await Promise.race([serverDone, grace]);
  clearTimeout(timer);
  await steps.stopEngine();
  return {
    clean: work === "done" && server === "done",
    ms: Math.round(performance.now() - t0),
    inflight,
    socketsLeft,
  };
}

/** Options for {@linkcode handleSignals}. */
export interface SignalOptions {
  /** Runs the drain; called once, on the first signal. */
  drain(): Promise<DrainResult>;
  /** Logger for the shutdown lines. */
  log: Logger;
  /** Ends the process. @default Deno.exit */
  exit?: (code: number) => void;
  /** Subscribes to a signal. @default Deno.addSignalListener */
  listen?: (signal: Deno.Signal, handler: () => void) => void;
  /** Signals that start a drain. @default ["SIGTERM", "SIGINT"] */
  signals?: readonly Deno.Signal[];
}

const SIGNAL_NUMBERS: Partial<Record<Deno.Signal, number>> = { SIGINT: 2, SIGTERM: 15 };

/**
 * Installs the shutdown signal handlers: the first signal drains and exits 0
 * (1 when the drain hit its bound); a second exits at once with 128 + the
 * signal number.
 */
export function handleSignals(options: SignalOptions): void {
  const exit = options.exit ?? Deno.exit;
  const listen = options.listen ?? Deno.addSignalListener;
  let stopping = false;
  for (const signal of options.signals ?? ["SIGTERM", "SIGINT"]) {
    const onSignal = () => {
      if (stopping) {
        options.log.warn("second signal, exiting now", { signal });
        exit(128 + (SIGNAL_NUMBERS[signal] ?? 0));
        return;
      }
      stopping = true;
      options.log.info("draining", { signal });
      options.drain().then((result) => {
        if (result.clean) options.log.info("drained", { ...result });
        else options.log.warn("drain timed out", { ...result });
        exit(result.clean ? 0 : 1);
      }, (err) => {
        options.log.error("drain failed", { error: err });
        exit(1);
      });
    };
    try {
      listen(signal, onSignal);
    } catch {
      // Some platforms cannot listen for every signal (SIGTERM on Windows).
    }
  }
}
