/**
 * Shared views for server-only viewers. Many viewers of one table usually
 * open the same view (the default grid, the same sort). Each would cost the
 * engine a view recomputed on every update and a query per notification; here
 * viewers whose `table_make_view_req` carries the same configuration share
 * one engine view. Their `on_update` subscriptions share one engine
 * subscription, and identical reads between two polls (the visible window
 * after a notification) are computed once and answered to each with its own
 * `msg_id` and view id.
 *
 * A request that changes a view's state (expand, collapse, set depth) gives
 * that viewer a private engine view first, made from its own original
 * requests, so sharing never changes what a viewer sees.
 *
 * Dropping a table deletes its shared views, which sends their viewers'
 * `on_delete` callbacks; later requests on them are answered as the engine
 * answers for a deleted view.
 *
 * @module
 */

import type { EngineHost } from "./host.ts";
import type { EngineSession, SendFn } from "./session.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
  readString,
  readVarint,
  replaceString,
  stringMessage,
  withoutField,
} from "./envelope.ts";
import { Req, SERVER_ERROR } from "../protocol/messages.ts";
import { pushBytes, pushVarintField } from "../protocol/wire.ts";

/** Reads whose answer depends only on the view and the engine state. */
const READS = new Set<number>([
  Req.VIEW_COLUMN_PATHS,
  Req.VIEW_DIMENSIONS,
  Req.VIEW_EXPRESSION_SCHEMA,
  Req.VIEW_GET_CONFIG,
  Req.VIEW_SCHEMA,
  Req.VIEW_TO_ARROW,
  Req.VIEW_GET_MIN_MAX,
  Req.VIEW_TO_COLUMNS_STRING,
  Req.VIEW_TO_CSV,
  Req.VIEW_TO_ROWS_STRING,
  Req.VIEW_TO_NDJSON_STRING,
]);

const EMPTY = new Uint8Array(0);

/** `StatusCode.VIEW_NOT_FOUND` in `perspective.proto`. */
const VIEW_NOT_FOUND = 1;

/** A `ServerError` body like the engine's for a view that no longer exists. */
function viewNotFound(): Uint8Array {
  const out: number[] = [];
  pushBytes(out, 1, new TextEncoder().encode("View not found"));
  pushVarintField(out, 2, VIEW_NOT_FOUND);
  return new Uint8Array(out);
}

interface Listener {
  session: ViewerSession;
  viewId: string;
  msgId: number;
}

class SharedView {
  refs = 0;
  /** Set once its table is dropped and the engine view deleted. */
  dead = false;
  cache = new Map<string, Promise<Envelope>>();
  /** Engine subscriptions by kind and body, each with the viewers listening. */
  readonly subs = new Map<string, { msgId: number; listeners: Listener[] }>();
  constructor(readonly key: string, readonly internalId: string) {}
}

/** The start of the keys of a table's shared views. */
function keyPrefix(table: string): string {
  return `${table}\u0000`;
}

interface Alias {
  view: SharedView;
  /** The viewer's own make-view request, replayed if it needs a private view. */
  makeRequest: Uint8Array;
  /** Its own on_update and on_delete requests, replayed likewise. */
  subscriptions: Uint8Array[];
}

/** Counters, for tests and metrics. */
export interface SharedViewStats {
  /** Engine views shared now. */
  views: number;
  /** Viewer views mapped onto them. */
  aliases: number;
  /** Reads answered from another viewer's identical read. */
  cachedReads: number;
  /** Reads sent to the engine. */
  engineReads: number;
}

/** Shares identical views between a host's viewer sessions. */
export class SharedViews {
  #internal: EngineSession | undefined;
  #openSessions = 0;
  readonly #views = new Map<string, SharedView>();
  readonly #creating = new Map<string, Promise<SharedView | Envelope>>();
  readonly #pending = new Map<number, (env: Envelope) => void>();
  readonly #persistent = new Set<number>();
  #nextMsg = 1;
  #nextView = 1;
  #cachedReads = 0;
  #engineReads = 0;

  constructor(readonly host: EngineHost) {
    // Answers are valid between two polls only.
    host.conflator.afterPoll(() => {
      for (const v of this.#views.values()) v.cache = new Map();
    });
  }

  /** A snapshot of the counters. */
  get stats(): SharedViewStats {
    let aliases = 0;
    for (const v of this.#views.values()) aliases += v.refs;
    return {
      views: this.#views.size,
      aliases,
      cachedReads: this.#cachedReads,
      engineReads: this.#engineReads,
    };
  }

  /** Opens a viewer session whose views are shared where possible. */
  openSession(send: SendFn): ViewerSession {
    this.#openSessions++;
    return new ViewerSession(this, send);
  }

  /** Called once by each viewer session as it closes. */
  sessionClosed(): void {
    this.#openSessions--;
    this.#closeWhenIdle();
  }

  /**
   * The internal session lives only while viewers do, so a service without
   * viewers leaves nothing behind in the engine's client map.
   */
  #closeWhenIdle(): void {
    if (this.#openSessions > 0 || this.#views.size > 0 || this.#creating.size > 0) return;
    if (this.#pending.size > this.#persistent.size) return;
    this.#internal?.close();
    this.#internal = undefined;
    this.#pending.clear();
    this.#persistent.clear();
  }

  #onResponse(bytes: Uint8Array): void {
    let env: Envelope;
    try {
      env = decodeEnvelope(bytes);
    } catch {
      return;
    }
    const handler = this.#pending.get(env.msgId);
    if (!handler) return;
    if (!this.#persistent.has(env.msgId)) this.#pending.delete(env.msgId);
    handler(env);
    this.#closeWhenIdle();
  }

  #request(entityId: string, kind: number, body: Uint8Array, onResponse: (e: Envelope) => void) {
    const msgId = this.#nextMsg++;
    this.#pending.set(msgId, onResponse);
    this.#internal ??= this.host.openInternalSession((bytes) => this.#onResponse(bytes));
    void this.#internal.handle(encodeEnvelope({ msgId, entityId, kind, body }));
    return msgId;
  }

  #call(entityId: string, kind: number, body: Uint8Array): Promise<Envelope> {
    return new Promise((resolve) => this.#request(entityId, kind, body, resolve));
  }

  /** The shared view for a make-view request, or the engine's error response. */
  async acquire(table: string, body: Uint8Array): Promise<SharedView | Envelope> {
    const key = `${keyPrefix(table)}${withoutField(body, 1)}`;
    let view = this.#views.get(key);
    if (!view) {
      let creating = this.#creating.get(key);
      if (!creating) {
        const internalId = `shared-view-${this.#nextView++}`;
        creating = this.#call(table, Req.TABLE_MAKE_VIEW, replaceString(body, 1, internalId)).then(
          (r) => {
            this.#creating.delete(key);
            if (r.kind === SERVER_ERROR) return r;
            const v = new SharedView(key, internalId);
            this.#views.set(key, v);
            return v;
          },
        );
        this.#creating.set(key, creating);
      }
      const made = await creating;
      if (!(made instanceof SharedView)) return made;
      view = made;
    }
    view.refs++;
    return view;
  }

  /** Drops one viewer's hold on a view; the last one deletes the engine view. */
  release(view: SharedView): void {
    if (--view.refs > 0 || view.dead) return;
    this.#views.delete(view.key);
    this.#forgetSubscriptions(view);
    void this.#call(view.internalId, Req.VIEW_DELETE, EMPTY);
  }

  /**
   * Deletes the shared views of a table being dropped. The engine sends a
   * view's `on_delete` notifications before it answers the delete, so every
   * viewer's notification is out when this resolves.
   */
  async dropTable(table: string): Promise<void> {
    const prefix = keyPrefix(table);
    // A view being made now would otherwise outlive its table.
    const creating = [...this.#creating].filter(([key]) => key.startsWith(prefix));
    await Promise.all(creating.map(([, made]) => made));
    const dead = [...this.#views.values()].filter((v) => v.key.startsWith(prefix));
    for (const view of dead) {
      this.#views.delete(view.key);
      view.dead = true;
      view.cache = new Map();
    }
    await Promise.all(dead.map((v) => this.#call(v.internalId, Req.VIEW_DELETE, EMPTY)));
    for (const view of dead) this.#forgetSubscriptions(view);
    this.#closeWhenIdle();
  }

  #forgetSubscriptions(view: SharedView): void {
    for (const { msgId } of view.subs.values()) {
      this.#pending.delete(msgId);
      this.#persistent.delete(msgId);
    }
    view.subs.clear();
  }

  /** Adds a listener to the view's engine subscription of this kind and body. */
  subscribe(view: SharedView, kind: number, body: Uint8Array, listener: Listener): void {
    const key = `${kind}:${Array.from(body).join(",")}`;
    const existing = view.subs.get(key);
    if (existing) {
      existing.listeners.push(listener);
      return;
    }
    const listeners = [listener];
    const msgId = this.#request(view.internalId, kind, body, (env) => {
      if (kind === Req.VIEW_ON_UPDATE) view.cache = new Map();
      for (const l of [...listeners]) {
        l.session.deliver({ msgId: l.msgId, entityId: l.viewId, kind: env.kind, body: env.body });
      }
    });
    this.#persistent.add(msgId);
    view.subs.set(key, { msgId, listeners });
  }

  /** Removes a session's listeners from a view, all of them or those with `msgId`. */
  unsubscribe(view: SharedView, session: ViewerSession, msgId?: number): void {
    for (const { listeners } of view.subs.values()) {
      for (let i = listeners.length - 1; i >= 0; i--) {
        const l = listeners[i];
        if (l.session === session && (msgId === undefined || l.msgId === msgId)) {
          listeners.splice(i, 1);
        }
      }
    }
  }

  /** A read, answered once per poll for every viewer that asks the same. */
  read(view: SharedView, kind: number, body: Uint8Array): Promise<Envelope> {
    const key = `${kind}:${Array.from(body).join(",")}`;
    let answer = view.cache.get(key);
    if (answer) {
      this.#cachedReads++;
      return answer;
    }
    this.#engineReads++;
    answer = this.#call(view.internalId, kind, body);
    view.cache.set(key, answer);
    return answer;
  }

  /** Closes the internal session. */
  close(): void {
    this.#internal?.close();
    this.#internal = undefined;
  }
}

/** A remote session whose views may be shared; same surface as an engine session. */
export class ViewerSession {
  readonly #shared: SharedViews;
  readonly #engine: EngineSession;
  readonly #send: SendFn;
  readonly #aliases = new Map<string, Alias>();
  readonly #swallow = new Set<number>();
  #closed = false;

  constructor(shared: SharedViews, send: SendFn) {
    this.#shared = shared;
    this.#send = send;
    this.#engine = shared.host.openSession((bytes) => {
      if (this.#swallow.size > 0) {
        const { msgId } = decodeEnvelope(bytes);
        if (this.#swallow.delete(msgId)) return;
      }
      send(bytes);
    });
  }

  /** The engine's id for this session. */
  get id(): number {
    return this.#engine.id;
  }

  /** Whether the session is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a response to this viewer. */
  deliver(env: Envelope): void {
    if (!this.#closed) this.#send(encodeEnvelope(env));
  }

  /** Handles one request; never rejects. */
  async handle(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return;
    let env: Envelope;
    try {
      env = decodeEnvelope(bytes);
    } catch {
      return await this.#engine.handle(bytes);
    }

    if (env.kind === Req.TABLE_MAKE_VIEW) return await this.#makeView(env, bytes);
    const alias = this.#aliases.get(env.entityId);
    if (!alias) return await this.#engine.handle(bytes);
    const reply = (kind: number, body: Uint8Array) =>
      this.deliver({ msgId: env.msgId, entityId: env.entityId, kind, body });
    if (alias.view.dead) return this.#afterDeath(env, alias, reply);
    if (env.kind === Req.VIEW_ON_UPDATE || env.kind === Req.VIEW_ON_DELETE) {
      alias.subscriptions.push(bytes);
      this.#shared.subscribe(alias.view, env.kind, env.body, {
        session: this,
        viewId: env.entityId,
        msgId: env.msgId,
      });
    } else if (env.kind === Req.VIEW_REMOVE_ON_UPDATE || env.kind === Req.VIEW_REMOVE_DELETE) {
      const id = readVarint(env.body, 1);
      this.#shared.unsubscribe(alias.view, this, id);
      alias.subscriptions = alias.subscriptions.filter((b) => decodeEnvelope(b).msgId !== id);
      reply(env.kind, EMPTY);
    } else if (env.kind === Req.VIEW_DELETE) {
      this.#drop(env.entityId, alias);
      reply(Req.VIEW_DELETE, EMPTY);
    } else if (READS.has(env.kind)) {
      const answer = await this.#shared.read(alias.view, env.kind, env.body);
      reply(answer.kind, answer.body);
    } else {
      // collapse, expand, set_depth change the view for its owner, and this
      // layer does not guess at anything else: a private view answers it.
      await this.#fork(env.entityId, alias);
      await this.#engine.handle(bytes);
    }
  }

  /**
   * Answers a request on a view whose table was dropped as the engine
   * answers for a deleted view: removing a subscription succeeds, a new
   * subscription gets no answer and never fires, anything else fails with
   * "View not found".
   */
  #afterDeath(env: Envelope, alias: Alias, reply: (kind: number, body: Uint8Array) => void): void {
    switch (env.kind) {
      case Req.VIEW_REMOVE_ON_UPDATE:
      case Req.VIEW_REMOVE_DELETE:
        return reply(env.kind, EMPTY);
      case Req.VIEW_ON_UPDATE:
      case Req.VIEW_ON_DELETE:
        return;
      case Req.VIEW_DELETE:
        this.#drop(env.entityId, alias);
        return reply(SERVER_ERROR, viewNotFound());
      default:
        return reply(SERVER_ERROR, viewNotFound());
    }
  }

  async #makeView(env: Envelope, bytes: Uint8Array): Promise<void> {
    const viewId = readString(env.body, 1);
    if (!viewId) return await this.#engine.handle(bytes);
    const made = await this.#shared.acquire(env.entityId, env.body);
    if (!("internalId" in made)) {
      this.deliver({ ...made, msgId: env.msgId, entityId: env.entityId });
      return;
    }
    if (this.#closed) return void this.#shared.release(made);
    if (made.dead) {
      // Its table was dropped while the view was being made.
      this.#shared.release(made);
      const body = stringMessage(1, `table ${JSON.stringify(env.entityId)} was dropped`);
      return this.deliver({ msgId: env.msgId, entityId: env.entityId, kind: SERVER_ERROR, body });
    }
    this.#aliases.set(viewId, { view: made, makeRequest: bytes, subscriptions: [] });
    this.deliver({
      msgId: env.msgId,
      entityId: env.entityId,
      kind: Req.TABLE_MAKE_VIEW,
      body: stringMessage(1, viewId),
    });
  }

  /** Gives the viewer its own engine view, replaying its make-view and on_update requests. */
  async #fork(viewId: string, alias: Alias): Promise<void> {
    this.#drop(viewId, alias);
    const make = decodeEnvelope(alias.makeRequest);
    const swallowId = 0xffff0000 + (this.#swallow.size % 0xffff);
    this.#swallow.add(swallowId);
    await this.#engine.handle(encodeEnvelope({ ...make, msgId: swallowId }));
    for (const u of alias.subscriptions) await this.#engine.handle(u);
  }

  #drop(viewId: string, alias: Alias): void {
    this.#aliases.delete(viewId);
    this.#shared.unsubscribe(alias.view, this);
    this.#shared.release(alias.view);
  }

  /** Closes the session and releases its shared views. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [viewId, alias] of [...this.#aliases]) this.#drop(viewId, alias);
    this.#engine.close();
    this.#shared.sessionClosed();
  }
}
