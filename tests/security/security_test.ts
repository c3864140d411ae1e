import assert from "node:assert/strict";
import type { Route } from "../../src/server/router.ts";
import type { Service } from "../../src/service.ts";
import { columnsOf } from "../support/columns.ts";
import {
  ADMIN,
  INGESTER,
  PUBLIC_READER,
  READER,
  STRANGER,
  withSecuredService,
  WRITER,
} from "./helpers.ts";

/** Routes that stand in for the ingest and admin API, each declaring its scope. */
const ROUTES: Route[] = [
  {
    methods: ["POST"],
    path: "/api/probe/:table/rows",
    scope: { POST: "write" },
    handle: (_req, ctx) => Response.json({ wrote: ctx.params.table }),
  },
  {
    methods: ["PUT"],
    path: "/api/probe/:table",
    scope: "admin",
    handle: (_req, ctx) => Response.json({ created: ctx.params.table }),
  },
  {
    methods: ["POST"],
    path: "/api/undeclared",
    handle: () => Response.json({ ok: true }),
  },
];

async function call(
  service: Service,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(new URL(path.replace(/^\//, ""), service.url), { method, headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

Deno.test("GET /api/tables without a token is 401 with WWW-Authenticate; with a wrong one 401 invalid_token", async () => {
  await withSecuredService({}, async (service) => {
    const none = await call(service, "GET", "/api/tables");
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="perspective"');
    assert.equal(none.headers.get("content-type"), "application/problem+json");
    for (
      const auth of [
        `Bearer ${STRANGER}`,
        `Basic ${btoa(`x:${READER}`)}`,
        "Bearer",
        `Bearer ${READER} extra`,
      ]
    ) {
      const bad = await call(service, "GET", "/api/tables", { authorization: auth });
      assert.equal(bad.status, 401, auth);
      assert.match(bad.headers.get("www-authenticate")!, /error="invalid_token"/);
      assert(!bad.text.includes(STRANGER) && !bad.text.includes(READER));
    }
    assert.equal((await call(service, "GET", "/api/tables", bearer(READER))).status, 200);
    assert.equal((await call(service, "GET", "/api/tables", bearer(ADMIN))).status, 200);
  });
});

Deno.test("a token limited to public_* gets 403 for other tables and does not see them listed", async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("public_prices", [{ x: 1 }]);
    await service.host.createTable("secret", [{ x: 1 }]);
    const ok = await call(service, "GET", "/api/tables/public_prices", bearer(PUBLIC_READER));
    assert.equal(ok.status, 200);
    const list = await call(service, "GET", "/api/tables", bearer(PUBLIC_READER));
    assert.deepEqual(JSON.parse(list.text).map((t: { name: string }) => t.name), ["public_prices"]);
    const all = await call(service, "GET", "/api/tables", bearer(READER));
    assert.equal(JSON.parse(all.text).length, 2);
    const no = await call(service, "GET", "/api/tables/secret", bearer(PUBLIC_READER));
    assert.equal(no.status, 403);
    assert.match(no.headers.get("www-authenticate")!, /insufficient_scope", scope="read"/);
    assert(!no.text.includes(PUBLIC_READER));
  });
});

Deno.test("write routes need write on the table and admin routes need admin", async () => {
  await withSecuredService({ routes: ROUTES }, async (service) => {
    const cases: [string, string, string, number][] = [
      ["POST", "/api/probe/sales_eu/rows", READER, 403],
      ["POST", "/api/probe/sales_eu/rows", WRITER, 200],
      ["POST", "/api/probe/sales_eu/rows", INGESTER, 200],
      ["POST", "/api/probe/hr/rows", WRITER, 403],
      ["POST", "/api/probe/hr/rows", ADMIN, 200],
      ["PUT", "/api/probe/sales_eu", WRITER, 403],
      ["PUT", "/api/probe/sales_eu", ADMIN, 200],
      ["GET", "/api/tables", INGESTER, 403],
    ];
    for (const [method, path, token, status] of cases) {
      const res = await call(service, method, path, bearer(token));
      assert.equal(res.status, status, `${method} ${path} with ${token.slice(0, 6)}`);
    }
  });
});

Deno.test("an /api/ route that declares no scope needs admin for writes", async () => {
  await withSecuredService({ routes: ROUTES }, async (service) => {
    assert.equal((await call(service, "POST", "/api/undeclared", bearer(WRITER))).status, 403);
    assert.equal((await call(service, "POST", "/api/undeclared", bearer(ADMIN))).status, 200);
    assert.equal((await call(service, "POST", "/api/undeclared")).status, 401);
  });
});

Deno.test("pages and health checks need no token", async () => {
  await withSecuredService({}, async (service) => {
    assert.equal((await call(service, "GET", "/healthz")).status, 200);
    assert.equal((await call(service, "GET", "/")).status, 200);
  });
});

Deno.test("ingest requests past the per-token rate get 429 with Retry-After; other tokens are not affected", async () => {
  await withSecuredService(
    { routes: ROUTES, env: { INGEST_RPS: "1", INGEST_BURST: "2" } },
    async (service) => {
      const path = "/api/probe/sales_eu/rows";
      assert.equal((await call(service, "POST", path, bearer(WRITER))).status, 200);
      assert.equal((await call(service, "POST", path, bearer(WRITER))).status, 200);
      const limited = await call(service, "POST", path, bearer(WRITER));
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get("retry-after"), "1");
      assert.equal(limited.headers.get("content-type"), "application/problem+json");
      assert.equal((await call(service, "POST", path, bearer(INGESTER))).status, 200);
      // Reads are not rate limited.
      for (let i = 0; i < 5; i++) {
        assert.equal((await call(service, "GET", "/api/tables", bearer(WRITER))).status, 200);
      }
    },
  );
});

Deno.test("a cookie token needs an acceptable Origin, and an Origin at all for writes", async () => {
  await withSecuredService({ routes: ROUTES }, async (service) => {
    const cookie = { cookie: `perspective_token=${ADMIN}` };
    const self = `http://${service.addr.hostname}:${service.addr.port}`;
    assert.equal((await call(service, "GET", "/api/tables", cookie)).status, 200);
    assert.equal(
      (await call(service, "GET", "/api/tables", { ...cookie, origin: "http://evil.example" }))
        .status,
      403,
    );
    assert.equal((await call(service, "PUT", "/api/probe/t", cookie)).status, 403);
    assert.equal(
      (await call(service, "PUT", "/api/probe/t", { ...cookie, origin: self })).status,
      200,
    );
    // A bearer header is not ambient, so it needs no Origin check.
    assert.equal((await call(service, "PUT", "/api/probe/t", bearer(ADMIN))).status, 200);
  });
});

Deno.test("without tokens the HTTP API is open", async () => {
  await withSecuredService({ open: true, routes: ROUTES }, async (service) => {
    assert.equal((await call(service, "GET", "/api/tables")).status, 200);
    assert.equal((await call(service, "PUT", "/api/probe/t")).status, 200);
    assert.equal((await call(service, "POST", "/api/probe/t/rows")).status, 200);
  });
});

Deno.test("the table API: GET needs read, rows need write, create and drop need admin", async () => {
  await withSecuredService({}, async (service) => {
    const json = (token: string | undefined, body: unknown) => ({
      ...(token ? bearer(token) : {}),
      "content-type": "application/json",
      body: JSON.stringify(body),
    });
    const send = async (method: string, path: string, token?: string, body?: unknown) => {
      const { body: text, ...headers } = json(token, body ?? null);
      const res = await fetch(new URL(path.slice(1), service.url), {
        method,
        headers,
        body: body === undefined ? undefined : text,
      });
      await res.body?.cancel();
      return res.status;
    };
    const def = { schema: { id: "integer", v: "float" }, index: "id" };
    assert.equal(await send("PUT", "/api/tables/sales_x", undefined, def), 401);
    assert.equal(await send("PUT", "/api/tables/sales_x", WRITER, def), 403);
    assert.equal(await send("PUT", "/api/tables/sales_x", ADMIN, def), 201);
    const rows = [{ id: 1, v: 1.5 }];
    assert.equal(await send("POST", "/api/tables/sales_x/rows", undefined, rows), 401);
    assert.equal(await send("POST", "/api/tables/sales_x/rows", READER, rows), 403);
    assert.equal(await send("POST", "/api/tables/hr/rows", WRITER, rows), 403);
    assert.equal(await send("POST", "/api/tables/sales_x/rows", INGESTER, rows), 200);
    assert.equal(await send("PUT", "/api/tables/sales_x/rows", READER, rows), 403);
    assert.equal(await send("DELETE", "/api/tables/sales_x/rows", READER), 403);
    assert.equal(await send("GET", "/api/tables/sales_x/rows", INGESTER), 403);
    assert.equal(await send("GET", "/api/tables/sales_x/rows", READER), 200);
    assert.equal(await send("DELETE", "/api/tables/sales_x", WRITER), 403);
    assert.equal((await service.host.tableInfo("sales_x"))?.size, 1);
    assert.equal(await send("DELETE", "/api/tables/sales_x", ADMIN), 204);
    assert.deepEqual(await service.host.tableNames(), []);
  });
});

/** Every row of a table as JSON columns, straight from the engine. */
async function rowsOf(service: Service, name: string): Promise<Record<string, unknown[]>> {
  const table = await service.host.table(name);
  assert.ok(table, `no table ${name}`);
  return await columnsOf(service.host, table);
}

/** Sends a row write with the given headers; returns the status, headers and parsed body. */
async function writeRows(
  service: Service,
  method: string,
  table: string,
  headers: Record<string, string>,
  body: unknown,
): Promise<{ status: number; headers: Headers; body: { status?: number } }> {
  const res = await fetch(new URL(`api/tables/${table}/rows`, service.url), {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

/** POST, PUT, DELETE by key and DELETE (clear): each would change a table holding ids 1 and 2. */
const ROW_WRITES: [string, unknown][] = [
  ["POST", [{ id: 1, v: 9.5 }, { id: 3, v: 3.5 }]],
  ["PUT", [{ id: 4, v: 4.5 }]],
  ["DELETE", [1, 2]],
  ["DELETE", undefined],
];

const SEEDED = [{ id: 1, v: 1.5 }, { id: 2, v: 2.5 }];

Deno.test("row writes without a valid token are 401 and change no row", async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("sales_x", SEEDED, { index: "id" });
    const before = await rowsOf(service, "sales_x");
    assert.equal(before.id.length, 2);
    const credentials = [{}, bearer(STRANGER), { authorization: `Basic ${btoa(`x:${WRITER}`)}` }];
    for (const headers of credentials) {
      for (const [method, body] of ROW_WRITES) {
        const res = await writeRows(service, method, "sales_x", headers, body);
        assert.equal(res.status, 401, `${method} ${JSON.stringify(headers)}`);
        assert.equal(res.headers.get("content-type"), "application/problem+json");
        assert.equal(res.body.status, 401);
        assert.deepEqual(await rowsOf(service, "sales_x"), before, `${method} changed the table`);
      }
    }
  });
});

Deno.test("row writes with a token lacking write on the table are 403 and change no row", async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("sales_x", SEEDED, { index: "id" });
    await service.host.createTable("hr", SEEDED, { index: "id" });
    const sales = await rowsOf(service, "sales_x");
    const hr = await rowsOf(service, "hr");
    const cases: [string, string][] = [
      [READER, "sales_x"],
      [PUBLIC_READER, "sales_x"],
      [WRITER, "hr"],
      [INGESTER, "hr"],
    ];
    for (const [token, table] of cases) {
      for (const [method, body] of ROW_WRITES) {
        const res = await writeRows(service, method, table, bearer(token), body);
        assert.equal(res.status, 403, `${method} ${table} with ${token.slice(0, 6)}`);
        assert.equal(res.headers.get("content-type"), "application/problem+json");
        assert.equal(res.body.status, 403);
        assert.deepEqual(await rowsOf(service, "sales_x"), sales, "sales_x changed");
        assert.deepEqual(await rowsOf(service, "hr"), hr, "hr changed");
      }
    }
    // The same writes with write on the table are taken, so only the scope refused them.
    for (const [method, body] of ROW_WRITES) {
      const res = await writeRows(service, method, "hr", bearer(ADMIN), body);
      assert.equal(res.status, 200, `${method} with admin`);
    }
  });
});

Deno.test("a POST to an unknown table without write on it is 403 and creates no table", async () => {
  await withSecuredService({}, async (service) => {
    for (const token of [READER, WRITER]) {
      const res = await writeRows(service, "POST", "hr_new", bearer(token), [{ id: 1 }]);
      assert.equal(res.status, 403, token.slice(0, 6));
    }
    assert.deepEqual(await service.host.tableNames(), []);
  });
});

Deno.test("row writes past the ingest rate are 429 and change no row", async () => {
  await withSecuredService(
    { limits: { ingestRequestsPerSecond: 0.001, ingestBurst: 1 } },
    async (service) => {
      await service.host.createTable("sales_x", SEEDED, { index: "id" });
      // The one request the bucket holds, taken and applied.
      const first = await fetch(new URL("api/tables/sales_x/rows", service.url), {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(WRITER) },
        body: JSON.stringify([{ id: 5, v: 5.5 }]),
      });
      assert.equal(first.status, 200, await first.text());
      const before = await rowsOf(service, "sales_x");
      assert.equal(before.id.length, 3);
      for (const [method, body] of ROW_WRITES) {
        const res = await writeRows(service, method, "sales_x", bearer(WRITER), body);
        assert.equal(res.status, 429, method);
        assert.equal(res.headers.get("content-type"), "application/problem+json");
        assert.equal(res.body.status, 429);
        assert.ok(Number(res.headers.get("retry-after")) >= 1);
        assert.deepEqual(await rowsOf(service, "sales_x"), before, `${method} changed the table`);
      }
    },
  );
});
