/**
 * A WebSocket opened over raw TCP, for tests and benchmarks that must see
 * frames themselves or leave them unread (a stalled viewer, an unanswered ping).
 *
 * @module
 */

/** The connection after the handshake, and the server's response head. */
export interface RawWebSocket {
  /** The TCP connection; nothing past the response head has been read. */
  conn: Deno.TcpConn;
  /** The HTTP response head, up to and including the blank line. */
  head: string;
}

/**
 * Sends a WebSocket upgrade for `url` (ws: or http:) and reads the response
 * head byte by byte, so no frame is consumed with it.
 *
 * @param headers Extra request headers, e.g. `Origin`.
 * @throws {Error} when the server closes before the head is complete.
 */
export async function openRawWebSocket(
  url: string,
  headers: Record<string, string> = {},
): Promise<RawWebSocket> {
  const u = new URL(url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  await conn.write(new TextEncoder().encode(
    `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      `${extra}\r\n`,
  ));
  let head = "";
  const one = new Uint8Array(1);
  while (!head.endsWith("\r\n\r\n")) {
    if ((await conn.read(one)) === null) {
      conn.close();
      throw new Error(`closed during handshake: ${head}`);
    }
    head += String.fromCharCode(one[0]);
  }
  return { conn, head };
}
