import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { createLogger } from "../../src/ops/log.ts";
import type { Route } from "../../src/server/router.ts";
import { waitFor } from "../support/wait.ts";
import {
  ADMIN,
  ALL_TOKENS,
  closed,
  openSocket,
  PUBLIC_READER,
  rawUpgrade,
  READER,
  STRANGER,
  withSecuredService,
  WRITER,
  wsUrl,
} from "./helpers.ts";

const ROUTES: Route[] = [{
  methods: ["POST"],
  path: "/api/probe/:table/rows",
  scope: "write",
  handle: () => new Response(null, { status: 204 }),
}];

async function hex(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("nothing the service logs during a run with every kind of token use contains a token", async () => {
  const lines: string[] = [];
  const log = createLogger("debug", (line) => lines.push(line));
  await withSecuredService(
    {
      log,
      routes: ROUTES,
      env: { INGEST_RPS: "1", INGEST_BURST: "1" },
      limits: { maxMessageBytes: 4096 },
    },
    async (service) => {
      await service.host.createTable("sales_q1", [{ id: 1 }], { index: "id" });
      const base = service.url;
      for (const token of ALL_TOKENS) {
        const headers: Record<string, string>[] = [
          { authorization: `Bearer ${token}` },
          { cookie: `perspective_token=${token}`, origin: "http://evil.example" },
        ];
        for (const h of headers) {
          await (await fetch(new URL("api/tables", base), { headers: h })).body?.cancel();
          await (await fetch(new URL("api/tables/secret", base), { headers: h })).body?.cancel();
          await (await fetch(new URL("api/probe/sales_q1/rows", base), {
            method: "POST",
            headers: h,
          }))
            .body?.cancel();
        }
        // The real table API, rate limit included (one write a second per token).
        for (const method of ["PUT", "POST"]) {
          const path = method === "PUT" ? "api/tables/sales_new" : "api/tables/sales_q1/rows";
          const body = method === "PUT" ? { schema: { id: "integer" } } : [{ id: 5 }];
          await (await fetch(new URL(path, base), {
            method,
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify(body),
          })).body?.cancel();
        }
        await rawUpgrade(service, { token });
        await rawUpgrade(service, { token, headers: { origin: "http://evil.example" } });
      }
      // WebSocket sessions whose token sits in the URL: refusals, a write, a big message.
      for (const token of [READER, PUBLIC_READER, WRITER, ADMIN]) {
        const client = await perspective.websocket(wsUrl(service, token));
        try {
          await client.table([{ x: 1 }], { name: "sales_tmp" }).catch(() => {});
          const table = await client.open_table("sales_q1").catch(() => undefined);
          if (!table) continue;
          await table.update([{ id: 2 }]).catch(() => {});
          await table.size().catch(() => {});
        } finally {
          await client.terminate();
        }
      }
      const ws = await openSocket(wsUrl(service, ADMIN));
      const done = closed(ws);
      ws.send(new Uint8Array(5000));
      await done;
      await waitFor("sessions to end", () => service.host.sessionCount === 0);
      assert.equal((await rawUpgrade(service, { token: STRANGER })).status, 401);
    },
  );
  const text = lines.join("\n");
  // The run was logged: refusals and request lines, so the check below has something to search.
  assert.match(text, /authentication failed/);
  assert.match(text, /request refused/);
  assert.match(text, /websocket request refused/);
  assert.match(text, /message too big/);
  for (const token of ALL_TOKENS) {
    assert(!text.includes(token), `a log line contains token ${token.slice(0, 6)}...`);
    assert(!text.includes(encodeURIComponent(token)));
    assert(!text.includes(await hex(token)), "a log line contains a token's hash");
  }
});

Deno.test("open mode says so at start-up with a warning", async () => {
  const lines: string[] = [];
  const log = createLogger("info", (line) => lines.push(line));
  await withSecuredService({ open: true, log }, () => Promise.resolve());
  const warning = lines.map((l) => JSON.parse(l)).find((l) => l.level === "warn");
  assert(warning, "a warning was logged");
  assert.match(warning.msg, /no tokens configured; open development mode/);
});
