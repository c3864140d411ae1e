/**
 * One protocol session between a remote client and the engine, with the
 * engine's known traps handled in one place.
 *
 * @module
 */

import type { PerspectiveServer } from "./perspective.ts";
import type { Logger } from "../ops/log.ts";

/** Receives a copy of each outbound protocol message. Must not throw. */
export type SendFn = (bytes: Uint8Array) => void;

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

/** Installs a {@linkcode SafeClientMap} on a server before any session exists. */
export function installSafeClientMap(server: PerspectiveServer): void {
  const safe = new SafeClientMap();
  for (const [id, cb] of server.clients) safe.set(id, cb);
  server.clients = safe;
}

interface RawSession {
  client_id: number;
  handle_request(view: Uint8Array): Promise<void>;
  close(): void;
}

/** A live session; {@linkcode EngineSession.close} removes every trace of it. */
export class EngineSession {
  readonly #server: PerspectiveServer;
  readonly #raw: RawSession;
  readonly #log: Logger;
  readonly #onClose?: () => void;
  #closed = false;

  /**
   * @param server The engine server that owns the session.
   * @param send Called with a private copy of each outbound message.
   * @param log Where request failures are reported.
   * @param onClose Runs once, after the session is closed.
   */
  constructor(server: PerspectiveServer, send: SendFn, log: Logger, onClose?: () => void) {
    this.#server = server;
    this.#log = log;
    this.#onClose = onClose;
    // The engine frees the message memory once this promise resolves, so the
    // bytes are copied before anything else sees them.
    const callback: Callback = (buffer) => {
      if (!this.#closed) {
        const copy = buffer.slice();
        try {
          send(copy);
        } catch (err) {
          this.#log.debug("session send failed", { error: err });
        }
      }
      return Promise.resolve();
    };
    this.#raw = server.make_session(callback) as unknown as RawSession;
  }

  /** The engine's id for this session. */
  get id(): number {
    return this.#raw.client_id;
  }

  /** Whether {@linkcode EngineSession.close} has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Hands one inbound protocol message to the engine. Never rejects: a
   * failure is logged and leaves other sessions untouched.
   */
  async handle(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#raw.handle_request(bytes);
    } catch (err) {
      this.#log.warn("protocol request failed", { session: this.id, error: err });
    }
  }

  /** Closes the engine session and drops its entry from the client map. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#raw.close();
    } finally {
      this.#server.clients.delete(this.#raw.client_id);
      this.#onClose?.();
    }
  }
}
