import assert from "node:assert/strict";
import { CLOSE_GOING_AWAY, Connections } from "../../src/ops/connections.ts";
import { waitFor } from "../support/wait.ts";

/** A server whose every upgrade is registered with `connections`. */
function serve(connections: Connections) {
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: () => {},
  }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onopen = () => connections.opened(socket);
    socket.onclose = () => connections.closed(socket);
    socket.onmessage = () => {
      socket.send(new Uint8Array(4));
      connections.sent(socket, 4);
    };
    return response;
  });
  return {
    port: server.addr.port,
    async stop() {
      ac.abort();
      await server.finished;
    },
  };
}

/** Completes a WebSocket handshake by hand, then never answers a close frame. */
async function deafClient(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf);
  assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1.1 101/);
  return conn;
}

Deno.test("Connections.closeAll() closes sockets with 1001 and waits for their close", async () => {
  const connections = new Connections();
  const srv = serve(connections);
  try {
    const codes: number[] = [];
    const clients = await Promise.all([1, 2].map(() =>
      new Promise<WebSocket>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/`);
        ws.onopen = () => resolve(ws);
        ws.onclose = (e) => codes.push(e.code);
      })
    ));
    await waitFor("both sockets registered", () => connections.size === 2);
    assert.equal(await connections.closeAll(), 0);
    assert.equal(connections.size, 0);
    await waitFor("both clients closed", () => codes.length === 2);
    assert.deepEqual(codes, [CLOSE_GOING_AWAY, CLOSE_GOING_AWAY]);
    assert.equal(connections.openedTotal, 2);
    assert.equal(clients.length, 2);
  } finally {
    await srv.stop();
  }
});

Deno.test("Connections.closeAll() gives up on a peer that never answers, within its bound", async () => {
  const connections = new Connections();
  const srv = serve(connections);
  const conn = await deafClient(srv.port);
  try {
    await waitFor("the socket registered", () => connections.size === 1);
    const t0 = performance.now();
    assert.equal(await connections.closeAll(CLOSE_GOING_AWAY, "bye", 300), 1);
    const ms = performance.now() - t0;
    assert.ok(ms >= 250 && ms < 3000, `${ms} ms`);
    assert.equal(connections.size, 0);
  } finally {
    conn.close();
    await srv.stop();
  }
});

Deno.test("Connections reports delivery latency once per socket per ingest mark", async () => {
  const seen: number[] = [];
  const connections = new Connections((s) => seen.push(s));
  const srv = serve(connections);
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/`);
    ws.binaryType = "arraybuffer";
    let replies = 0;
    ws.onmessage = () => replies++;
    await new Promise((r) => ws.onopen = r);
    await waitFor("registered", () => connections.size === 1);
    // Messages before any batch are not deliveries.
    ws.send("x");
    await waitFor("a reply", () => replies === 1);
    assert.deepEqual(seen, []);
    connections.markBatch();
    await new Promise((r) => setTimeout(r, 30));
    ws.send("x");
    ws.send("x");
    await waitFor("two more replies", () => replies === 3);
    assert.equal(seen.length, 1);
    assert.ok(seen[0] >= 0.025 && seen[0] < 5, `${seen[0]} s`);
    assert.equal(connections.bytesSent, 12);
    ws.close();
    await new Promise((r) => ws.onclose = r);
    await waitFor("unregistered", () => connections.size === 0);
  } finally {
    await srv.stop();
  }
});
