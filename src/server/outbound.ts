/**
 * A bounded outbound queue per WebSocket. The socket's own send buffer is the
 * queue (`bufferedAmount`); a connection whose backlog would pass the bound
 * is closed with {@linkcode CLOSE_SLOW_CONSUMER}, so one slow viewer never
 * grows the server's memory or slows the others. The client may reconnect:
 * it starts again from a fresh snapshot.
 *
 * @module
 */

import { outboundStats } from "../ops/outbound_stats.ts";

export { outboundStats };

/**
 * Close code for a client that fell behind: its outbound backlog passed the
 * bound. A client should reconnect, after a pause, for a fresh snapshot.
 */
export const CLOSE_SLOW_CONSUMER = 4008;

/** Default for {@linkcode OutboundOptions.maxBufferedBytes}: 8 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** Options for {@linkcode Outbound}. */
export interface OutboundOptions {
  /** Bytes a connection may have queued before it is closed as too slow. @default 8 MiB */
  maxBufferedBytes?: number;
}

/** What the queue needs from a socket; a `WebSocket` fits. */
export interface OutboundSocket {
  /** Bytes queued but not yet written to the network. */
  readonly bufferedAmount: number;
  /** `WebSocket.OPEN` while sending is possible. */
  readonly readyState: number;
  /** Queues a frame. */
  send(data: Uint8Array | string): void;
  /** Closes the connection. */
  close(code?: number, reason?: string): void;
}

/** Sends through one socket, closing it when its backlog passes the bound. */
export class Outbound {
  readonly #socket: OutboundSocket;
  readonly #max: number;
  #dropped = false;

  constructor(socket: OutboundSocket, options: OutboundOptions = {}) {
    this.#socket = socket;
    this.#max = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    if (!(this.#max > 0)) {
      throw new RangeError(`maxBufferedBytes must be positive, got ${this.#max}`);
    }
    outboundStats.add(this);
  }

  /** Bytes this connection has queued. */
  get queuedBytes(): number {
    return this.#socket.readyState === WebSocket.OPEN ? this.#socket.bufferedAmount : 0;
  }

  /** Whether the connection was closed for falling behind. */
  get dropped(): boolean {
    return this.#dropped;
  }

  /**
   * Queues a frame, or closes the connection with
   * {@linkcode CLOSE_SLOW_CONSUMER} when the frame would take a non-empty
   * backlog past the bound (an empty one takes any frame). Never throws.
   *
   * @returns Whether the frame was queued.
   */
  send(data: Uint8Array | string): boolean {
    if (this.#dropped || this.#socket.readyState !== WebSocket.OPEN) return false;
    const size = typeof data === "string" ? data.length * 3 : data.byteLength;
    const queued = this.#socket.bufferedAmount;
    // An empty queue takes any frame, so one large snapshot does not drop everyone.
    if (queued > 0 && queued + size > this.#max) {
      this.#dropped = true;
      outboundStats.droppedSlow++;
      try {
        this.#socket.close(CLOSE_SLOW_CONSUMER, "outbound queue full");
      } catch {
        // Already closing.
      }
      return false;
    }
    try {
      this.#socket.send(data);
      outboundStats.frames++;
      outboundStats.bytes += size;
      return true;
    } catch {
      return false;
    }
  }

  /** Forgets the connection; call once when its socket closes. */
  release(): void {
    outboundStats.remove(this);
  }
}
