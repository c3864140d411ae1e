/**
 * The engine server as the host's sessions see it, whether it runs on this
 * thread ({@linkcode LocalServer}) or in a Worker (`worker/remote.ts`).
 *
 * @module
 */

import { PerspectiveServer } from "./perspective.ts";
import { envelopeKind } from "./envelope.ts";
import { Req } from "../protocol/messages.ts";

/** Receives one outbound protocol message of a session. */
export type SessionCallback = (buffer: Uint8Array) => Promise<void>;

/** One engine session, as the engine's `make_session` returns it. */
export interface RawSession {
  /** The session's id in its server's client map. */
  readonly client_id: number;
  /**
   * Hands one protocol request to the engine; answers go to the session's
   * callback first. With `move`, the caller gives up `bytes`: a Worker
   * takes its buffer instead of a copy.
   */
  handle_request(bytes: Uint8Array, move?: boolean): Promise<void>;
  /** Closes the session in the engine and drops its client-map entry. */
  close(): void;
}

/** What the host needs of an engine server. */
export interface EngineServer {
  /** Opens a session whose outbound messages go to `callback`. */
  make_session(callback: SessionCallback): RawSession;
  /** Processes pending updates and sends their notifications. */
  poll(): Promise<void>;
  /** Entries in the engine's client map. */
  readonly clientCount: number;
  /**
   * Requests handed to the engine so far, by every session, that leave it
   * work for a poll (see {@linkcode leavesWork}).
   */
  readonly requestCount: number;
  /**
   * Whether outbound buffers handed to callbacks are already private copies;
   * the engine's own are views of its memory, freed after the callback.
   */
  readonly ownsBuffers: boolean;
  /**
   * Why the server can no longer answer (its Worker died or was stopped),
   * or undefined while it can.
   */
  readonly failure: Error | undefined;
  /** Stops the server; later calls fail. */
  close(): void;
}

type Callback = (buffer: Uint8Array) => Promise<void>;

/**
 * A client map that answers unknown ids with a no-op, so a message the engine
 * still routes to a just-closed session cannot throw into whichever session's
 * call happened to trigger the poll.
 */
export class SafeClientMap extends Map<number, Callback> {
  static readonly #noop: Callback = () => Promise.resolve();

  /** Returns the callback for `id`, or a no-op when it is gone. */
  override get(id: number): Callback {
    return super.get(id) ?? SafeClientMap.#noop;
  }
}

/** The requests that mark a table as having updates to process. */
const LEAVES_WORK = new Set<number>([Req.TABLE_UPDATE, Req.TABLE_REMOVE, Req.TABLE_REPLACE]);

/**
 * Whether a request leaves the engine work that only a poll does. Only an
 * update, a remove or a replace marks a table dirty; the engine processes a
 * dirty table itself before any read of it answers. Polling after every
 * other request too would only add empty polls, each an engine call, and
 * each a reason for shared views to read again.
 */
export function leavesWork(request: Uint8Array): boolean {
  return LEAVES_WORK.has(envelopeKind(request));
}

/** Options for {@linkcode LocalServer}. */
export interface LocalServerOptions {
  /**
   * Called after each request that leaves work for a poll, instead of
   * polling at once (see `conflate.ts`).
   */
  onPollRequest?: () => void;
}

/** The engine on this thread. */
export class LocalServer implements EngineServer {
  /** The engine package's server object; tests reach its memory through it. */
  readonly engine: PerspectiveServer;
  readonly ownsBuffers = false;
  /** Requests handed to the engine so far that leave work for a poll. */
  requestCount = 0;
  readonly #onPoll: (() => void) | undefined;

  constructor(options: LocalServerOptions = {}) {
    this.#onPoll = options.onPollRequest;
    // With the hook set, the engine leaves polling to its caller; the
    // sessions below ask for a poll only where there is work for one.
    this.engine = new PerspectiveServer(
      this.#onPoll ? { on_poll_request: () => Promise.resolve() } : undefined,
    );
    const safe = new SafeClientMap();
    for (const [id, cb] of this.engine.clients) safe.set(id, cb);
    this.engine.clients = safe;
  }

  /** Opens an engine session. */
  make_session(callback: SessionCallback): RawSession {
    const raw = this.engine.make_session(callback) as unknown as RawSession;
    const clients = this.engine.clients;
    return {
      client_id: raw.client_id,
      handle_request: async (bytes) => {
        const work = leavesWork(bytes);
        if (work) this.requestCount++;
        await raw.handle_request(bytes);
        if (work) this.#onPoll?.();
      },
      close: () => {
        try {
          raw.close();
        } finally {
          clients.delete(raw.client_id);
        }
      },
    };
  }

  /** Polls the engine. */
  poll(): Promise<void> {
    return this.engine.poll();
  }

  /** Entries in the engine's client map. */
  get clientCount(): number {
    return this.engine.clients.size;
  }

  /** An engine on this thread answers as long as the process runs. */
  readonly failure = undefined;

  /** The engine's memory is shared by the process's servers and is not freed. */
  close(): void {}
}
