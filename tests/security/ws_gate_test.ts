import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import type { Service } from "../../src/service.ts";
import { decodeRequest } from "../../src/security/protocol.ts";
import { fields } from "../../src/protocol/wire.ts";
import { CLOSE_INVALID_PAYLOAD, CLOSE_MESSAGE_TOO_BIG } from "../../src/security/mod.ts";
import { waitFor } from "../support/wait.ts";
import {
  ADMIN,
  closed,
  closeSocket,
  INGESTER,
  openSocket,
  PUBLIC_READER,
  rawUpgrade,
  READER,
  STRANGER,
  withSecuredService,
  wsUrl,
} from "./helpers.ts";

function origin(service: Service): string {
  return `http://${service.addr.hostname}:${service.addr.port}`;
}

Deno.test("an upgrade without a token gets 401 with WWW-Authenticate, before any upgrade", async () => {
  await withSecuredService({}, async (service) => {
    const res = await rawUpgrade(service);
    assert.equal(res.status, 401);
    assert.match(res.headers["www-authenticate"], /^Bearer realm="perspective"/);
    assert.equal(res.headers["content-type"], "application/problem+json");
    assert.equal(service.host.sessionCount, 0);
  });
});

Deno.test("an upgrade with a wrong token gets 401 invalid_token, and never echoes it", async () => {
  await withSecuredService({}, async (service) => {
    const attempts: { token?: string; headers?: Record<string, string> }[] = [
      { token: STRANGER },
      { headers: { cookie: `perspective_token=${STRANGER}` } },
      { headers: { authorization: `Bearer ${STRANGER}` } },
    ];
    for (const attempt of attempts) {
      const res = await rawUpgrade(service, attempt);
      assert.equal(res.status, 401);
      assert.match(res.headers["www-authenticate"], /error="invalid_token"/);
      assert(!res.body.includes(STRANGER));
    }
    // A token's hash is not a token.
    const hashed = await rawUpgrade(service, { token: "sha256:" + "0".repeat(64) });
    assert.equal(hashed.status, 401);
  });
});

Deno.test("an upgrade accepts the token from ?token=, a cookie or an Authorization header", async () => {
  await withSecuredService({}, async (service) => {
    assert.equal((await rawUpgrade(service, { token: READER })).status, 101);
    assert.equal((await rawUpgrade(service, { token: ADMIN })).status, 101);
    assert.equal(
      (await rawUpgrade(service, {
        headers: { cookie: `other=1; perspective_token=${READER}`, origin: origin(service) },
      })).status,
      101,
    );
    assert.equal(
      (await rawUpgrade(service, { headers: { authorization: `Bearer ${READER}` } })).status,
      101,
    );
  });
});

Deno.test("an upgrade by a token without the read scope gets 403", async () => {
  await withSecuredService({}, async (service) => {
    const res = await rawUpgrade(service, { token: INGESTER });
    assert.equal(res.status, 403);
    assert.match(res.headers["www-authenticate"], /insufficient_scope/);
  });
});

Deno.test("a foreign Origin gets 403 before any upgrade, even with a good token", async () => {
  await withSecuredService({}, async (service) => {
    for (const o of ["http://evil.example", "null", `https://${service.addr.hostname}:1`]) {
      const res = await rawUpgrade(service, { token: READER, headers: { origin: o } });
      assert.equal(res.status, 403, o);
    }
    assert.equal(service.host.sessionCount, 0);
    assert.equal(
      (await rawUpgrade(service, { token: READER, headers: { origin: origin(service) } })).status,
      101,
    );
  });
});

Deno.test("without tokens a foreign Origin is still refused", async () => {
  await withSecuredService({ open: true }, async (service) => {
    const res = await rawUpgrade(service, { headers: { origin: "http://evil.example" } });
    assert.equal(res.status, 403);
    assert.equal((await rawUpgrade(service, { headers: { origin: origin(service) } })).status, 101);
  });
});

Deno.test("ALLOWED_ORIGINS admits listed origins only", async () => {
  await withSecuredService(
    { env: { ALLOWED_ORIGINS: "https://dash.example.com" } },
    async (service) => {
      const ok = await rawUpgrade(service, {
        token: READER,
        headers: { origin: "https://dash.example.com" },
      });
      assert.equal(ok.status, 101);
      const bad = await rawUpgrade(service, {
        token: READER,
        headers: { origin: "https://dash.example.com.evil.example" },
      });
      assert.equal(bad.status, 403);
    },
  );
});

Deno.test("a missing Origin is refused for cookie credentials and when REQUIRE_ORIGIN is set", async () => {
  await withSecuredService({}, async (service) => {
    const cookie = await rawUpgrade(service, {
      headers: { cookie: `perspective_token=${READER}` },
    });
    assert.equal(cookie.status, 403);
    // Non-browser clients send no Origin and present the token themselves.
    assert.equal((await rawUpgrade(service, { token: READER })).status, 101);
  });
  await withSecuredService({ env: { REQUIRE_ORIGIN: "1" } }, async (service) => {
    assert.equal((await rawUpgrade(service, { token: READER })).status, 403);
  });
});

Deno.test("connections past the per-address limit get 429 with Retry-After; a closed one frees its slot", async () => {
  await withSecuredService({ limits: { maxConnectionsPerAddress: 2 } }, async (service) => {
    const a = await openSocket(wsUrl(service, READER));
    const b = await openSocket(wsUrl(service, READER));
    try {
      const res = await rawUpgrade(service, { token: READER });
      assert.equal(res.status, 429);
      assert.equal(res.headers["retry-after"], "5");
      await closeSocket(a);
      await waitFor(
        "the slot to be released",
        async () => (await rawUpgrade(service, { token: READER })).status === 101,
      );
    } finally {
      if (a.readyState !== WebSocket.CLOSED) await closeSocket(a);
      await closeSocket(b);
    }
  });
});

Deno.test("connections past the total limit get 503 with Retry-After", async () => {
  await withSecuredService({ limits: { maxConnections: 1 } }, async (service) => {
    const a = await openSocket(wsUrl(service, READER));
    try {
      const res = await rawUpgrade(service, { token: READER });
      assert.equal(res.status, 503);
      assert.equal(res.headers["retry-after"], "5");
    } finally {
      await closeSocket(a);
    }
  });
});

Deno.test("an inbound message over the size limit closes the socket with 1009", async () => {
  await withSecuredService({ limits: { maxMessageBytes: 1024 } }, async (service) => {
    const ws = await openSocket(wsUrl(service, ADMIN));
    const done = closed(ws);
    ws.send(new Uint8Array(1025));
    const event = await done;
    assert.equal(event.code, CLOSE_MESSAGE_TOO_BIG);
    await waitFor("the session to end", () => service.host.sessionCount === 0);
  });
});

Deno.test("bytes that are not a Perspective request close the socket with 1007", async () => {
  await withSecuredService({}, async (service) => {
    const ws = await openSocket(wsUrl(service, ADMIN));
    const done = closed(ws);
    ws.send(new Uint8Array([0x08, 0xff])); // msg_id varint cut short
    assert.equal((await done).code, CLOSE_INVALID_PAYLOAD);
  });
});

function varint(n: number): number[] {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function request(msgId: number, entityId: string, field: number, body: number[] = []): Uint8Array {
  const id = [...new TextEncoder().encode(entityId)];
  return new Uint8Array([
    0x08,
    ...varint(msgId),
    0x12,
    ...varint(id.length),
    ...id,
    ...varint((field << 3) | 2),
    ...varint(body.length),
    ...body,
  ]);
}

function nextMessage(ws: WebSocket): Promise<Uint8Array> {
  return new Promise((resolve) => {
    ws.addEventListener("message", (e) => resolve(new Uint8Array(e.data)), { once: true });
  });
}

function serverError(bytes: Uint8Array): { msgId: number; entityId: string; message?: string } {
  let msgId = -1;
  let entityId = "";
  let message: string | undefined;
  for (const f of fields(bytes)) {
    if (f.no === 1) msgId = f.int;
    if (f.no === 2) entityId = new TextDecoder().decode(f.bytes);
    if (f.no === 50) {
      for (const g of fields(f.bytes)) if (g.no === 1) message = new TextDecoder().decode(g.bytes);
    }
  }
  return { msgId, entityId, message };
}

Deno.test("requests on another session's view, on tables outside the token's patterns, of unknown type, or naming two members are refused in the protocol", async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("t", [{ x: 1 }]);
    const client = await perspective.websocket(wsUrl(service, READER));
    const ws = await openSocket(wsUrl(service, READER));
    const limited = await openSocket(wsUrl(service, PUBLIC_READER));
    try {
      // The stock client's view lives in another session, under an id this one cannot name.
      const view = await (await client.open_table("t")).view();
      let reply = nextMessage(ws);
      ws.send(request(7, "not-my-view", 15)); // view_schema_req
      assert.deepEqual(serverError(await reply), {
        msgId: 7,
        entityId: "not-my-view",
        message: "refused: not a view of this session",
      });
      reply = nextMessage(ws);
      ws.send(request(8, "t", 99));
      assert.match(serverError(await reply).message ?? "", /unknown request type 99/);
      reply = nextMessage(limited);
      limited.send(request(10, "t", 8)); // table_size_req on a table outside public_*
      assert.deepEqual(serverError(await reply), {
        msgId: 10,
        entityId: "t",
        message: 'refused: no read access to table "t"',
      });
      reply = nextMessage(limited);
      limited.send(request(11, "t", 6, [0x0a, 0x01, 0x76])); // table_make_view_req, view "v"
      assert.match(serverError(await reply).message ?? "", /no read access to table "t"/);
      const both = [...request(9, "t", 8), ...varint((33 << 3) | 2), 0];
      ws.send(new Uint8Array(both));
      assert.equal((await closed(ws)).code, CLOSE_INVALID_PAYLOAD);
      // The stock client's own session is unaffected.
      assert.equal(await view.num_rows(), 1);
      await view.delete();
    } finally {
      if (ws.readyState !== WebSocket.CLOSED) await closeSocket(ws);
      await closeSocket(limited);
      await client.terminate();
    }
  });
});

Deno.test("decodeRequest() reads the envelope the stock client writes", () => {
  const bytes = request(4_000_000_000, "sales_q1", 33, [0x0a, 0x00]);
  const req = decodeRequest(bytes);
  assert.equal(req.msgId, 4_000_000_000);
  assert.equal(req.entityId, "sales_q1");
  assert.equal(req.kind, 33);
  assert.deepEqual([...req.body], [0x0a, 0x00]);
});

Deno.test("the broadcast upgrade checks Origin, token and the table's read scope before upgrading", async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("public_prices", [{ x: 1 }]);
    await service.host.createTable("secret", [{ x: 1 }]);
    const path = "websocket/broadcast/secret";
    assert.equal((await rawUpgrade(service, { path })).status, 401);
    assert.equal((await rawUpgrade(service, { path, token: STRANGER })).status, 401);
    assert.equal(
      (await rawUpgrade(service, {
        path,
        token: READER,
        headers: { origin: "http://evil.example" },
      }))
        .status,
      403,
    );
    assert.equal((await rawUpgrade(service, { path, token: PUBLIC_READER })).status, 403);
    assert.equal(
      (await rawUpgrade(service, {
        path: "websocket/broadcast/public_prices",
        token: PUBLIC_READER,
      }))
        .status,
      101,
    );
  });
});

Deno.test("broadcast and protocol sockets share the connection limits", async () => {
  await withSecuredService({ limits: { maxConnectionsPerAddress: 1 } }, async (service) => {
    await service.host.createTable("t", [{ x: 1 }]);
    const ws = await openSocket(wsUrl(service, READER));
    try {
      const res = await rawUpgrade(service, { path: "websocket/broadcast/t", token: READER });
      assert.equal(res.status, 429);
      assert.equal(res.headers["retry-after"], "5");
    } finally {
      await closeSocket(ws);
    }
    await waitFor(
      "the slot to be released",
      async () =>
        (await rawUpgrade(service, { path: "websocket/broadcast/t", token: READER })).status ===
          101,
    );
  });
});
