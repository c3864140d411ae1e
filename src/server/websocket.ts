/**
 * Upgrades `GET /websocket` into a Perspective protocol session.
 *
 * @module
 */

import type { EngineHost } from "../engine/host.ts";
import type { SharedViews } from "../fanout/shared_views.ts";
import type { Logger } from "../ops/log.ts";
import { HttpError } from "./http_error.ts";
import type { SocketObserver } from "../ops/connections.ts";
import { admitUpgrade, type EditSink, type Security, type SocketGate } from "../security/mod.ts";
import { gateHost } from "./gate_host.ts";
import { Outbound, type OutboundOptions } from "./outbound.ts";

/** Options for {@linkcode upgradeSession}. */
export interface WebSocketOptions {
  /** Seconds without traffic before the server pings; a missed pong closes the socket. @default 30 */
  idleTimeoutSeconds?: number;
  /** Told of each socket's open, sends and close, for metrics and shutdown. */
  observer?: SocketObserver;
  /** Checks before the upgrade and filters each request; without it the session is unguarded. */
  security?: Security;
  /** The client's address, for per-address connection limits. */
  remoteAddr?: string;
  /** The per-connection outbound bound; a client past it is closed with 4008. */
  outbound?: OutboundOptions;
  /** Where guarded sessions' edits of shared tables go; without it they reach the engine. */
  sink?: EditSink;
  /** Identical views of its viewers share one engine view; without it each has its own. */
  viewers?: SharedViews;
}

/** Close code for a client that sent a text frame: the protocol is binary only. */
export const CLOSE_UNSUPPORTED_DATA = 1003;

/**
 * Upgrades the request and wires the socket to a new engine session that
 * lives exactly as long as the socket.
 *
 * @throws {HttpError} 400 when the request is not a WebSocket upgrade, and
 * the security refusals of {@linkcode admitUpgrade}, all before any upgrade.
 */
export async function upgradeSession(
  req: Request,
  host: EngineHost,
  log: Logger,
  options: WebSocketOptions = {},
): Promise<Response> {
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    throw new HttpError(400, "expected a WebSocket upgrade", { upgrade: "websocket" });
  }
  let gate: SocketGate | undefined;
  if (options.security) {
    const addr = options.remoteAddr ?? "unknown";
    gate = await admitUpgrade(req, options.security, addr, gateHost(host), log, options.sink);
  }
  let upgraded;
  try {
    upgraded = Deno.upgradeWebSocket(req, { idleTimeout: options.idleTimeoutSeconds ?? 30 });
  } catch (err) {
    void gate?.closed();
    throw err;
  }
  const { socket, response } = upgraded;
  socket.binaryType = "arraybuffer";
  const observer = options.observer;
  // Engine output goes through the bounded queue: a slow client is dropped, never buffered without bound.
  const outbound = new Outbound(socket, options.outbound);
  const send = (engineBytes: Uint8Array) => {
    const bytes = gate ? gate.outbound(engineBytes) : engineBytes;
    if (bytes.byteLength === 0) return;
    if (outbound.send(bytes)) observer?.sent(socket, bytes.byteLength);
  };
  const session = options.viewers?.openSession(send) ?? host.openSession(send);
  if (observer) socket.addEventListener("open", () => observer.opened(socket), { once: true });
  log.debug("websocket open", { session: session.id });
  socket.onmessage = (event) => {
    if (!(event.data instanceof ArrayBuffer)) {
      socket.close(CLOSE_UNSUPPORTED_DATA, "binary frames only");
      return;
    }
    const bytes = new Uint8Array(event.data);
    if (!gate) return void session.handle(bytes);
    gate.receive(bytes, {
      deliver: (b) => session.handle(b),
      reply: (b) => void outbound.send(b),
      close: (code, reason) => socket.close(code, reason),
    });
  };
  socket.onclose = () => {
    outbound.release();
    observer?.closed(socket);
    session.close();
    void gate?.closed();
    log.debug("websocket closed", { session: session.id });
  };
  socket.onerror = () => {
    outbound.release();
    session.close();
  };
  return response;
}
