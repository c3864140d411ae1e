/**
 * Shared views for server-only viewers. Many viewers of one table usually
 * open the same view (the default grid, the same sort). Each would cost the
 * engine a view recomputed on every update and a query per notification; here
 * viewers whose `table_make_view_req` asks for the same view share one engine
 * view. Their `on_update` subscriptions share one engine subscription, and
 * identical reads between two polls (the visible window after a
 * notification) are computed once and answered to each with its own `msg_id`
 * and view id.
 *
 * Sharing never changes what a viewer sees:
 *
 * - A viewer joins an existing engine view only when that view shows what a
 *   fresh one made now would: always for a history-free view (see
 *   `view_config.ts`), otherwise only while its table cannot have changed
 *   under it (see `view_age.ts`). Otherwise the viewer gets a new engine
 *   view, which later viewers join in turn; the old one keeps serving its
 *   viewers until they leave. The engine does let views that keep state
 *   drift from the table (README, "Known issues"), so this is what keeps a
 *   late viewer from inheriting an old view's drift.
 * - Each listener belongs to one viewer's view, so nothing done to one view
 *   touches another's notifications.
 * - A request that changes a view's state (expand, collapse, set depth) gives
 *   that viewer a private engine view first, made from its own original
 *   requests.
 *
 * Dropping a table deletes its shared views, which sends their viewers'
 * `on_delete` callbacks; later requests on them are answered as the engine
 * answers for a deleted view.
 *
 * @module
 */

import type { EngineHost } from "../engine/host.ts";
import type { EngineSession, SendFn } from "../engine/session.ts";
import { type Birth, ViewAges } from "./view_age.ts";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "../engine/envelope.ts";
import { viewShape } from "./view_config.ts";
import { ViewerSession } from "./viewer_session.ts";
import { Req, SERVER_ERROR } from "../protocol/messages.ts";

export { ViewerSession } from "./viewer_session.ts";

const EMPTY = new Uint8Array(0);

/** Who hears one engine subscription's messages: one viewer's subscription on one of its views. */
export interface Listener {
  /** The viewer's session. */
  session: ViewerSession;
  /** The viewer's own view id. */
  viewId: string;
  /** The message id of the viewer's subscribe request. */
  msgId: number;
}

/** The largest read answer kept for later viewers until the next poll. */
const MAX_CACHED_BYTES = 1024 * 1024;

/** One engine view and the viewers attached to it. */
export class SharedView {
  refs = 0;
  /** Set once its table is dropped and the engine view deleted. */
  dead = false;
  cache = new Map<string, Promise<Envelope>>();
  /** Engine subscriptions by kind and body, each with the viewers listening. */
  readonly subs = new Map<string, { msgId: number; listeners: Listener[] }>();
  constructor(
    readonly key: string,
    readonly table: string,
    readonly internalId: string,
    readonly historyFree: boolean,
    readonly birth: Birth,
  ) {}
}

/** The start of the keys of a table's shared views. */
function keyPrefix(table: string): string {
  return `${table}\u0000`;
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
  /** Every engine view held, joinable or not. */
  readonly #live = new Set<SharedView>();
  /** The view a new viewer of each key may join. */
  readonly #joinable = new Map<string, SharedView>();
  readonly #creating = new Map<string, Promise<SharedView | Envelope>>();
  readonly #pending = new Map<number, (env: Envelope) => void>();
  readonly #persistent = new Set<number>();
  readonly #ages: ViewAges;
  #nextMsg = 1;
  #nextView = 1;
  #cachedReads = 0;
  #engineReads = 0;

  constructor(readonly host: EngineHost) {
    // Answers are valid between two polls only.
    host.conflator.afterPoll(() => {
      for (const v of this.#live) v.cache = new Map();
    });
    this.#ages = new ViewAges(host.server, host.conflator);
    host.beforeDrop((table) => this.dropTable(table));
    host.onClose(() => this.close());
  }

  /** A snapshot of the counters. */
  get stats(): SharedViewStats {
    let aliases = 0;
    for (const v of this.#live) aliases += v.refs;
    return {
      views: this.#live.size,
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
    if (this.#openSessions > 0 || this.#live.size > 0 || this.#creating.size > 0) return;
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

  /** Whether a viewer asking now sees in `view` what a fresh engine view would show. */
  #canJoin(view: SharedView): boolean {
    return !view.dead && (view.historyFree || this.#ages.unchanged(view.birth));
  }

  /**
   * The shared view for a make-view request, or the engine's error response.
   *
   * @throws {ProtocolError} for a request body that cannot be read.
   */
  async acquire(table: string, body: Uint8Array): Promise<SharedView | Envelope> {
    const shape = viewShape(body);
    const key = `${keyPrefix(table)}${shape.key}`;
    for (;;) {
      const view = this.#joinable.get(key);
      if (view && this.#canJoin(view)) {
        view.refs++;
        return view;
      }
      // Its viewers keep it; new ones get a view made now.
      if (view) this.#joinable.delete(key);
      const inFlight = this.#creating.get(key);
      if (inFlight) {
        // Made for another viewer's earlier request; it may have changed since.
        const made = await inFlight;
        if (!(made instanceof SharedView)) return made;
        continue;
      }
      const creating = this.#create(key, table, shape);
      this.#creating.set(key, creating);
      const made = await creating;
      if (made instanceof SharedView) made.refs++;
      return made;
    }
  }

  async #create(
    key: string,
    table: string,
    shape: ReturnType<typeof viewShape>,
  ): Promise<SharedView | Envelope> {
    const internalId = `shared-view-${this.#nextView++}`;
    const born = this.#ages.start(table);
    const r = await this.#call(table, Req.TABLE_MAKE_VIEW, shape.withViewId(internalId));
    this.#creating.delete(key);
    if (r.kind === SERVER_ERROR) return r;
    const view = new SharedView(key, table, internalId, shape.historyFree, born());
    this.#live.add(view);
    this.#joinable.set(key, view);
    return view;
  }

  /** Drops one viewer's hold on a view; the last one deletes the engine view. */
  release(view: SharedView): void {
    if (--view.refs > 0 || view.dead) return;
    this.#live.delete(view);
    if (this.#joinable.get(view.key) === view) this.#joinable.delete(view.key);
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
    const dead = [...this.#live].filter((v) => v.table === table);
    for (const view of dead) {
      this.#live.delete(view);
      if (this.#joinable.get(view.key) === view) this.#joinable.delete(view.key);
      view.dead = true;
      view.cache = new Map();
    }
    this.#ages.forget(table);
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

  /**
   * Removes the listeners of one viewer's view: all of them, or the one
   * whose subscribe request had `msgId`. Other views' listeners, the same
   * session's included, are untouched.
   */
  unsubscribe(view: SharedView, session: ViewerSession, viewId: string, msgId?: number): void {
    for (const { listeners } of view.subs.values()) {
      for (let i = listeners.length - 1; i >= 0; i--) {
        const l = listeners[i];
        if (l.session !== session || l.viewId !== viewId) continue;
        if (msgId === undefined || l.msgId === msgId) listeners.splice(i, 1);
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
    const cache = view.cache;
    answer = this.#call(view.internalId, kind, body);
    cache.set(key, answer);
    const asked = answer;
    // Viewers asking meanwhile share a large answer, but it is not kept
    // until the next poll: on a table that is not updated that could be
    // for as long as the view lives.
    void asked.then((env) => {
      if (env.body.byteLength > MAX_CACHED_BYTES && cache.get(key) === asked) cache.delete(key);
    });
    return answer;
  }

  /** Closes the internal session. */
  close(): void {
    this.#internal?.close();
    this.#internal = undefined;
  }
}
