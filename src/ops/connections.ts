/**
 * Tracks open WebSockets so the service can count them, measure delivery
 * latency, and close them all on shutdown.
 *
 * @module
 */

/** Close code for "going away": the server is shutting down. */
export const CLOSE_GOING_AWAY = 1001;

/** Hooks the WebSocket route calls over a socket's life. */
export interface SocketObserver {
  /** A socket finished its upgrade. */
  opened(socket: WebSocket): void;
  /** A protocol message of `bytes` bytes was handed to the socket. */
  sent(socket: WebSocket, bytes: number): void;
  /** The socket closed, for whatever reason. */
  closed(socket: WebSocket): void;
}

/** Receives delivery latencies in seconds. */
export type DeliveryObserver = (seconds: number) => void;

/**
 * Holds the open sockets. Delivery latency is the time from the arrival of
 * the most recent ingest request ({@linkcode Connections.markBatch}) to the
 * first message each socket is sent after it, which is when that socket's
 * viewers can first see the batch.
 */
export class Connections implements SocketObserver {
  readonly #open = new Map<WebSocket, { mark: number }>();
  #opened = 0;
  #bytesSent = 0;
  #lastBatch = 0;
  #onDelivery?: DeliveryObserver;

  /**
   * Creates an empty tracker.
   *
   * @param onDelivery Receives each delivery latency, in seconds.
   */
  constructor(onDelivery?: DeliveryObserver) {
    this.#onDelivery = onDelivery;
  }

  /** Number of open sockets. */
  get size(): number {
    return this.#open.size;
  }

  /** Sockets opened since start. */
  get openedTotal(): number {
    return this.#opened;
  }

  /** Protocol bytes handed to sockets since start. */
  get bytesSent(): number {
    return this.#bytesSent;
  }

  /** Records that an ingest request arrived now. */
  markBatch(): void {
    this.#lastBatch = performance.now();
  }

  /** {@inheritDoc SocketObserver.opened} */
  opened(socket: WebSocket): void {
    this.#opened++;
    this.#open.set(socket, { mark: this.#lastBatch });
  }

  /** {@inheritDoc SocketObserver.sent} */
  sent(socket: WebSocket, bytes: number): void {
    this.#bytesSent += bytes;
    const entry = this.#open.get(socket);
    if (!entry || entry.mark >= this.#lastBatch) return;
    entry.mark = this.#lastBatch;
    this.#onDelivery?.((performance.now() - this.#lastBatch) / 1000);
  }

  /** {@inheritDoc SocketObserver.closed} */
  closed(socket: WebSocket): void {
    this.#open.delete(socket);
  }

  /**
   * Closes every open socket with `code` and resolves once all have closed
   * or `timeoutMs` passed, whichever is first.
   *
   * @returns Sockets still open when it gave up.
   */
  async closeAll(
    code = CLOSE_GOING_AWAY,
    reason = "server shutting down",
    timeoutMs = 2000,
  ): Promise<number> {
    const sockets = [...this.#open.keys()];
    const closed = sockets.map((s) =>
      new Promise<void>((resolve) => {
        if (s.readyState === WebSocket.CLOSED) return resolve();
        s.addEventListener("close", () => resolve(), { once: true });
        try {
          s.close(code, reason);
        } catch {
          resolve();
        }
      })
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((r) => timer = setTimeout(r, timeoutMs));
    await Promise.race([Promise.all(closed), timeout]);
    clearTimeout(timer);
    const left = sockets.filter((s) => s.readyState !== WebSocket.CLOSED);
    // A peer that never answers the close handshake is dropped from the count.
    for (const s of left) this.#open.delete(s);
    return left.length;
  }
}
