import assert from "node:assert/strict";
import { withService } from "../support/service.ts";

const encoder = new TextEncoder();

/** Opens a WebSocket by hand, so the test sees raw frames and can leave pings unanswered. */
async function rawUpgrade(port: number, path: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
      `Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:${port}\r\n\r\n`,
  ));
  return conn;
}

/** Reads until the connection ends, returning every byte after the HTTP head. */
async function readFrames(conn: Deno.TcpConn, timeoutMs: number): Promise<Uint8Array> {
  const chunks: number[] = [];
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(...buf.subarray(0, n));
  }
  const all = new Uint8Array(chunks);
  const text = new TextDecoder().decode(all);
  assert.match(text, /^HTTP\/1\.1 101/);
  return all.subarray(text.indexOf("\r\n\r\n") + 4);
}

Deno.test("idle WebSocket connections are pinged and closed when no pong comes", async () => {
  await withService(
    { demo: false, handler: { websocket: { idleTimeoutSeconds: 1 } } },
    async (service) => {
      const conn = await rawUpgrade(service.addr.port, "/websocket");
      const started = Date.now();
      const frames = await readFrames(conn, 15_000);
      conn.close();
      const opcodes = [];
      for (let i = 0; i < frames.length;) {
        opcodes.push(frames[i] & 0x0f);
        const len = frames[i + 1] & 0x7f;
        i += 2 + len;
      }
      assert.ok(opcodes.includes(0x9), `expected a ping frame, got opcodes ${opcodes}`);
      assert.equal(opcodes.at(-1), 0x8, "the unanswered ping ends in a close frame");
      assert.ok(Date.now() - started < 10_000);
    },
  );
});
