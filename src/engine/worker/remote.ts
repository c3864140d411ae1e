/**
 * The main thread's handle on the engine Worker: an {@linkcode EngineServer}
 * whose sessions and polls are carried out in the Worker. Calls are
 * answered in the order they were made, and every message a call causes
 * arrives before its answer, as with the engine on this thread.
 *
 * @module
 */

import { type EngineServer, leavesWork, type RawSession, type SessionCallback } from "../server.ts";
import { type FromWorker, ownBuffer, type ToWorker, transferable } from "./protocol.ts";

/** Options for {@linkcode RemoteServer.start}. */
export interface RemoteServerOptions {
  /** The engine asks for a poll after each request (see `conflate.ts`). */
  onPollRequest: () => void;
  /**
   * The Worker died (an uncaught error, an aborted engine): every call in
   * flight and every later one fails. Called once.
   */
  onFatal: (error: Error) => void;
}

/** Thrown by calls on an engine whose Worker has died. */
export class EngineWorkerError extends Error {}

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** The engine server in a Worker. */
export class RemoteServer implements EngineServer {
  readonly ownsBuffers = true;
  readonly #worker: Worker;
  readonly #options: RemoteServerOptions;
  readonly #callbacks = new Map<number, SessionCallback>();
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #nextSeq = 1;
  #clients = 0;
  #failure: Error | undefined;
  /** Requests posted to the Worker so far that leave work for a poll. */
  requestCount = 0;

  private constructor(worker: Worker, options: RemoteServerOptions) {
    this.#worker = worker;
    this.#options = options;
  }

  /** Starts the Worker and resolves once its engine is loaded. */
  static start(options: RemoteServerOptions): Promise<RemoteServer> {
    const worker = new Worker(new URL("./engine_worker.ts", import.meta.url), { type: "module" });
    const server = new RemoteServer(worker, options);
    return new Promise((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        if (event.data.t !== "ready") return;
        worker.onmessage = (e: MessageEvent<FromWorker>) => server.#receive(e.data);
        resolve(server);
      };
      worker.onerror = (event) => {
        event.preventDefault();
        const error = new EngineWorkerError(`engine worker failed: ${event.message}`);
        if (server.#failure === undefined && server.#pending.size === 0 && !server.#started) {
          worker.terminate();
          reject(error);
          return;
        }
        server.#fail(error);
      };
      worker.onmessageerror = () =>
        server.#fail(new EngineWorkerError("engine worker message lost"));
    });
  }

  get #started(): boolean {
    return this.#nextSeq > 1 || this.#nextId > 1;
  }

  /** Why the Worker died, or undefined while it lives. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Entries in the engine's client map, as of the last answered call. */
  get clientCount(): number {
    return this.#clients;
  }

  /** Opens a session in the Worker; its messages go to `callback`. */
  make_session(callback: SessionCallback): RawSession {
    const id = this.#nextId++;
    this.#callbacks.set(id, callback);
    this.#post({ t: "open", id });
    return {
      client_id: id,
      handle_request: (bytes, move) => {
        // Posting a view clones its whole buffer, which for a client's
        // request is often its WebAssembly memory: only its own bytes travel.
        if (leavesWork(bytes)) this.requestCount++;
        const own = move ? ownBuffer(bytes) : bytes.slice();
        return this.#call((seq) => ({ t: "req", id, seq, bytes: own }), own);
      },
      close: () => {
        if (!this.#callbacks.delete(id)) return;
        this.#post({ t: "close", id });
      },
    };
  }

  /** Polls the engine in the Worker. */
  poll(): Promise<void> {
    return this.#call((seq) => ({ t: "poll", seq }));
  }

  /** Fault seam for tests: makes the Worker throw an uncaught error. */
  injectFault(): void {
    this.#post({ t: "fault" });
  }

  /** Stops the Worker; calls in flight fail. */
  close(): void {
    this.#fail(new EngineWorkerError("engine closed"), false);
  }

  #call(message: (seq: number) => ToWorker, bytes?: Uint8Array): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    const seq = this.#nextSeq++;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(seq, { resolve, reject });
      this.#post(message(seq), bytes);
    });
  }

  #post(message: ToWorker, bytes?: Uint8Array): void {
    if (this.#failure) return;
    this.#worker.postMessage(message, bytes ? transferable(bytes) : []);
  }

  #receive(m: FromWorker): void {
    switch (m.t) {
      case "msg": {
        const callback = this.#callbacks.get(m.id);
        if (callback) void callback(m.bytes);
        break;
      }
      case "done": {
        for (const msg of m.msgs ?? []) this.#receive({ t: "msg", id: msg.id, bytes: msg.bytes });
        this.#clients = m.clients;
        const pending = this.#pending.get(m.seq);
        this.#pending.delete(m.seq);
        if (m.error === undefined) pending?.resolve();
        else pending?.reject(new Error(m.error));
        break;
      }
      case "clients":
        this.#clients = m.clients;
        break;
      case "poll-request":
        this.#options.onPollRequest();
        break;
    }
  }

  #fail(error: Error, fatal = true): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#worker.terminate();
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
    this.#callbacks.clear();
    if (fatal) this.#options.onFatal(error);
  }
}
