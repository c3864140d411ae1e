/**
 * The engine host: owns the service's `PerspectiveServer`, an in-process
 * client for the service's own calls, and the protocol sessions. It alone
 * calls the engine.
 *
 * @module
 */

import { type Client, make_client, type Schema, type Table } from "./perspective.ts";
import { EngineSession, type SendFn } from "./session.ts";
import type { WindowOrder } from "./windowed_read.ts";
import { BulkPacer } from "./bulk_pacer.ts";
import { type EngineServer, LocalServer } from "./server.ts";
import { RemoteServer } from "./worker/remote.ts";
import { type Logger, silentLogger } from "../ops/log.ts";
import { Conflator } from "./conflate.ts";
import { EngineMemory, memoryStats, readRawEngineMemory } from "./memory.ts";
import { EngineReadError } from "./read_error.ts";
import { envelopeKind } from "./envelope.ts";
import { Req } from "../protocol/messages.ts";

/** What the API reports about a hosted table. */
export interface TableInfo {
  /** Table name. */
  name: string;
  /** Row count. */
  size: number;
  /** Column name to type. */
  schema: Schema;
  /** Index column, or null for an append-only table. */
  index: string | null;
  /** Row limit, or null when unbounded. */
  limit: number | null;
}

/** How to create a table. */
export interface TableOptions {
  /** Column to upsert on. */
  index?: string;
  /** Maximum rows kept; older rows roll over. */
  limit?: number;
}

/** Options for {@linkcode EngineHost.create}. */
export interface EngineHostOptions {
  /** Logger for engine-level events. @default silentLogger */
  log?: Logger;
  /** Maximum engine polls, so notifications per viewer, a second. @default 20 */
  maxUpdateRate?: number;
  /** Engine memory budget in bytes (see `memory.ts`). @default DEFAULT_ENGINE_MEMORY */
  memoryBudget?: number;
  /**
   * Reads a client's `to_arrow` of more than about 50k cells in windows,
   * so that other sessions are served between them (see `windowed_read.ts`).
   * @default true
   */
  windowedReads?: boolean;
  /**
   * Runs the engine in a Worker, so that its work never holds up the thread
   * serving HTTP and WebSockets. @default false
   */
  worker?: boolean;
  /**
   * The engine's Worker died: every engine call fails from now on. The
   * service reports it and exits so that it is restarted. @default log it
   */
  onEngineFailure?: (error: Error) => void;
}

/**
 * Makes the host's engine server, given what asks the conflator for a poll
 * and what fails the host's calls in flight when the engine dies.
 */
type ServerFactory = (
  onPollRequest: () => void,
  failCalls: (error: Error) => void,
) => EngineServer;

/** Owns the engine and everything that talks to it. */
export class EngineHost {
  /** The engine server, here or in a Worker; only this module and sessions touch it. */
  readonly server: EngineServer;
  /** In-process client used for the service's own table calls. */
  readonly client: Client;
  /** Polls the engine on a schedule; see `conflate.ts`. */
  readonly conflator: Conflator;
  /** The engine's memory budget; work that allocates is admitted through it. */
  readonly memory: EngineMemory;
  /** Paces bulk reads against other engine work (see `bulk_pacer.ts`). */
  readonly pacer: BulkPacer = new BulkPacer();
  readonly #local: EngineSession;
  readonly #sessions = new Set<EngineSession>();
  /** Every open session, the local and internal ones included: the owners of views. */
  readonly #all = new Set<EngineSession>();
  readonly #tables = new Map<string, Table>();
  readonly #log: Logger;
  /** Update notifications sent, to any session. */
  #notified = 0;
  /** What must let go of a table before the engine deletes it (shared views). */
  readonly #beforeDrop = new Set<(table: string) => Promise<void>>();
  readonly #onClose = new Set<() => void>();
  #windowedReads = true;

  private constructor(
    log: Logger,
    maxUpdateRate: number | undefined,
    server: ServerFactory,
  ) {
    this.#log = log;
    // A poll that sends viewers nothing leaves the conflator idle, so the
    // next update is processed at once instead of waiting out the interval:
    // answers that arrive meanwhile (a lone producer's own update) are not
    // notifications, and counting them held each of its batches back.
    this.conflator = new Conflator(async () => {
      this.pacer.noteOther();
      const before = this.#notified;
      await this.server.poll();
      return this.#notified !== before;
    }, {
      maxUpdateRate,
      requestCount: () => this.server.requestCount,
      onError: (error) => log.warn("engine poll failed", { error }),
    });
    this.server = server(() => this.conflator.request(), (error) => this.#failCalls(error));
    // The session and the client each need the other; the session only
    // calls back after the client has sent a request, so it exists by then.
    this.#local = new EngineSession(
      this.server,
      (bytes) => {
        this.#count(bytes);
        void this.client.handle_response(bytes);
      },
      log,
      undefined,
      // The client never reads a request again once it has sent it.
      { moveRequests: true },
    );
    this.#all.add(this.#local);
    // Once the engine cannot answer, a call fails at once instead of waiting
    // for an answer that never comes.
    this.client = make_client((req: Uint8Array) =>
      this.server.failure ? Promise.reject(this.server.failure) : this.#local.handle(req)
    );
    this.memory = new EngineMemory(this.client);
  }

  /** Creates a host with a fresh engine server, here or in a Worker. */
  static async create(options: EngineHostOptions = {}): Promise<EngineHost> {
    const log = options.log ?? silentLogger;
    let server: ServerFactory;
    if (options.worker) {
      // The Worker exists before the host's conflator: its poll requests
      // reach the conflator once there is one.
      let requestPoll = () => {};
      let failEngineCalls = (_error: Error) => {};
      const remote = await RemoteServer.start({
        onPollRequest: () => requestPoll(),
        onFatal: (error) => {
          failEngineCalls(error);
          (options.onEngineFailure ?? ((e) => log.error("engine worker failed", { error: e })))(
            error,
          );
        },
      });
      server = (onPollRequest, failCalls) => {
        requestPoll = onPollRequest;
        failEngineCalls = failCalls;
        return remote;
      };
    } else {
      server = (onPollRequest) => new LocalServer({ onPollRequest });
    }
    return new EngineHost(log, options.maxUpdateRate, server).#configure(options);
  }

  #configure(options: EngineHostOptions): EngineHost {
    this.#windowedReads = options.windowedReads ?? true;
    if (options.memoryBudget !== undefined) this.memory.budget = options.memoryBudget;
    return this;
  }

  /**
   * Resolves once every update sent before the call is applied and its
   * notifications are out. Updates are applied by the next scheduled poll,
   * so read-after-write callers (an ingest acknowledgement) await this.
   */
  flush(): Promise<void> {
    return this.conflator.flush();
  }

  /**
   * Opens a protocol session for a remote client.
   *
   * @param send Receives a private copy of each outbound message; must not throw.
   */
  openSession(send: SendFn): EngineSession {
    const session = this.#open(send, "session", () => this.#sessions.delete(session));
    this.#sessions.add(session);
    return session;
  }

  #count(bytes: Uint8Array): void {
    if (envelopeKind(bytes) === Req.VIEW_ON_UPDATE) this.#notified++;
  }

  /** A session whose output counts towards productive polls and that owns its views. */
  #open(send: SendFn, windowOrder: WindowOrder, onClose?: () => void): EngineSession {
    const session: EngineSession = new EngineSession(
      this.server,
      (bytes) => {
        this.#count(bytes);
        send(bytes);
      },
      this.#log,
      () => {
        this.#all.delete(session);
        onClose?.();
      },
      // A client's large to_arrow is read in windows; the host's own client
      // is not windowed: its exports pick their windows (see `export.ts`).
      { windowedReads: this.#windowedReads, windowOrder, pacer: this.pacer },
    );
    this.#all.add(session);
    return session;
  }

  /**
   * Runs `fn` before each drop of a table and awaits it: what holds engine
   * views of its own on the table (shared views) deletes them first.
   *
   * @returns A function that stops the calls.
   */
  beforeDrop(fn: (table: string) => Promise<void>): () => void {
    this.#beforeDrop.add(fn);
    return () => this.#beforeDrop.delete(fn);
  }

  /** Runs `fn` once when the host closes, before its sessions' engine stops. */
  onClose(fn: () => void): void {
    this.#onClose.add(fn);
  }

  /**
   * A session for the service's own use: its output counts towards the
   * conflator's productive polls, but it is not a remote session. It
   * carries many viewers' views (shared views), so a windowed read holds
   * back only later requests on its own view: one viewer's export must not
   * queue every other viewer's reads behind its last window.
   */
  openInternalSession(send: SendFn): EngineSession {
    return this.#open(send, "view");
  }

  /** The host's logger, for engine-level events seen by its callers. */
  get log(): Logger {
    return this.#log;
  }

  /** Number of open remote sessions. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Requests refused for want of engine memory, and batches not stored whole. */
  readonly memoryCounts: { readonly refusals: number; readonly discrepancies: number } =
    memoryStats;

  /** The engine's heap and used bytes, NaN where unknown, for metrics. */
  engineMemory(): Promise<{ heap: number; used: number }> {
    return readRawEngineMemory(this.client);
  }

  /** Entries in the engine's client map, the local session included. */
  get clientMapSize(): number {
    return this.server.clientCount;
  }

  /** Names of all hosted tables, in the engine's order. */
  async tableNames(): Promise<string[]> {
    return (await this.client.get_hosted_table_names()) as string[];
  }

  /** A handle to a hosted table, or undefined when there is none by that name. */
  async table(name: string): Promise<Table | undefined> {
    const cached = this.#tables.get(name);
    if (cached) return cached;
    const names = await this.tableNames();
    if (!names.includes(name)) return undefined;
    const table = await this.client.open_table(name);
    this.#tables.set(name, table);
    this.#forgetOnDelete(name, table);
    return table;
  }

  /**
   * The handle {@linkcode EngineHost.table} last returned for `name`, without
   * asking the engine: a log compares it with the handle a batch was
   * validated against, in the same turn as it orders the batch.
   */
  peekTable(name: string): Table | undefined {
    return this.#tables.get(name);
  }

  /** Drops the cached handle once its table is deleted, unless a new table took the name. */
  #forgetOnDelete(name: string, table: Table): void {
    void table.on_delete(() => {
      if (this.#tables.get(name) === table) this.#tables.delete(name);
    });
  }

  /** Describes one table, or undefined when it does not exist. */
  async tableInfo(name: string): Promise<TableInfo | undefined> {
    if (!(await this.table(name))) return undefined;
    // Reads after writes: the size must include updates already acknowledged.
    await this.flush();
    return await this.describeTable(name);
  }

  /**
   * Describes one table as the engine has it now, without waiting for
   * updates not yet processed (a log that holds its own order back calls it
   * between two applied records); undefined when it does not exist.
   */
  async describeTable(name: string): Promise<TableInfo | undefined> {
    const table = await this.table(name);
    if (!table) return undefined;
    try {
      const [size, types, columns, index, limit] = await Promise.all([
        table.size(),
        table.schema() as Promise<Schema>,
        table.columns() as Promise<string[]>,
        table.get_index(),
        table.get_limit(),
      ]);
      // The engine's schema object has no stable key order; its column list does.
      const schema: Schema = {};
      for (const column of columns) schema[column] = types[column];
      return { name, size, schema, index: index ?? null, limit: limit ?? null };
    } catch (err) {
      // Dropped between the lookup and the query; a table still listed is
      // there, and the engine failed to describe it.
      this.#tables.delete(name);
      if ((await this.tableNames()).includes(name)) {
        throw new EngineReadError(name, "a description", err);
      }
      return undefined;
    }
  }

  /** Describes every hosted table, sorted by name. */
  async listTables(): Promise<TableInfo[]> {
    const names = (await this.tableNames()).sort();
    const infos = await Promise.all(names.map((n) => this.tableInfo(n)));
    return infos.filter((i): i is TableInfo => i !== undefined);
  }

  /**
   * Creates a table from a schema or initial data.
   *
   * @param name Table name; must not exist yet.
   * @param init A schema, or rows/columns/Arrow/CSV data accepted by the engine.
   */
  async createTable(
    name: string,
    init: Schema | Parameters<Client["table"]>[0],
    options: TableOptions = {},
  ): Promise<Table> {
    const table = await this.client.table(init as Parameters<Client["table"]>[0], {
      name,
      ...options,
    });
    this.#tables.set(name, table);
    this.#forgetOnDelete(name, table);
    // Initial data is applied by the next poll; callers expect it in place.
    await this.flush();
    return table;
  }

  /**
   * Deletes a table at once, so that its name is free for a new table. The
   * engine refuses to delete a table that has views, and remote viewers may
   * hold views for hours, so every view on it is deleted first, in whichever
   * session holds it: each viewer's `on_delete` callbacks fire, its later
   * calls on those views fail with "View not found", and its views on other
   * tables carry on.
   *
   * @returns false when there is no such table.
   */
  async dropTable(name: string): Promise<boolean> {
    if (!(await this.table(name))) return false;
    this.#tables.delete(name);
    for (let attempt = 1;; attempt++) {
      for (const fn of this.#beforeDrop) await fn(name);
      await Promise.all([...this.#all].map((s) => s.deleteViewsOn(name)));
      try {
        // `delete` consumes the handle it is called on, and others may hold the cached one.
        await (await this.client.open_table(name)).delete();
        return true;
      } catch (error) {
        if (!(await this.tableNames()).includes(name)) return true;
        if (attempt < 2) continue;
        // A view made outside this host's sessions: the lazy delete at least
        // unlists the table, and the name stays taken until that view closes.
        this.#log.warn("dropped table still has views; deleting it lazily", {
          table: name,
          error,
        });
        try {
          (await this.client.open_table(name)).delete({ lazy: true }).catch(() => {});
        } catch {
          // Dropped by another caller meanwhile.
        }
        await this.tableNames();
        return true;
      }
    }
  }

  /**
   * Deletes a table that a lazy drop left in the engine, unlisted, once no
   * view holds it any longer. The engine hands such a table back for a new
   * one by its name, and it never deletes it by itself when the holding
   * view's session closes rather than deleting the view.
   *
   * @param table The handle the engine gave back; it is used up.
   * @returns Whether the table is gone, which frees its name.
   */
  async purgeDropped(name: string, table: Table): Promise<boolean> {
    if (this.#tables.get(name) === table) this.#tables.delete(name);
    await Promise.all([...this.#all].map((s) => s.deleteViewsOn(name)));
    try {
      await table.delete();
      return true;
    } catch {
      return false;
    }
  }

  /** Closes every remote session. */
  closeSessions(): void {
    for (const s of [...this.#sessions]) s.close();
  }

  /** Closes every session, stops polling the engine and stops its Worker. */
  close(): void {
    this.closeSessions();
    for (const fn of this.#onClose) fn();
    this.#onClose.clear();
    this.conflator.close();
    this.server.close();
    if (this.server.failure) this.#failCalls(this.server.failure);
  }

  /** Fails the service's own calls still waiting on an engine that stopped. */
  #failCalls(error: Error): void {
    void this.client.handle_error(error.message).catch(() => {});
  }
}
