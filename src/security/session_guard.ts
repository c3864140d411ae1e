/**
 * The request filter that sits between a WebSocket and its engine session:
 * each inbound Perspective request is decoded, classified, and either passed
 * on or answered with a protocol error, so a refused call rejects in the
 * client while the session stays usable and the table is untouched.
 *
 * @module
 */

import { classify } from "./classify.ts";
import { Req } from "../protocol/messages.ts";
import {
  decodeRequest,
  encodeRepeated,
  encodeResponse,
  encodeServerError,
  type RequestEnvelope,
  stringField,
} from "./protocol.ts";
import { fields, ProtocolError } from "../protocol/wire.ts";
import { allows, type Grants } from "./scopes.ts";
import { applyDrop, applyEdit, type EditOutcome, type EditSink, isEdit } from "./ws_edits.ts";

/** `Request.get_hosted_tables_req` and `Response.get_hosted_tables_resp`. */
const GET_HOSTED_TABLES_REQ = 4;
const GET_HOSTED_TABLES_RESP = 4;
/** Table-list requests one session may have filtered; the stock client makes one or two. */
const MAX_LIST_REQUESTS = 1024;

/** The engine operations the guard needs; `EngineHost` provides them. */
export interface GuardHost {
  /** Names of hosted tables. */
  tableNames(): Promise<string[]>;
  /** Drops a table; false when it was absent. */
  dropTable(name: string): Promise<boolean>;
  /** Calls `onDelete` once the table is deleted by anyone; false when absent. */
  watchDelete(name: string, onDelete: () => void): Promise<boolean>;
}

/** What the guard decided about one message. */
export type Verdict =
  | {
    /** Hand the message to the engine. */
    allow: true;
    /** Run once the engine has handled it. */
    after?: () => Promise<void>;
  }
  /** Handled here, not by the engine: an edit or drop that went through the ingest sink. */
  | EditOutcome
  | {
    /** Do not hand it to the engine. */
    allow: false;
    /** Why, for the log; never contains a token. */
    reason: string;
    /** A protocol error for the client, or null when the message is unreadable. */
    reply: Uint8Array | null;
  };

/** Options for {@linkcode SessionGuard}. */
export interface SessionGuardOptions {
  /** The session's grants. */
  grants: Grants;
  /** Tables the session may create. */
  maxTables: number;
  /** Views the session may hold open. @default 256 */
  maxViews?: number;
  /** Engine operations. */
  host: GuardHost;
  /** Names claimed by live sessions, shared by all guards of a service. */
  claimed: Set<string>;
  /**
   * Where edits of shared tables go, so they are validated and logged like
   * any batch. Without it they reach the engine directly.
   */
  sink?: EditSink;
  /** Applies the ingest rate limit to an edit for the sink; returns why it is refused, if it is. */
  limitEdit?: () => string | undefined;
}

/**
 * Per-session state: the views the session opened and the tables it created.
 * Tables it created are dropped when the session closes, so a client cannot
 * leave tables behind without bound; long-lived tables go through the HTTP API.
 */
export class SessionGuard {
  readonly #grants: Grants;
  readonly #maxTables: number;
  readonly #maxViews: number;
  readonly #host: GuardHost;
  readonly #claimed: Set<string>;
  readonly #sink?: EditSink;
  readonly #limitEdit?: () => string | undefined;
  /** The session's open views, each with its table. */
  readonly #views = new Map<string, string>();
  /** Tables whose deletion this guard watches, to forget their views. */
  readonly #watched = new Set<string>();
  /**
   * Views deleted, or deleted with their table, most recent last: still the session's,
   * so its calls on them reach the engine and get "View not found", but
   * no longer counted. Capped like open views.
   */
  readonly #gone = new Set<string>();
  readonly #tables = new Set<string>();
  /** Message ids of this session's table-list requests whose answers are filtered. */
  readonly #lists = new Set<number>();
  readonly #readsAll: boolean;

  /** @param options Grants, limits and engine operations. */
  constructor(options: SessionGuardOptions) {
    this.#grants = options.grants;
    this.#maxTables = options.maxTables;
    this.#maxViews = options.maxViews ?? 256;
    this.#host = options.host;
    this.#claimed = options.claimed;
    this.#sink = options.sink;
    this.#limitEdit = options.limitEdit;
    this.#readsAll = options.grants.read?.includes("*") ?? false;
  }

  /**
   * Forgets the session's views on a table once the table is dropped: the
   * drop deletes them in the engine, and they must not keep counting
   * against the session's view limit.
   */
  #watchViewsOn(table: string): void {
    if (this.#watched.has(table)) return;
    this.#watched.add(table);
    const forget = () => {
      this.#watched.delete(table);
      for (const [view, of] of this.#views) {
        if (of !== table) continue;
        this.#views.delete(view);
        this.#gone.add(view);
        if (this.#gone.size > this.#maxViews) this.#gone.delete(this.#gone.values().next().value!);
      }
    };
    this.#host.watchDelete(table, forget).then(
      (exists) => exists || this.#watched.delete(table),
      () => this.#watched.delete(table),
    );
  }

  /** Tables this session created and still owns. */
  get createdTables(): readonly string[] {
    return [...this.#tables];
  }

  /**
   * Decides about one inbound message. Never throws. Answers at once except
   * for table creation, which must ask the engine whether the name is taken.
   */
  check(bytes: Uint8Array): Verdict | Promise<Verdict> {
    let req;
    try {
      req = decodeRequest(bytes);
    } catch (err) {
      if (err instanceof ProtocolError) {
        return { allow: false, reason: `malformed request: ${err.message}`, reply: null };
      }
      throw err;
    }
    const { msgId, entityId, kind } = req;
    const refuse = (reason: string): Verdict => ({
      allow: false,
      reason,
      reply: encodeServerError(msgId, entityId, `refused: ${reason}`),
    });
    const table = JSON.stringify(entityId);
    switch (classify(kind)) {
      case "global":
        if (kind === GET_HOSTED_TABLES_REQ && !this.#readsAll) {
          if (this.#lists.size >= MAX_LIST_REQUESTS) return refuse("too many table-list requests");
          this.#lists.add(msgId);
        }
        return { allow: true };
      case "table-read":
        return allows(this.#grants, "read", entityId)
          ? { allow: true }
          : refuse(`no read access to table ${table}`);
      case "make-view": {
        if (!allows(this.#grants, "read", entityId)) {
          return refuse(`no read access to table ${table}`);
        }
        let viewId: string | undefined;
        try {
          viewId = stringField(req.body, 1);
        } catch (err) {
          return refuse(`malformed view request: ${(err as Error).message}`);
        }
        if (this.#views.size >= this.#maxViews) {
          return refuse(`this session already has ${this.#maxViews} open views, the limit`);
        }
        if (viewId) {
          this.#views.set(viewId, entityId);
          this.#watchViewsOn(entityId);
        }
        return { allow: true };
      }
      case "view":
        if (!this.#views.has(entityId) && !this.#gone.has(entityId)) {
          return refuse("not a view of this session");
        }
        if (kind === Req.VIEW_DELETE) {
          // A deleted view stays the session's, uncounted: a viewer may still
          // call on it (a workspace restoring its layout does), and the engine
          // answers such a call with "View not found" rather than the guard
          // with a refusal the page does not expect.
          const forget = () => {
            if (this.#views.delete(entityId)) this.#gone.add(entityId);
            if (this.#gone.size > this.#maxViews) {
              this.#gone.delete(this.#gone.values().next().value!);
            }
          };
          return { allow: true, after: () => Promise.resolve(forget()) };
        }
        return { allow: true };
      case "write":
        if (!allows(this.#grants, "write", entityId)) {
          return refuse(`no write access to table ${table}`);
        }
        // Tables a live session created are dropped with it and stay out of the log.
        if (!this.#sink || !isEdit(kind) || this.#claimed.has(entityId)) return { allow: true };
        return this.#edit(this.#sink, req, refuse);
      case "create":
        return this.#create(entityId, refuse);
      case "drop":
        if (allows(this.#grants, "admin", entityId)) {
          // A shared table is dropped through the log, like DELETE /api/tables/{table}.
          if (!this.#sink || this.#claimed.has(entityId)) return { allow: true };
          return applyDrop(this.#sink, req);
        }
        if (this.#tables.has(entityId) && allows(this.#grants, "write", entityId)) {
          return { allow: true };
        }
        return refuse(`no admin access to table ${table}`);
      default:
        return refuse(`unknown request type ${kind}`);
    }
  }

  /** Hands an edit of a shared table to the sink, under the ingest rate limit. */
  async #edit(
    sink: EditSink,
    req: RequestEnvelope,
    refuse: (reason: string) => Verdict,
  ): Promise<Verdict> {
    const limited = this.#limitEdit?.();
    if (limited) return refuse(limited);
    return await applyEdit(sink, req);
  }

  async #create(name: string, refuse: (reason: string) => Verdict): Promise<Verdict> {
    const table = JSON.stringify(name);
    if (!allows(this.#grants, "write", name)) return refuse(`no write access to table ${table}`);
    if (this.#tables.size >= this.#maxTables) {
      return refuse(`this session already created ${this.#maxTables} tables, the limit`);
    }
    // The engine answers a create for an existing name with success and keeps
    // the old table, so this session would wrongly own, and later drop, it.
    // Re-checked after the await, so two sessions creating one name cannot both claim it.
    const names = await this.#host.tableNames();
    if (this.#claimed.has(name) || names.includes(name)) {
      return refuse(`a table named ${table} already exists`);
    }
    this.#claimed.add(name);
    this.#tables.add(name);
    return {
      allow: true,
      after: async () => {
        const exists = await this.#host.watchDelete(name, () => this.#release(name));
        if (!exists) this.#release(name);
      },
    };
  }

  /**
   * Filters an outbound message: answers to this session's table-list
   * requests keep only the tables it may read, so table names do not leak
   * past a token's patterns. Everything else passes unchanged.
   */
  filterOutbound(bytes: Uint8Array): Uint8Array {
    if (this.#lists.size === 0) return bytes;
    let msgId = -1;
    let entityId = "";
    let list: Uint8Array | undefined;
    try {
      for (const f of fields(bytes)) {
        if (f.no === 1) msgId = f.int;
        else if (f.no === 2) entityId = new TextDecoder().decode(f.bytes);
        else if (f.no === GET_HOSTED_TABLES_RESP) list = f.bytes;
      }
      if (list === undefined || !this.#lists.has(msgId)) return bytes;
      const kept: Uint8Array[] = [];
      for (const entry of fields(list)) {
        if (entry.no !== 1) continue;
        const name = stringField(entry.bytes, 1) ?? "";
        if (allows(this.#grants, "read", name)) kept.push(entry.bytes);
      }
      return encodeResponse(msgId, entityId, GET_HOSTED_TABLES_RESP, encodeRepeated(1, kept));
    } catch {
      // The engine wrote it, so it parses; should it not, nothing leaks by dropping it.
      return new Uint8Array(0);
    }
  }

  #release(name: string): void {
    if (this.#tables.delete(name)) this.#claimed.delete(name);
  }

  /** Drops the tables this session created. Call once, after the session closed. */
  async close(): Promise<void> {
    const names = [...this.#tables];
    await Promise.allSettled(names.map((n) => this.#host.dropTable(n)));
    for (const n of names) this.#release(n);
    this.#views.clear();
    this.#gone.clear();
  }
}
