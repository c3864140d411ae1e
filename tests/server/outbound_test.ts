import assert from "node:assert/strict";
import { CLOSE_SLOW_CONSUMER, Outbound, outboundStats } from "../../src/server/outbound.ts";
import { withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import { openRawWebSocket } from "../support/raw_websocket.ts";

/** Opens a WebSocket over raw TCP and never reads past the handshake: a stalled viewer. */
async function stalledSocket(port: number, path: string): Promise<Deno.TcpConn> {
  const { conn, head } = await openRawWebSocket(`ws://127.0.0.1:${port}${path}`);
  assert.match(head, /^HTTP\/1\.1 101/);
  return conn;
}

/** Reads a server's frames until its close frame and returns the close code; undefined at EOF. */
async function readCloseCode(conn: Deno.TcpConn): Promise<number | undefined> {
  let pending = new Uint8Array(0);
  const buf = new Uint8Array(1 << 16);
  for (;;) {
    // Skip every whole frame buffered so far; stop at a close frame.
    for (;;) {
      if (pending.length < 2) break;
      const opcode = pending[0] & 0x0f;
      let len = pending[1] & 0x7f;
      let p = 2;
      if (len === 126) {
        if (pending.length < 4) break;
        len = (pending[2] << 8) | pending[3];
        p = 4;
      } else if (len === 127) {
        if (pending.length < 10) break;
        len = Number(new DataView(pending.buffer, pending.byteOffset + 2, 8).getBigUint64(0));
        p = 10;
      }
      if (pending.length < p + len) break;
      if (opcode === 8) return (pending[p] << 8) | pending[p + 1];
      pending = pending.subarray(p + len);
    }
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return undefined;
    const next = new Uint8Array(pending.length + n);
    next.set(pending);
    next.set(buf.subarray(0, n), pending.length);
    pending = next;
  }
}

Deno.test("a stalled subscriber is closed with 4008 while a healthy one keeps receiving", async () => {
  const bound = 256 * 1024;
  await withService({
    demo: false,
    handler: { websocket: { outbound: { maxBufferedBytes: bound } } },
  }, async (service) => {
    const table = await service.host.createTable("t", { id: "integer", s: "string" }, {
      index: "id",
    });
    const base = new URL("websocket/broadcast/t", service.url).href.replace(/^http/, "ws");
    const healthy = new WebSocket(base);
    healthy.binaryType = "arraybuffer";
    let frames = 0;
    healthy.onmessage = () => frames++;
    await new Promise((r) => (healthy.onopen = r));
    const stalled = await stalledSocket(service.addr.port, "/websocket/broadcast/t");
    try {
      await waitFor("both subscribers", () => frames >= 2);
      const dropped = outboundStats.droppedSlow;
      // Distinct strings, so Arrow's dictionary encoding cannot shrink the deltas.
      const payload = "x".repeat(1000);
      let round = 0;
      await waitFor("the stalled subscriber to be dropped", async () => {
        await table.update(
          Array.from({ length: 500 }, (_, i) => ({ id: i, s: `${round}:${i}:${payload}` })),
        );
        round++;
        await service.host.flush();
        return outboundStats.droppedSlow > dropped;
      }, { timeout: 60_000, interval: 1 });
      const before = frames;
      await table.update([{ id: 0, s: "after" }]);
      await waitFor("the healthy subscriber to keep receiving", () => frames > before);
      assert.equal(healthy.readyState, WebSocket.OPEN);
      assert.equal(await readCloseCode(stalled), CLOSE_SLOW_CONSUMER);
    } finally {
      stalled.close();
      const closed = new Promise((r) => (healthy.onclose = r));
      healthy.close();
      await closed;
    }
  });
});

Deno.test("Outbound closes with 4008 when a frame would pass the bound, and never sends after", () => {
  const sent: number[] = [];
  let closedWith: number | undefined;
  const socket = {
    bufferedAmount: 0,
    readyState: WebSocket.OPEN,
    send(d: Uint8Array | string) {
      sent.push(typeof d === "string" ? d.length : d.byteLength);
      this.bufferedAmount += typeof d === "string" ? d.length : d.byteLength;
    },
    close(code?: number) {
      closedWith = code;
    },
  };
  const q = new Outbound(socket, { maxBufferedBytes: 100 });
  try {
    assert(q.send(new Uint8Array(60)));
    assert(q.send(new Uint8Array(40)));
    assert.equal(q.queuedBytes, 100);
    assert(!q.send(new Uint8Array(1)));
    assert.equal(closedWith, CLOSE_SLOW_CONSUMER);
    assert(q.dropped);
    socket.bufferedAmount = 0;
    assert(!q.send(new Uint8Array(1)));
    assert.deepEqual(sent, [60, 40]);
  } finally {
    q.release();
  }
});

Deno.test("Outbound sends a frame larger than the bound when nothing is queued", () => {
  const socket = { bufferedAmount: 0, readyState: WebSocket.OPEN, send() {}, close() {} };
  const q = new Outbound(socket, { maxBufferedBytes: 10 });
  try {
    assert(q.send(new Uint8Array(1000)));
    assert(!q.dropped);
  } finally {
    q.release();
  }
});

Deno.test("Outbound rejects a non-positive bound", () => {
  const socket = { bufferedAmount: 0, readyState: 1, send() {}, close() {} };
  assert.throws(() => new Outbound(socket, { maxBufferedBytes: 0 }), RangeError);
});
