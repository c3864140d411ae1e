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
      post({ t: "done", seq, clients: 0, error });
      setTimeout(() => {
        throw err;
      });
      return;
    }
  }
  post({ t: "done", seq, clients: server.clientCount, error });
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
          post({ t: "msg", id: m.id, bytes: copy }, transferable(copy));
          return Promise.resolve();
        }),
      );
      break;
    case "req": {
      const session = sessions.get(m.id);
      void answer(m.seq, () => session ? session.handle_request(m.bytes) : Promise.resolve());
      break;
    }
    case "close":
      sessions.get(m.id)?.close();
      sessions.delete(m.id);
      post({ t: "clients", clients: server.clientCount });
      break;
    case "poll":
      void answer(m.seq, () => server.poll());
      break;
    case "fault":
      throw new Error("engine worker fault injected");
  }
};

post({ t: "ready" });
