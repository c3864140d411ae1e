/**
 * Process-wide figures of the WebSocket outbound queues, kept here so that
 * metrics read them without reaching into the server that fills them.
 *
 * @module
 */

/** One queue the figures sum over. */
export interface QueuedBytes {
  /** Bytes the queue holds now. */
  readonly queuedBytes: number;
}

const live = new Set<QueuedBytes>();

/** Process-wide outbound figures, for metrics. */
export const outboundStats = {
  /** Connections with an outbound queue that are still open. */
  open: 0,
  /** Connections closed for falling behind. */
  droppedSlow: 0,
  /** Frames sent. */
  frames: 0,
  /** Bytes handed to sockets. */
  bytes: 0,
  /** Bytes queued across all open connections, summed on each call. */
  queuedBytes(): number {
    let total = 0;
    for (const q of live) total += q.queuedBytes;
    return total;
  },
  /** Counts a queue in until {@linkcode outboundStats.remove}. */
  add(queue: QueuedBytes): void {
    if (live.has(queue)) return;
    live.add(queue);
    this.open++;
  },
  /** Counts a queue out; a second call does nothing. */
  remove(queue: QueuedBytes): void {
    if (live.delete(queue)) this.open--;
  },
};
