/**
 * Upgrades `GET /websocket` into a Perspective protocol session.
 *
 * @module
 */

import type { EngineHost } from "../engine/host.ts";
import type { Logger } from "../ops/log.ts";
import { HttpError } from "./http_error.ts";
import type { SocketObserver } from "../ops/connections.ts";

/** Options for {@linkcode upgradeSession}. */
export interface WebSocketOptions {
  /** Seconds without traffic before the server pings; a missed pong closes the socket. @default 30 */
  idleTimeoutSeconds?: number;
  /** Told of each socket's open, sends and close, for metrics and shutdown. */
  observer?: SocketObserver;
}

/** Close code for a client that sent a text frame: the protocol is binary only. */
export const CLOSE_UNSUPPORTED_DATA = 1003;

/**
 * Upgrades the request and wires the socket to a new engine session that
 * lives exactly as long as the socket.
 *
 * @throws {HttpError} 400 when the request is not a WebSocket upgrade.
 */
export function upgradeSession(
  req: Request,
  host: EngineHost,
  log: Logger,
  options: WebSocketOptions = {},
): Response {
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    throw new HttpError(400, "expected a WebSocket upgrade", { upgrade: "websocket" });
  }
  const { socket, response } = Deno.upgradeWebSocket(req, {
    idleTimeout: options.idleTimeoutSeconds ?? 30,
  });
  socket.binaryType = "arraybuffer";
  const observer = options.observer;
  const session = host.openSession((bytes) => {
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(bytes);
      observer?.sent(socket, bytes.byteLength);
    }
  });
  if (observer) socket.addEventListener("open", () => observer.opened(socket), { once: true });
  log.debug("websocket open", { session: session.id });
  socket.onmessage = (event) => {
    if (!(event.data instanceof ArrayBuffer)) {
      socket.close(CLOSE_UNSUPPORTED_DATA, "binary frames only");
      return;
    }
    void session.handle(new Uint8Array(event.data));
  };
  socket.onclose = () => {
    observer?.closed(socket);
    session.close();
    log.debug("websocket closed", { session: session.id });
  };
  socket.onerror = () => session.close();
  return response;
}
