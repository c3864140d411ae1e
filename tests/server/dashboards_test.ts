import assert from "node:assert/strict";
import { EngineHost } from "../../src/engine/host.ts";
import { createHandler, type Handler } from "../../src/server/handler.ts";
import { BatchSink } from "../../src/ingest/sink.ts";
import { DEFAULT_LIMITS, Security, securityConfig } from "../../src/security/mod.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { MemoryDashboardStore, MemoryLayoutStore } from "../../src/storage/dashboards.ts";
import {
  MAX_DASHBOARD_BYTES,
  MAX_DASHBOARD_VIEWERS,
  MAX_VIEWER_LAYOUT_BYTES,
} from "../../src/storage/dashboards_validate.ts";
import { demoDashboard } from "../../src/server/dashboards_demo.ts";
import {
  ADMIN,
  configFrom,
  PUBLIC_READER,
  READER,
  tokensEnv,
  WRITER,
} from "../security/helpers.ts";

interface Setup {
  call(method: string, path: string, init?: RequestInit & { token?: string }): Promise<Response>;
  // deno-lint-ignore no-explicit-any
  json(method: string, path: string, init?: RequestInit & { token?: string }): Promise<any>;
  dashboards: MemoryDashboardStore;
  layouts: MemoryLayoutStore;
}

async function withDashboards(
  options: { tokens?: boolean; maxDashboards?: number; allowEdit?: boolean },
  fn: (s: Setup) => Promise<void>,
): Promise<void> {
  const host = await EngineHost.create();
  const sink = new BatchSink(host);
  const config = options.tokens
    ? await configFrom({ TOKENS: await tokensEnv() })
    : securityConfig({ allowEdit: options.allowEdit ?? false });
  config.limits = { ...DEFAULT_LIMITS, ingestRequestsPerSecond: 1e6, ingestBurst: 1e6 };
  const dashboards = new MemoryDashboardStore();
  const layouts = new MemoryLayoutStore();
  const handler: Handler = createHandler({
    host,
    sink,
    security: new Security(config, silentLogger),
    dashboards,
    layouts,
    dashboardOptions: { maxDashboards: options.maxDashboards },
  });
  const call: Setup["call"] = (method, path, init = {}) => {
    const headers = new Headers(init.headers);
    if (init.token) headers.set("authorization", `Bearer ${init.token}`);
    return handler(new Request(`http://127.0.0.1${path}`, { ...init, method, headers }));
  };
  const json: Setup["json"] = async (method, path, init) => {
    const res = await call(method, path, init);
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get("content-type"),
      body: text && JSON.parse(text),
    };
  };
  try {
    await fn({ call, json, dashboards, layouts });
  } finally {
    await sink.close();
    host.close();
  }
}

const put = (value: unknown, token?: string): RequestInit & { token?: string } => ({
  body: typeof value === "string" ? value : JSON.stringify(value),
  headers: { "content-type": "application/json" },
  token,
});

const LAYOUT = demoDashboard("sales_eu");

Deno.test("PUT /api/dashboards/{name} saves a layout: 201, then 200; GET returns it; the list names it", async () => {
  await withDashboards({}, async (s) => {
    const created = await s.json("PUT", "/api/dashboards/sales", put(LAYOUT));
    assert.equal(created.status, 201);
    assert.deepEqual(created.body, { name: "sales", tables: ["sales_eu"] });
    assert.equal((await s.json("PUT", "/api/dashboards/sales", put(LAYOUT))).status, 200);
    const got = await s.json("GET", "/api/dashboards/sales");
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, LAYOUT);
    const list = await s.json("GET", "/api/dashboards");
    assert.deepEqual(list.body, [{ name: "sales", tables: ["sales_eu"] }]);
  });
});

Deno.test("DELETE /api/dashboards/{name} returns 204, then 404; GET of a missing one is 404", async () => {
  await withDashboards({}, async (s) => {
    await s.call("PUT", "/api/dashboards/d", put(LAYOUT));
    assert.equal((await s.call("DELETE", "/api/dashboards/d")).status, 204);
    const again = await s.json("DELETE", "/api/dashboards/d");
    assert.equal(again.status, 404);
    assert.equal(again.type, "application/problem+json");
    assert.equal((await s.json("GET", "/api/dashboards/d")).status, 404);
    assert.deepEqual((await s.json("GET", "/api/dashboards")).body, []);
  });
});

Deno.test("PUT /api/dashboards/{name} refuses malformed layouts with 400 naming the field and stores nothing", async () => {
  await withDashboards({}, async (s) => {
    const cases: [unknown, RegExp][] = [
      ["{", /not valid JSON/],
      [[1, 2], /layout: expected an object/],
      [{ viewers: {}, extra: 1 }, /extra: unknown field/],
      [{ detail: {} }, /viewers: expected an object/],
      [{ viewers: { a: { plugin: "Datagrid" } } }, /viewers\.a\.table: expected a table name/],
      [{ viewers: { a: { table: "t", sort: [["x"]] } } }, /viewers\.a\.sort\[0\]/],
      [{ viewers: { a: { table: "t", surprise: true } } }, /viewers\.a\.surprise: unknown field/],
      [{ viewers: { a: { table: "t", columns: "x" } } }, /viewers\.a\.columns: expected an array/],
    ];
    for (const [layout, detail] of cases) {
      const res = await s.json("PUT", "/api/dashboards/bad", put(layout));
      assert.equal(res.status, 400, JSON.stringify(layout));
      assert.equal(res.type, "application/problem+json");
      assert.match(res.body.detail, detail);
    }
    assert.equal((await s.json("GET", "/api/dashboards/bad")).status, 404);
  });
});

Deno.test("/api/dashboards/{name} refuses a bad name with 400 and a non-JSON body with 415", async () => {
  await withDashboards({}, async (s) => {
    for (const name of ["-x", "a%2Fb", "x".repeat(65), "sp%20ace"]) {
      assert.equal((await s.json("PUT", `/api/dashboards/${name}`, put(LAYOUT))).status, 400, name);
    }
    assert.equal(
      (await s.json("PUT", `/api/dashboards/${"x".repeat(64)}`, put(LAYOUT))).status,
      201,
    );
    const csv = await s.json("PUT", "/api/dashboards/d", {
      body: "a\n1\n",
      headers: { "content-type": "text/csv" },
    });
    assert.equal(csv.status, 415);
    assert.equal((await s.json("GET", "/api/dashboards/d")).status, 404);
  });
});

Deno.test("PUT /api/dashboards/{name} refuses a layout past the size limit with 413", async () => {
  await withDashboards({}, async (s) => {
    const fits = structuredClone(LAYOUT) as Record<string, Record<string, Record<string, unknown>>>;
    fits.viewers.trades.title = "";
    const room = MAX_DASHBOARD_BYTES - JSON.stringify(fits).length;
    fits.viewers.trades.title = "x".repeat(room);
    assert.equal(JSON.stringify(fits).length, MAX_DASHBOARD_BYTES);
    assert.equal((await s.json("PUT", "/api/dashboards/big", put(fits))).status, 201);
    fits.viewers.trades.title = "x".repeat(room + 1);
    const over = await s.json("PUT", "/api/dashboards/big2", put(fits));
    assert.equal(over.status, 413);
    // Without a Content-Length the limit holds on the bytes read.
    const stream = new Blob([JSON.stringify(fits)]).stream();
    const streamed = await s.json("PUT", "/api/dashboards/big3", {
      body: stream,
      headers: { "content-type": "application/json" },
    });
    assert.equal(streamed.status, 413);
    assert.deepEqual(
      (await s.json("GET", "/api/dashboards")).body.map((d: { name: string }) => d.name),
      ["big"],
    );
  });
});

Deno.test("PUT /api/dashboards/{name} refuses more viewers than the limit with 400", async () => {
  await withDashboards({}, async (s) => {
    const viewers = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`v${i}`, { table: "t" }]));
    const ok = await s.json(
      "PUT",
      "/api/dashboards/many",
      put({ viewers: viewers(MAX_DASHBOARD_VIEWERS) }),
    );
    assert.equal(ok.status, 201);
    const over = await s.json(
      "PUT",
      "/api/dashboards/more",
      put({ viewers: viewers(MAX_DASHBOARD_VIEWERS + 1) }),
    );
    assert.equal(over.status, 400);
    assert.match(over.body.detail, /viewers: more than/);
  });
});

Deno.test("PUT /api/dashboards/{name} refuses a new dashboard past the count limit with 507 but replaces existing ones", async () => {
  await withDashboards({ maxDashboards: 2 }, async (s) => {
    assert.equal((await s.json("PUT", "/api/dashboards/a", put(LAYOUT))).status, 201);
    assert.equal((await s.json("PUT", "/api/dashboards/b", put(LAYOUT))).status, 201);
    const third = await s.json("PUT", "/api/dashboards/c", put(LAYOUT));
    assert.equal(third.status, 507);
    assert.equal(third.type, "application/problem+json");
    assert.equal((await s.json("PUT", "/api/dashboards/b", put(LAYOUT))).status, 200);
    assert.equal((await s.json("GET", "/api/dashboards/c")).status, 404);
  });
});

Deno.test("with tokens, saving a dashboard needs write, and a layout naming unreadable tables is 403", async () => {
  await withDashboards({ tokens: true }, async (s) => {
    assert.equal((await s.json("PUT", "/api/dashboards/d", put(LAYOUT))).status, 401);
    assert.equal((await s.json("PUT", "/api/dashboards/d", put(LAYOUT, READER))).status, 403);
    assert.equal((await s.json("PUT", "/api/dashboards/d", put(LAYOUT, WRITER))).status, 201);
    assert.equal((await s.json("DELETE", "/api/dashboards/d", { token: READER })).status, 403);
    // PUBLIC_READER reads public_* only: it neither sees nor opens a dashboard over sales_eu.
    assert.deepEqual((await s.json("GET", "/api/dashboards", { token: PUBLIC_READER })).body, []);
    assert.equal((await s.json("GET", "/api/dashboards/d", { token: PUBLIC_READER })).status, 403);
    assert.equal((await s.json("GET", "/api/dashboards/d", { token: READER })).status, 200);
    assert.equal((await s.json("GET", "/api/dashboards/d")).status, 401);
    assert.equal((await s.json("GET", "/api/dashboards")).status, 401);
  });
});

Deno.test("a token that may write but not read a layout's tables gets 403 and nothing is saved", async () => {
  const host = await EngineHost.create();
  const sink = new BatchSink(host);
  const config = await configFrom({ TOKENS: "narrow-token-0123456789=read:public_*,write:*" });
  const handler = createHandler({ host, sink, security: new Security(config, silentLogger) });
  try {
    const req = (method: string, body?: unknown) =>
      handler(
        new Request("http://127.0.0.1/api/dashboards/d", {
          method,
          body: body === undefined ? undefined : JSON.stringify(body),
          headers: {
            authorization: "Bearer narrow-token-0123456789",
            "content-type": "application/json",
          },
        }),
      );
    const refused = await req("PUT", LAYOUT);
    assert.equal(refused.status, 403);
    assert.match((await refused.json()).detail, /sales_eu/);
    const fine = await req("PUT", demoDashboard("public_prices"));
    assert.equal(fine.status, 201);
    await fine.body?.cancel();
    const got = await req("GET");
    assert.deepEqual(await got.json(), demoDashboard("public_prices"));
  } finally {
    await sink.close();
    host.close();
  }
});

Deno.test("/api/tables/{table}/layout keeps a validated default layout; PUT needs admin", async () => {
  await withDashboards({ tokens: true }, async (s) => {
    const layout = { plugin: "Datagrid", sort: [["time", "desc"]], columns: ["time", "price"] };
    assert.equal(
      (await s.json("GET", "/api/tables/sales_eu/layout", { token: READER })).status,
      404,
    );
    assert.equal(
      (await s.json("PUT", "/api/tables/sales_eu/layout", put(layout, WRITER))).status,
      403,
    );
    const created = await s.json("PUT", "/api/tables/sales_eu/layout", put(layout, ADMIN));
    assert.equal(created.status, 201);
    assert.equal(
      (await s.json("PUT", "/api/tables/sales_eu/layout", put(layout, ADMIN))).status,
      200,
    );
    const got = await s.json("GET", "/api/tables/sales_eu/layout", { token: READER });
    assert.deepEqual(got.body, layout);
    assert.equal(
      (await s.json("GET", "/api/tables/sales_eu/layout", { token: PUBLIC_READER })).status,
      403,
    );
    const bad = await s.json("PUT", "/api/tables/sales_eu/layout", put({ plugin: 3 }, ADMIN));
    assert.equal(bad.status, 400);
    assert.match(bad.body.detail, /layout\.plugin/);
    assert.deepEqual(await s.layouts.get("sales_eu"), layout);
    const big = { title: "x".repeat(MAX_VIEWER_LAYOUT_BYTES) };
    assert.equal((await s.json("PUT", "/api/tables/sales_eu/layout", put(big, ADMIN))).status, 413);
    assert.equal(
      (await s.call("DELETE", "/api/tables/sales_eu/layout", { token: ADMIN })).status,
      204,
    );
    assert.equal(
      (await s.json("DELETE", "/api/tables/sales_eu/layout", { token: ADMIN })).status,
      404,
    );
  });
});

Deno.test("a stored layout cannot be changed through the object that was put or got", async () => {
  const store = new MemoryDashboardStore();
  const layout = demoDashboard();
  await store.put("d", layout);
  (layout.viewers as Record<string, unknown>).trades = null;
  const got = await store.get("d") as Record<string, Record<string, unknown>>;
  assert.notEqual(got.viewers.trades, null);
  got.viewers.trades = null;
  assert.notEqual(
    ((await store.get("d")) as Record<string, Record<string, unknown>>).viewers.trades,
    null,
  );
  assert.equal(await store.delete("d"), true);
  assert.equal(await store.delete("d"), false);
});

Deno.test("/api/session says whether the caller's WebSocket session may write each table", async () => {
  await withDashboards({ tokens: true }, async (s) => {
    const q = "/api/session?table=sales_eu&table=public_x";
    assert.deepEqual((await s.json("GET", q, { token: WRITER })).body, {
      name: "token-3",
      open: false,
      write: { sales_eu: true, public_x: false },
      anyWrite: true,
    });
    const reader = await s.json("GET", q, { token: READER });
    assert.deepEqual(reader.body.write, { sales_eu: false, public_x: false });
    assert.equal((await s.json("GET", q)).status, 401);
  });
  // Open mode: WebSocket sessions are read-only unless ALLOW_EDIT is set.
  await withDashboards({}, async (s) => {
    const body = (await s.json("GET", "/api/session?table=t")).body;
    assert.deepEqual(body, { name: "anonymous", open: true, write: { t: false }, anyWrite: false });
  });
  await withDashboards({ allowEdit: true }, async (s) => {
    const body = (await s.json("GET", "/api/session?table=t")).body;
    assert.deepEqual(body, { name: "anonymous", open: true, write: { t: true }, anyWrite: true });
  });
});
