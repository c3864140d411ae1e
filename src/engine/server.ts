/**
 * The engine server as the host's sessions see it, whether it runs on this
 * thread ({@linkcode LocalServer}) or in a Worker (`worker/remote.ts`).
 *
 * @module
 */

import { PerspectiveServer } from "./perspective.ts";

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
  /** Requests handed to the engine so far, by every session. */
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

/** Options for {@linkcode LocalServer}. */
export interface LocalServerOptions {
  /** Called after every request instead of polling at once (see `conflate.ts`). */
  onPollRequest?: () => void;
}

/** The engine on this thread. */
export class LocalServer implements EngineServer {
  /** The engine package's server object; tests reach its memory through it. */
  readonly engine: PerspectiveServer;
  readonly ownsBuffers = false;
  /** Requests handed to the engine so far. */
  requestCount = 0;

  constructor(options: LocalServerOptions = {}) {
    const onPoll = options.onPollRequest;
    this.engine = new PerspectiveServer(
      onPoll ? { on_poll_request: () => Promise.resolve(onPoll()) } : undefined,
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
      handle_request: (bytes) => {
        this.requestCount++;
        return raw.handle_request(bytes);
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
