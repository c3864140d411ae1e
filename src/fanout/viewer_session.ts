/**
 * A viewer's protocol session whose views may be shared engine views (see
 * `shared_views.ts`). It answers a viewer's requests on a shared view as the
 * engine would answer them on the viewer's own view, and moves a viewer to a
 * private engine view before any request that would change the view.
 *
 * @module
 */

import type { SharedView, SharedViews } from "./shared_views.ts";
import type { EngineSession, SendFn } from "../engine/session.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
  readString,
  readVarint,
  stringMessage,
} from "../engine/envelope.ts";
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

/**
 * Message ids of the private view's make-view requests, whose answers the
 * viewer never asked for: the range above the engine session's own.
 */
const SWALLOW_BASE = 0xffff0000;
const SWALLOW_COUNT = 0x10000;

/** A `ServerError` body like the engine's for a view that no longer exists. */
function viewNotFound(): Uint8Array {
  const out: number[] = [];
  pushBytes(out, 1, new TextEncoder().encode("View not found"));
  pushVarintField(out, 2, VIEW_NOT_FOUND);
  return new Uint8Array(out);
}

interface Alias {
  view: SharedView;
  /** The viewer's own make-view request, replayed if it needs a private view. */
  makeRequest: Uint8Array;
  /** Its own on_update and on_delete requests, replayed likewise. */
  subscriptions: Uint8Array[];
}

/** A remote session whose views may be shared; same surface as an engine session. */
export class ViewerSession {
  readonly #shared: SharedViews;
  readonly #engine: EngineSession;
  readonly #send: SendFn;
  readonly #aliases = new Map<string, Alias>();
  /** Views being moved to a private engine view; their next requests wait for it. */
  readonly #forking = new Map<string, Promise<void>>();
  readonly #swallow = new Set<number>();
  #nextSwallow = 0;
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
    // Requests sent after one that moves the view wait for the private view.
    const forking = this.#forking.get(env.entityId);
    if (forking) await forking;
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
      this.#shared.unsubscribe(alias.view, this, env.entityId, id ?? 0);
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
      const moved = this.#fork(env.entityId, alias).then(() => this.#engine.handle(bytes));
      this.#forking.set(env.entityId, moved);
      try {
        await moved;
      } finally {
        if (this.#forking.get(env.entityId) === moved) this.#forking.delete(env.entityId);
      }
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
    let made;
    try {
      made = await this.#shared.acquire(env.entityId, env.body);
    } catch {
      // A request this layer cannot read: the engine answers it as it would.
      return await this.#engine.handle(bytes);
    }
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

  /**
   * Gives the viewer its own engine view, replaying its make-view and
   * subscription requests, and only then leaves the shared one: every
   * notification reaches the viewer from one view or the other.
   */
  async #fork(viewId: string, alias: Alias): Promise<void> {
    const make = decodeEnvelope(alias.makeRequest);
    const swallowId = SWALLOW_BASE + (this.#nextSwallow++ % SWALLOW_COUNT);
    this.#swallow.add(swallowId);
    await this.#engine.handle(encodeEnvelope({ ...make, msgId: swallowId }));
    this.#swallow.delete(swallowId);
    for (const u of alias.subscriptions) await this.#engine.handle(u);
    this.#drop(viewId, alias);
  }

  #drop(viewId: string, alias: Alias): void {
    // A close during a fork has released it already.
    if (this.#aliases.get(viewId) !== alias) return;
    this.#aliases.delete(viewId);
    this.#shared.unsubscribe(alias.view, this, viewId);
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
