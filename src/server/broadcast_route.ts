/**
 * `GET /websocket/broadcast/{table}`: a replicated viewer's subscription to
 * one table's deltas (protocol in `src/fanout/broadcast_protocol.ts`).
 *
 * @module
 */

import type { EngineHost } from "../engine/host.ts";
import { BroadcastHub, NoSuchTableError } from "../fanout/broadcast.ts";
import type { Logger } from "../ops/log.ts";
import { HttpError } from "./http_error.ts";
import { Outbound, type OutboundOptions } from "./outbound.ts";
import type { Route } from "./router.ts";
import type { SocketObserver } from "../ops/connections.ts";

/** Options for {@linkcode broadcastRoutes}. */
export interface BroadcastRouteOptions {
  /** The per-connection outbound bound; a subscriber past it is closed with 4008. */
  outbound?: OutboundOptions;
  /** Seconds without traffic before the server pings. @default 30 */
  idleTimeoutSeconds?: number;
  /** Told of each socket's open, sends and close, for metrics and shutdown. */
  observer?: SocketObserver;
  /** Connection slots shared with `/websocket`; without it subscriptions are not counted. */
  connections?: ConnectionSlots;
}

/** The connection limiter's surface (the security layer's `ConnectionLimiter` fits). */
export interface ConnectionSlots {
  /** Takes a slot for an address: `"ok"`, or which limit was reached. */
  acquire(address: string): "ok" | "total" | "address";
  /** Gives a slot back. */
  release(address: string): void;
}

/** A hub per host, created on the first subscription. */
const hubs = new WeakMap<EngineHost, BroadcastHub>();

/** The broadcast hub of a host, for stats; created on first use. */
export function broadcastHub(host: EngineHost): BroadcastHub {
  let hub = hubs.get(host);
  if (!hub) {
    hub = new BroadcastHub(host);
    hubs.set(host, hub);
  }
  return hub;
}

/** The broadcast route. */
export function broadcastRoutes(
  host: EngineHost,
  log: Logger,
  options: BroadcastRouteOptions = {},
): Route[] {
  return [{
    methods: ["GET"],
    path: "/websocket/broadcast/:table",
    scope: "read",
    handle: async (req, ctx) => {
      if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        throw new HttpError(400, "expected a WebSocket upgrade", { upgrade: "websocket" });
      }
      const name = ctx.params.table;
      if (!(await host.table(name))) throw new HttpError(404, `no table named ${name}`);
      const address = ctx.remoteAddr ?? "unknown";
      const admission = options.connections?.acquire(address) ?? "ok";
      if (admission === "total") {
        throw new HttpError(503, "the server has reached its connection limit", {
          "retry-after": "5",
        });
      }
      if (admission === "address") {
        throw new HttpError(429, "too many connections from this address", { "retry-after": "5" });
      }
      let upgraded;
      try {
        upgraded = Deno.upgradeWebSocket(req, { idleTimeout: options.idleTimeoutSeconds ?? 30 });
      } catch (err) {
        options.connections?.release(address);
        throw err;
      }
      const { socket, response } = upgraded;
      socket.binaryType = "arraybuffer";
      const outbound = new Outbound(socket, options.outbound);
      let leave: (() => void) | undefined;
      let closed = false;
      const observer = options.observer;
      socket.onopen = () => {
        observer?.opened(socket);
        broadcastHub(host).subscribe(name, {
          send: (frame) => {
            if (outbound.send(frame)) {
              observer?.sent(socket, typeof frame === "string" ? frame.length : frame.byteLength);
            }
          },
          close: (code, reason) => socket.close(code, reason),
        }).then((fn) => {
          if (closed) fn();
          else leave = fn;
        }, (err) => {
          if (!(err instanceof NoSuchTableError)) {
            log.warn("broadcast subscribe failed", { error: err });
          }
          if (!closed) socket.close(1011, "subscription failed");
        });
      };
      const end = () => {
        if (closed) return;
        closed = true;
        observer?.closed(socket);
        outbound.release();
        options.connections?.release(address);
        leave?.();
      };
      socket.onclose = end;
      socket.onerror = end;
      return response;
    },
  }];
}
