/**
 * The messages between the main thread and the engine Worker. Requests and
 * answers carry protocol bytes whose buffers are transferred, not copied.
 *
 * @module
 */

/** Main thread to Worker. */
export type ToWorker =
  /** Opens session `id` (numbered by the main thread). */
  | { t: "open"; id: number }
  /** Hands one protocol request of session `id` to the engine; answered by `done` with `seq`. */
  | { t: "req"; id: number; seq: number; bytes: Uint8Array }
  /** Closes session `id`. */
  | { t: "close"; id: number }
  /** Polls the engine; answered by `done` with `seq`. */
  | { t: "poll"; seq: number }
  /** Fault seam for tests: the Worker throws an uncaught error. */
  | { t: "fault" };

/** Worker to main thread. */
export type FromWorker =
  /** The engine is loaded. */
  | { t: "ready" }
  /** One outbound protocol message of session `id`. */
  | { t: "msg"; id: number; bytes: Uint8Array }
  /**
   * The call `seq` is finished, after every message it caused; `clients` is
   * the engine's client-map size then.
   */
  | {
    t: "done";
    seq: number;
    clients: number;
    error?: string;
    /**
     * Outbound messages not yet sent, in order, each for session `id`: they
     * ride with the answer rather than cost a message of their own.
     */
    msgs?: { id: number; bytes: Uint8Array }[];
  }
  /** The engine's client-map size after a session closed. */
  | { t: "clients"; clients: number }
  /** The engine asks for a poll (its `on_poll_request`). */
  | { t: "poll-request" };

/**
 * The transfer list for `bytes`: its buffer when the view spans all of it,
 * else none (the message is then copied, and a view of a larger buffer
 * does not detach memory its owner still uses).
 */
export function transferable(bytes: Uint8Array): ArrayBuffer[] {
  const buffer = bytes.buffer;
  return buffer instanceof ArrayBuffer && bytes.byteOffset === 0 &&
      bytes.byteLength === buffer.byteLength
    ? [buffer]
    : [];
}

/**
 * `bytes` in a buffer of its own, which can be moved. A view into a larger
 * buffer is copied out: posted as it is, it would be cloned whole, buffer
 * and all, and the engine client encodes each request as a view into its
 * WebAssembly memory, which grows to hundreds of megabytes once a large
 * table has passed through it.
 */
export function ownBuffer(bytes: Uint8Array): Uint8Array {
  return transferable(bytes).length > 0 ? bytes : bytes.slice();
}
