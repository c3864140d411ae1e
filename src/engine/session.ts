/**
 * One protocol session between a remote client and the engine, with the
 * engine's known traps handled in one place.
 *
 * @module
 */

import type { EngineServer, RawSession, SessionCallback } from "./server.ts";
import type { Logger } from "../ops/log.ts";
import { decodeEnvelope, encodeEnvelope, type Envelope, readString } from "./envelope.ts";
import { Req } from "../protocol/messages.ts";
import { WindowedReads, type WindowOrder } from "./windowed_read.ts";
import type { BulkPacer } from "./bulk_pacer.ts";

/** Receives a copy of each outbound protocol message. Must not throw. */
export type SendFn = (bytes: Uint8Array) => void;

/**
 * Message ids of the session's own requests; shared views use the range
 * above. The stock client picks its ids at random, and an answer is held
 * back only while a request with its exact id is in flight here, so a clash
 * with a client's id is vanishingly rare.
 */
const OWN_MSG_BASE = 0xfffe0000;
const OWN_MSG_COUNT = 0x10000;
const EMPTY = new Uint8Array(0);

/** Request kinds that change a table's rows, applied by the engine's next poll. */
const WRITES = new Set<number>([
  Req.MAKE_TABLE,
  Req.TABLE_UPDATE,
  Req.TABLE_REMOVE,
  Req.TABLE_REPLACE,
]);

/** Per engine server, who wants to hear of writes. */
const writeWatchers = new WeakMap<EngineServer, Set<(table: string) => void>>();

/**
 * Calls `fn` with the table name of every write request any session of
 * `server` hands to the engine, before the engine sees it. Shared views use
 * it to know when a table may have changed under a view.
 *
 * @returns A function that stops the calls.
 */
export function watchWrites(server: EngineServer, fn: (table: string) => void): () => void {
  let set = writeWatchers.get(server);
  if (!set) writeWatchers.set(server, set = new Set());
  set.add(fn);
  return () => set.delete(fn);
}

/** Options for {@linkcode EngineSession}. */
export interface SessionOptions {
  /**
   * Requests are handed over, not lent: the caller never reads them again,
   * so a Worker may take their buffers. @default false
   */
  moveRequests?: boolean;
  /**
   * A client's `to_arrow` of more than about 50k cells is read in windows
   * (see `windowed_read.ts`), so that other sessions are served between
   * them. @default false
   */
  windowedReads?: boolean;
  /** Which requests wait for a windowed read. @default "session" */
  windowOrder?: WindowOrder;
  /**
   * Paces the windows of windowed reads and hears of the session's other
   * requests (see `bulk_pacer.ts`). @default no pacing
   */
  pacer?: BulkPacer;
}

/**
 * A live session; {@linkcode EngineSession.close} removes every trace of it.
 * It knows which views its client made on which table, so that dropping a
 * table can delete them first: the engine refuses to delete a table that
 * still has views.
 */
export class EngineSession {
  readonly #server: EngineServer;
  readonly #raw: RawSession;
  readonly #log: Logger;
  readonly #onClose?: () => void;
  /** View id to table name, for each view the engine made for this session. */
  readonly #views = new Map<string, string>();
  /** Make-view requests awaiting their answer, by message id. */
  readonly #making = new Map<number, { viewId: string; table: string }>();
  /**
   * The session's own requests in flight, whose answers the client never
   * asked for, by message id, with what wants the answer.
   */
  readonly #own = new Map<number, ((answer: Envelope) => void) | undefined>();
  readonly #send: SendFn;
  readonly #windows: WindowedReads | undefined;
  #nextOwn = 0;
  #closed = false;
  readonly #move: boolean;
  readonly #pacer: BulkPacer | undefined;

  /**
   * @param server The engine server that owns the session.
   * @param send Called with a private copy of each outbound message.
   * @param log Where request failures are reported.
   * @param onClose Runs once, after the session is closed.
   */
  constructor(
    server: EngineServer,
    send: SendFn,
    log: Logger,
    onClose?: () => void,
    options: SessionOptions = {},
  ) {
    this.#move = options.moveRequests ?? false;
    this.#pacer = options.pacer;
    this.#send = send;
    if (options.windowedReads) {
      this.#windows = new WindowedReads(
        (entityId, kind, body) => this.#ask(entityId, kind, body),
        (bytes) => this.#deliver(bytes),
        log,
        options.windowOrder,
        options.pacer?.window,
      );
    }
    this.#server = server;
    this.#log = log;
    this.#onClose = onClose;
    // The engine frees the message memory once this promise resolves, so its
    // bytes are copied before anything else sees them; a Worker's are copies already.
    const owned = server.ownsBuffers;
    const callback: SessionCallback = (buffer) => {
      if ((this.#making.size > 0 || this.#own.size > 0) && this.#ownAnswer(buffer)) {
        return Promise.resolve();
      }
      this.#deliver(owned ? buffer : buffer.slice());
      return Promise.resolve();
    };
    this.#raw = server.make_session(callback);
  }

  /** The engine's id for this session. */
  get id(): number {
    return this.#raw.client_id;
  }

  /** Whether {@linkcode EngineSession.close} has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Number of views this session holds in the engine. */
  get viewCount(): number {
    return this.#views.size;
  }

  /**
   * Hands one inbound protocol message to the engine. Never rejects: a
   * failure is logged and leaves other sessions untouched.
   */
  async handle(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return;
    let env: Envelope | undefined;
    try {
      env = decodeEnvelope(bytes);
    } catch {
      // The engine answers what it makes of it.
    }
    if (env && this.#windows?.claims(env)) {
      // The caller may reuse its buffer once this yields: the engine client
      // encodes each request into its own memory.
      const own = bytes.slice();
      const req = decodeEnvelope(own);
      return await this.#windows.run(req, () => this.#forward(own, req));
    }
    return await this.#forward(bytes, env);
  }

  /** Hands a request to the engine, noting the views it makes. */
  async #forward(bytes: Uint8Array, env: Envelope | undefined): Promise<void> {
    if (this.#closed) return;
    // A request handed over whole is not bulk work: while such requests
    // come, bulk windows leave the engine room for them.
    this.#pacer?.noteOther();
    const making = this.#track(env);
    try {
      await this.#raw.handle_request(bytes, this.#move);
    } catch (err) {
      this.#log.warn("protocol request failed", { session: this.id, error: err });
    } finally {
      // The engine answers during the call; an unanswered request made no view.
      if (making !== undefined) this.#making.delete(making);
    }
  }

  /**
   * Deletes this session's views on `table` in the engine, as its client
   * would: the engine sends the client's `on_delete` callbacks, and later
   * calls on those views fail with the engine's "View not found". The
   * requests go through this session because the engine files each view
   * under the session that made it, and closing a session whose view
   * another session deleted throws inside the engine.
   *
   * @returns How many views were deleted.
   */
  async deleteViewsOn(table: string): Promise<number> {
    if (this.#closed) return 0;
    const ids = [...this.#views].filter(([, t]) => t === table).map(([id]) => id);
    for (const id of ids) {
      this.#views.delete(id);
      const msgId = OWN_MSG_BASE + (this.#nextOwn++ % OWN_MSG_COUNT);
      this.#own.set(msgId, undefined);
      try {
        await this.#raw.handle_request(
          encodeEnvelope({ msgId, entityId: id, kind: Req.VIEW_DELETE, body: EMPTY }),
        );
      } catch (err) {
        this.#log.warn("deleting a view of a dropped table failed", {
          session: this.id,
          table,
          error: err,
        });
      } finally {
        this.#own.delete(msgId);
      }
    }
    return ids.length;
  }

  /**
   * Sends a request of the session's own and resolves with its answer, or
   * undefined when none came (the session closed).
   */
  async #ask(entityId: string, kind: number, body: Uint8Array): Promise<Envelope | undefined> {
    if (this.#closed) return undefined;
    const msgId = OWN_MSG_BASE + (this.#nextOwn++ % OWN_MSG_COUNT);
    let answer: Envelope | undefined;
    this.#own.set(msgId, (env) => answer = env);
    try {
      await this.#raw.handle_request(encodeEnvelope({ msgId, entityId, kind, body }), true);
    } finally {
      this.#own.delete(msgId);
    }
    return answer;
  }

  /** Hands one outbound message to the client, unless the session is closed. */
  #deliver(bytes: Uint8Array): void {
    if (this.#closed) return;
    try {
      this.#send(bytes);
    } catch (err) {
      this.#log.debug("session send failed", { error: err });
    }
  }

  /** Notes views made and deleted; returns the id of a make-view request to watch. */
  #track(env: Envelope | undefined): number | undefined {
    if (!env) return undefined;
    // A kind newer than this protocol might write, so it counts as one.
    if (WRITES.has(env.kind) || env.kind > Req.REMOVE_HOSTED_TABLES_UPDATE) {
      const watchers = writeWatchers.get(this.#server);
      if (watchers) { for (const fn of watchers) fn(env.entityId); }
    } else if (env.kind === Req.VIEW_DELETE) {
      this.#views.delete(env.entityId);
    } else if (env.kind === Req.TABLE_MAKE_VIEW) {
      let viewId: string | undefined;
      try {
        viewId = readString(env.body, 1);
      } catch {
        return undefined;
      }
      if (viewId === undefined) return undefined;
      this.#making.set(env.msgId, { viewId, table: env.entityId });
      return env.msgId;
    }
    return undefined;
  }

  /**
   * Records a made view from its answer; true for answers to the session's
   * own requests, which are not passed on.
   */
  #ownAnswer(buffer: Uint8Array): boolean {
    let env: Envelope;
    try {
      env = decodeEnvelope(buffer);
    } catch {
      return false;
    }
    if (this.#own.has(env.msgId)) {
      const wanted = this.#own.get(env.msgId);
      // The engine's buffer is freed once the callback returns.
      wanted?.({ ...env, body: this.#server.ownsBuffers ? env.body : env.body.slice() });
      return true;
    }
    const making = this.#making.get(env.msgId);
    if (making) {
      this.#making.delete(env.msgId);
      if (env.kind === Req.TABLE_MAKE_VIEW) this.#views.set(making.viewId, making.table);
    }
    return false;
  }

  /** Closes the engine session and drops its entry from the client map. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#views.clear();
    this.#making.clear();
    try {
      this.#raw.close();
    } finally {
      this.#onClose?.();
    }
  }
}
