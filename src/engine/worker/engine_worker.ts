/**
 * The engine Worker's entry: hosts the engine server and its sessions, so
 * the engine's work never runs on the thread that serves HTTP and
 * WebSockets. It imports nothing above `engine/`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { LocalServer, type RawSession } from "../server.ts";
import { type FromWorker, type ToWorker, transferable } from "./protocol.ts";

const post = (message: FromWorker, transfer: ArrayBuffer[] = []) =>
  self.postMessage(message, transfer);

/**
 * Outbound messages waiting for the next answer. The engine makes messages
 * only while it handles a request or a poll, whose answer follows them, so
 * they travel with it: one message to the main thread per call, not one
 * per protocol message, which matters at a thousand viewers.
 */
let outbox: { id: number; bytes: Uint8Array }[] = [];
let outboxTransfer: ArrayBuffer[] = [];

/** Empties the outbox, returning what it held and the buffers to move. */
function takeOutbox(): { msgs: { id: number; bytes: Uint8Array }[]; transfer: ArrayBuffer[] } {
  const taken = { msgs: outbox, transfer: outboxTransfer };
  outbox = [];
  outboxTransfer = [];
  return taken;
}

/** Reports call `seq` done, carrying the messages made before it. */
function done(seq: number, clients: number, error?: string): void {
  const { msgs, transfer } = takeOutbox();
  post({ t: "done", seq, clients, error, msgs: msgs.length ? msgs : undefined }, transfer);
}

const server = new LocalServer({ onPollRequest: () => post({ t: "poll-request" }) });
const sessions = new Map<number, RawSession>();

/** Runs `work` and reports `seq` done, with its failure if any. */
async function answer(seq: number, work: () => Promise<void>): Promise<void> {
  let error: string | undefined;
  try {
    await work();
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
    // A trap inside the engine's WebAssembly leaves its memory in an
    // unknown state: the Worker dies, and the main thread reports it,
    // rather than answer later calls from a broken engine.
    if (err instanceof WebAssembly.RuntimeError) {
      done(seq, 0, error);
      setTimeout(() => {
        throw err;
      });
      return;
    }
  }
  done(seq, server.clientCount, error);
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  switch (m.t) {
    case "open":
      sessions.set(
        m.id,
        server.make_session((buffer) => {
          // The engine frees `buffer` once this resolves: send a copy, moved.
          const copy = buffer.slice();
          outbox.push({ id: m.id, bytes: copy });
          outboxTransfer.push(...transferable(copy));
          return Promise.resolve();
        }),
      );
      break;
    case "req": {
      const session = sessions.get(m.id);
      void answer(m.seq, () => session ? session.handle_request(m.bytes) : Promise.resolve());
      break;
    }
    case "close": {
      sessions.get(m.id)?.close();
      sessions.delete(m.id);
      // A close is not a call: whatever it made goes out on its own.
      for (const msg of takeOutbox().msgs) {
        post({ t: "msg", id: msg.id, bytes: msg.bytes }, transferable(msg.bytes));
      }
      post({ t: "clients", clients: server.clientCount });
      break;
    }
    case "poll":
      void answer(m.seq, () => server.poll());
      break;
    case "fault":
      throw new Error("engine worker fault injected");
  }
};

post({ t: "ready" });
