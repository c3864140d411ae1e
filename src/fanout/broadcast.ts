/**
 * Broadcast for replicated viewers: one server-side view per table computes
 * each poll's row delta once, and the same bytes go to every subscriber, so
 * engine work per update does not grow with the number of viewers.
 *
 * Row deltas cannot express removes, clears or replaces, so each table keeps
 * a replica (in a private engine) of exactly what its subscribers hold. After
 * applying a poll's deltas to it, the replica's size is compared with the
 * server's; any difference means a change the deltas missed, and everyone
 * gets a snapshot instead. The replica also answers late joiners, so a
 * joiner's snapshot is consistent with the frames that follow it.
 *
 * All of this runs in the conflator's after-poll slot: no poll can interleave,
 * so the server view is exactly as the last poll left it.
 *
 * @module
 */

import type { EngineHost } from "../engine/host.ts";
import {
  type Client,
  make_client,
  PerspectiveServer,
  type Table,
  type View,
} from "../engine/perspective.ts";
import {
  type BroadcastHello,
  encodeFrame,
  FRAME_DELTA,
  FRAME_SNAPSHOT,
} from "./broadcast_protocol.ts";
import { CLOSE_TABLE_DELETED } from "./broadcast_protocol.ts";

/** One subscriber's transport. Both methods must not throw. */
export interface Subscriber {
  /** Sends a frame; the same frame object goes to every subscriber. */
  send(frame: Uint8Array | string): void;
  /** Closes the transport. */
  close(code: number, reason: string): void;
}

/** Counters for operations and tests. */
export interface BroadcastStats {
  /** Tables with at least one subscriber. */
  channels: number;
  /** Open subscriptions. */
  subscribers: number;
  /** Delta frames broadcast (each counted once, whatever the audience). */
  deltas: number;
  /** Snapshot frames broadcast after a change deltas cannot express. */
  resyncs: number;
  /** Snapshots sent to joiners. */
  joins: number;
}

/** Thrown by {@linkcode BroadcastHub.subscribe} for an unknown table. */
export class NoSuchTableError extends Error {}

interface Join {
  name: string;
  sub: Subscriber;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Builds a client on a private engine, so replicas never show as hosted tables. */
function privateClient(): Client {
  const server = new PerspectiveServer();
  const ref: { client?: Client } = {};
  const session = server.make_session(async (buf: Uint8Array) => {
    await ref.client!.handle_response(buf.slice());
  });
  ref.client = make_client((req: Uint8Array) => session.handle_request(req));
  return ref.client;
}

class Channel {
  readonly subscribers = new Set<Subscriber>();
  readonly queue: ArrayBuffer[] = [];
  #snapshot: Uint8Array | null = null;
  #seenRequests = -1;
  deleted = false;

  constructor(
    readonly hello: string,
    readonly source: Table,
    readonly view: View,
    readonly replica: Table,
    readonly replicaView: View,
  ) {}

  static async open(host: EngineHost, replicas: Client, name: string): Promise<Channel> {
    const source = await host.table(name);
    if (!source) throw new NoSuchTableError(`no table named ${name}`);
    const [schema, index, limit] = await Promise.all([
      source.schema(),
      source.get_index(),
      source.get_limit(),
    ]);
    const hello: BroadcastHello = {
      type: "hello",
      version: 1,
      table: name,
      schema: schema as BroadcastHello["schema"],
      index: index ?? null,
      limit: limit ?? null,
    };
    const view = await source.view();
    const options = index ? { index } : limit ? { limit } : {};
    const replica = await replicas.table(await view.to_arrow(), options);
    const channel = new Channel(
      JSON.stringify(hello),
      source,
      view,
      replica,
      await replica.view(),
    );
    await view.on_update(({ delta }: { delta?: ArrayBuffer }) => {
      if (delta) channel.queue.push(delta);
    }, { mode: "row" });
    return channel;
  }

  /** Brings the replica up to date and returns the frames that do the same for subscribers. */
  async catchUp(requests: () => number, stats: BroadcastStats): Promise<Uint8Array[]> {
    // Without deltas and without foreign requests since the last check
    // nothing can have changed; skipping keeps the hub's own requests from
    // scheduling polls forever.
    if (this.queue.length === 0 && requests() === this.#seenRequests) return [];
    const deltas = this.queue.splice(0).filter((d) => d.byteLength > 0);
    for (const d of deltas) await this.replica.update(d);
    const [mine, theirs] = [await this.replica.size(), await this.view.num_rows()];
    let frames: Uint8Array[];
    if (mine === theirs) {
      frames = deltas.map((d) => encodeFrame(FRAME_DELTA, d));
      stats.deltas += frames.length;
    } else {
      const snap = await this.view.to_arrow();
      await this.replica.replace(snap);
      frames = [encodeFrame(FRAME_SNAPSHOT, snap)];
      stats.resyncs++;
    }
    if (frames.length > 0) this.#snapshot = null;
    this.#seenRequests = requests();
    return frames;
  }

  /** The snapshot frame for a joiner: the replica, encoded once per change. */
  async snapshot(): Promise<Uint8Array> {
    this.#snapshot ??= encodeFrame(FRAME_SNAPSHOT, await this.replicaView.to_arrow());
    return this.#snapshot;
  }

  async dispose(): Promise<void> {
    for (const sub of this.subscribers) sub.close(CLOSE_TABLE_DELETED, "table deleted");
    this.subscribers.clear();
    await Promise.allSettled([this.view.delete(), this.replicaView.delete()]);
    await this.replica.delete().catch(() => {});
  }
}

/** Serves every broadcast subscription of one engine host. */
export class BroadcastHub {
  readonly #host: EngineHost;
  readonly #replicas: Client;
  readonly #channels = new Map<string, Channel>();
  readonly #joins: Join[] = [];
  readonly #leaving = new Set<string>();
  readonly #unregister: () => void;
  readonly #stats: BroadcastStats = {
    channels: 0,
    subscribers: 0,
    deltas: 0,
    resyncs: 0,
    joins: 0,
  };
  #closed = false;

  constructor(host: EngineHost) {
    this.#host = host;
    this.#replicas = privateClient();
    this.#unregister = host.conflator.afterPoll(() => this.#drain());
  }

  /** A snapshot of the hub's counters. */
  get stats(): BroadcastStats {
    let subscribers = 0;
    for (const c of this.#channels.values()) subscribers += c.subscribers.size;
    return { ...this.#stats, channels: this.#channels.size, subscribers };
  }

  /**
   * Subscribes to a table: resolves once the hello and the snapshot have been
   * sent, after which the subscriber receives every change.
   *
   * @returns A function that ends the subscription.
   * @throws {NoSuchTableError} when there is no such table.
   */
  subscribe(name: string, sub: Subscriber): Promise<() => void> {
    if (this.#closed) return Promise.reject(new Error("broadcast hub closed"));
    return new Promise<void>((resolve, reject) => {
      this.#joins.push({ name, sub, resolve, reject });
      void this.#host.conflator.request();
    }).then(() => () => this.#leave(name, sub));
  }

  /** Ends every subscription and stops listening to polls. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unregister();
    for (const j of this.#joins.splice(0)) j.reject(new Error("broadcast hub closed"));
    const channels = [...this.#channels.values()];
    this.#channels.clear();
    await Promise.allSettled(channels.map((c) => c.dispose()));
  }

  #leave(name: string, sub: Subscriber): void {
    const channel = this.#channels.get(name);
    if (!channel?.subscribers.delete(sub)) return;
    if (channel.subscribers.size === 0) {
      this.#leaving.add(name);
      void this.#host.conflator.request();
    }
  }

  async #drain(): Promise<void> {
    if (this.#closed) return;
    const requests = () => this.#host.conflator.requests;
    for (const [name, channel] of this.#channels) {
      let frames: Uint8Array[];
      try {
        frames = await channel.catchUp(requests, this.#stats);
      } catch {
        this.#channels.delete(name);
        await this.#recover(name, channel);
        continue;
      }
      for (const frame of frames) {
        for (const sub of channel.subscribers) sub.send(frame);
      }
    }
    for (const join of this.#joins.splice(0)) await this.#admit(join);
    for (const name of this.#leaving) {
      const channel = this.#channels.get(name);
      if (channel && channel.subscribers.size === 0) {
        this.#channels.delete(name);
        await channel.dispose();
      }
    }
    this.#leaving.clear();
  }

  /**
   * A channel whose catch-up failed: when its table is gone the subscribers
   * are told so (4004); otherwise the failure was the channel's own, so they
   * rejoin a fresh channel and get a new hello and snapshot, which the client
   * treats like a reconnect.
   */
  async #recover(name: string, channel: Channel): Promise<void> {
    const subs = [...channel.subscribers];
    const alive = (await this.#host.tableNames().catch((): string[] => [])).includes(name);
    if (alive) channel.subscribers.clear();
    await channel.dispose();
    if (!alive) return;
    for (const sub of subs) {
      this.#joins.push({
        name,
        sub,
        resolve: () => {},
        reject: () => sub.close(CLOSE_TABLE_DELETED, "table deleted"),
      });
    }
  }

  async #admit(join: Join): Promise<void> {
    try {
      let channel = this.#channels.get(join.name);
      if (!channel) {
        channel = await Channel.open(this.#host, this.#replicas, join.name);
        this.#channels.set(join.name, channel);
      }
      join.sub.send(channel.hello);
      join.sub.send(await channel.snapshot());
      channel.subscribers.add(join.sub);
      this.#leaving.delete(join.name);
      this.#stats.joins++;
      join.resolve();
    } catch (err) {
      join.reject(err);
    }
  }
}
