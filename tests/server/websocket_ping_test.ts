import assert from "node:assert/strict";
import { withService } from "../support/service.ts";
import { openRawWebSocket } from "../support/raw_websocket.ts";

/** Reads frames until the connection ends or `timeoutMs` passes, and returns their opcodes. */
async function opcodes(conn: Deno.TcpConn, timeoutMs: number): Promise<number[]> {
  const bytes: number[] = [];
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const n = await conn.read(buf);
    if (n === null) break;
    bytes.push(...buf.subarray(0, n));
  }
  const codes = [];
  // Server frames are unmasked and, here, shorter than 126 bytes.
  for (let i = 0; i < bytes.length; i += 2 + (bytes[i + 1] & 0x7f)) codes.push(bytes[i] & 0x0f);
  return codes;
}

Deno.test("idle WebSocket connections are pinged and closed when no pong comes", async () => {
  await withService(
    { demo: false, handler: { websocket: { idleTimeoutSeconds: 1 } } },
    async (service) => {
      const started = Date.now();
      const { conn, head } = await openRawWebSocket(
        new URL("websocket", service.url).href,
        { Origin: new URL(service.url).origin },
      );
      assert.match(head, /^HTTP\/1\.1 101/);
      const codes = await opcodes(conn, 15_000);
      conn.close();
      assert.ok(codes.includes(0x9), `expected a ping frame, got opcodes ${codes}`);
      assert.equal(codes.at(-1), 0x8, "the unanswered ping ends in a close frame");
      assert.ok(Date.now() - started < 10_000);
    },
  );
});
