/**
 * Everything security does for one WebSocket: the checks before the upgrade
 * (Origin, token, connection limits) and, after it, the inbound size limit
 * and the request filter in front of the engine session.
 *
 * @module
 */

import { StatusError } from "../engine/batch_types.ts";
import type { Logger } from "../ops/log.ts";
import type { Principal, Security } from "./security.ts";
import type { EditSink } from "./ws_edits.ts";
import { type GuardHost, SessionGuard, type Verdict } from "./session_guard.ts";
import { type MemoryGateHost, withMemoryCheck } from "./memory_gate.ts";

/** Close code for an inbound message over the size limit (RFC 6455 "message too big"). */
export const CLOSE_MESSAGE_TOO_BIG = 1009;
/** Close code for bytes that are not a Perspective request (RFC 6455 "invalid payload data"). */
export const CLOSE_INVALID_PAYLOAD = 1007;

/** Close code for a client whose requests pile up behind a slow one (RFC 6455 "try again later"). */
export const CLOSE_BACKLOG = 1013;
/**
 * Requests one socket may have waiting behind an unanswered one (an edit the
 * log is syncing, a table being created). The client pipelines, so some wait;
 * a client that keeps sending while nothing is answered is closed instead of
 * being buffered without bound.
 */
export const MAX_WAITING_REQUESTS = 4096;
/** Bytes of waiting requests one socket may hold, in inbound messages of the largest size. */
export const MAX_WAITING_MESSAGES_OF_MAX_SIZE = 4;

/** The socket operations the gate uses. */
export interface GateSocket {
  /** Hands an allowed request to the engine session; must not reject. */
  deliver(bytes: Uint8Array): Promise<void>;
  /** Sends a protocol message straight to the client. */
  reply(bytes: Uint8Array): void;
  /** Closes the socket. */
  close(code: number, reason: string): void;
}

/** One admitted WebSocket. {@linkcode SocketGate.closed} must run exactly once. */
export class SocketGate {
  /** Who opened the socket. */
  readonly principal: Principal;
  /** The request filter. */
  readonly guard: SessionGuard;
  readonly #security: Security;
  readonly #address: string;
  readonly #log: Logger;
  readonly #memory?: MemoryGateHost;
  #queue: Promise<void> = Promise.resolve();
  #pending = 0;
  #pendingBytes = 0;
  #done = false;

  /** Use {@linkcode admitUpgrade}. */
  constructor(
    security: Security,
    principal: Principal,
    guard: SessionGuard,
    address: string,
    log: Logger,
    memory?: MemoryGateHost,
  ) {
    this.#memory = memory;
    this.#security = security;
    this.principal = principal;
    this.guard = guard;
    this.#address = address;
    this.#log = log;
  }

  /**
   * Takes one inbound message. Messages are checked and delivered strictly in
   * arrival order, since a later request may depend on an earlier one (a view
   * on a table created just before).
   */
  receive(bytes: Uint8Array, socket: GateSocket): void {
    const max = this.#security.config.limits.maxMessageBytes;
    if (bytes.byteLength > max) {
      this.#log.info("websocket closed: message too big", {
        token: this.principal.name,
        bytes: bytes.byteLength,
        limit: max,
      });
      socket.close(CLOSE_MESSAGE_TOO_BIG, `messages are limited to ${max} bytes`);
      return;
    }
    // Most verdicts are immediate: with nothing queued, the message reaches
    // the engine in this same turn, as it would with no gate in between.
    const check = () => withMemoryCheck(bytes, this.#memory, () => this.guard.check(bytes));
    const first = this.#pending === 0 ? check() : undefined;
    if (first !== undefined && !(first instanceof Promise)) {
      void this.#apply(first, bytes, socket);
      return;
    }
    const maxBytes = max * MAX_WAITING_MESSAGES_OF_MAX_SIZE;
    if (
      this.#pending >= MAX_WAITING_REQUESTS || this.#pendingBytes + bytes.byteLength > maxBytes
    ) {
      this.#log.info("websocket closed: too many requests waiting", {
        token: this.principal.name,
        requests: this.#pending,
        bytes: this.#pendingBytes,
      });
      socket.close(CLOSE_BACKLOG, "too many requests waiting for an answer");
      return;
    }
    this.#pending++;
    this.#pendingBytes += bytes.byteLength;
    this.#queue = this.#queue.then(async () => {
      if (this.#done) return;
      await this.#apply(await (first ?? check()), bytes, socket);
    }).catch((err) => this.#log.warn("websocket gate failed", { error: err }))
      .finally(() => {
        this.#pending--;
        this.#pendingBytes -= bytes.byteLength;
      });
  }

  /** Delivers or refuses; resolves once any follow-up (`after`) has run. */
  #apply(verdict: Verdict, bytes: Uint8Array, socket: GateSocket): Promise<void> {
    if (verdict.allow === "answered") {
      socket.reply(verdict.reply);
      return Promise.resolve();
    }
    if (verdict.allow) {
      const delivered = socket.deliver(bytes);
      return verdict.after ? delivered.then(verdict.after) : Promise.resolve();
    }
    const fields = { token: this.principal.name, reason: verdict.reason };
    if ("failed" in verdict && verdict.failed) this.#log.warn("websocket request failed", fields);
    else this.#log.debug("websocket request refused", fields);
    if (verdict.reply) socket.reply(verdict.reply);
    else socket.close(CLOSE_INVALID_PAYLOAD, "not a Perspective request");
    return Promise.resolve();
  }

  /** Passes an outbound message through the session's filter. */
  outbound(bytes: Uint8Array): Uint8Array {
    return this.guard.filterOutbound(bytes);
  }

  /** Releases the connection slot and drops the tables the session created. */
  async closed(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#security.connections.release(this.#address);
    await this.#queue;
    await this.guard.close();
  }
}

/** What the gate asks of the engine, adapted by the server that holds it. */
export interface GateHost {
  /** Tables, for the session guard's drops and claims. */
  guard: GuardHost;
  /** The engine's memory budget and table sizes, for the memory check. */
  memory: MemoryGateHost;
}

/**
 * Runs the checks that must pass before a WebSocket upgrade: Origin (403),
 * token (401), connections in total (503) and per address (429), the last
 * two with `Retry-After`.
 *
 * @param remoteAddr The client's address, for the per-address limit.
 * @param sink Where the session's edits of shared tables go.
 * @throws {StatusError} for each refusal, so no upgrade happens.
 */
export async function admitUpgrade(
  req: Request,
  security: Security,
  remoteAddr: string,
  host: GateHost,
  log: Logger,
  sink?: EditSink,
): Promise<SocketGate> {
  const { principal, grants } = await security.checkUpgrade(req);
  const admission = security.connections.acquire(remoteAddr);
  if (admission === "total") {
    log.warn("websocket refused: connection limit", {
      limit: security.config.limits.maxConnections,
    });
    throw new StatusError(503, "the server has reached its connection limit", {
      "retry-after": "5",
    });
  }
  if (admission === "address") {
    log.info("websocket refused: per-address connection limit", {
      limit: security.config.limits.maxConnectionsPerAddress,
    });
    throw new StatusError(429, "too many connections from this address", { "retry-after": "5" });
  }
  const guard = new SessionGuard({
    grants,
    maxTables: security.config.limits.maxTablesPerSession,
    maxViews: security.config.limits.maxViewsPerSession,
    host: host.guard,
    claimed: security.claimed,
    sink,
    limitEdit: () => {
      // Edits through the sink are ingest, under the same per-token rate as HTTP batches.
      try {
        security.limitIngest(principal, remoteAddr);
        return undefined;
      } catch (err) {
        if (!(err instanceof StatusError)) throw err;
        return `${err.message}; retry in ${err.headers["retry-after"]} s (status ${err.status})`;
      }
    },
  });
  return new SocketGate(security, principal, guard, remoteAddr, log, host.memory);
}
