import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import type { Service } from "../../src/service.ts";
import { waitFor } from "../support/wait.ts";
import { ADMIN, PUBLIC_READER, READER, withSecuredService, WRITER, wsUrl } from "./helpers.ts";

// The client types accept data only, but the engine also takes a schema.
const SCHEMA = { x: "integer" } as unknown as Record<string, unknown[]>;
const ROWS = [{ id: 1, v: 10 }, { id: 2, v: 20 }, { id: 3, v: 30 }];

async function rows(service: Service, name: string): Promise<unknown> {
  const table = await service.host.table(name);
  assert(table, `table ${name} exists`);
  const view = await table.view();
  try {
    return await view.to_json();
  } finally {
    await view.delete();
  }
}

Deno.test("a read-only session's create, update, replace, remove, clear and delete are refused; the table is unchanged and the session still works", async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("sales_q1", ROWS, { index: "id" });
    const client = await perspective.websocket(wsUrl(service, READER));
    try {
      const table = await client.open_table("sales_q1");
      const refused = /refused: no write access to table "sales_q1"/;
      await assert.rejects(() => table.update([{ id: 4, v: 40 }]), refused);
      await assert.rejects(() => table.replace([{ id: 9, v: 90 }]), refused);
      await assert.rejects(() => table.remove([1]), refused);
      await assert.rejects(() => table.clear(), refused);
      await assert.rejects(
        () => client.table(SCHEMA, { name: "sales_new" }),
        /refused: no write access to table "sales_new"/,
      );
      await assert.rejects(() => table.delete(), /refused: no admin access to table "sales_q1"/);
      // Had any write reached the engine, a flush would apply it now.
      await service.host.flush();
      // The client gives up its handle on delete() even when the call fails,
      // so the session is proven usable through a fresh one.
      const again = await client.open_table("sales_q1");
      assert.equal(await again.size(), 3);
      const view = await again.view({ columns: ["id", "v"] });
      assert.deepEqual(await view.to_json(), ROWS);
      await view.delete();
      assert.deepEqual(await rows(service, "sales_q1"), ROWS);
      assert.deepEqual(await service.host.tableNames(), ["sales_q1"]);
    } finally {
      await client.terminate();
    }
  });
});

Deno.test("without tokens, WebSocket sessions are read-only unless ALLOW_EDIT is set", async () => {
  await withSecuredService({ open: true }, async (service) => {
    await service.host.createTable("t", ROWS, { index: "id" });
    const client = await perspective.websocket(wsUrl(service));
    try {
      const table = await client.open_table("t");
      await assert.rejects(() => table.update([{ id: 4, v: 40 }]), /refused/);
      await service.host.flush();
      assert.equal(await table.size(), 3);
    } finally {
      await client.terminate();
    }
  });
  await withSecuredService({ open: true, env: { ALLOW_EDIT: "1" } }, async (service) => {
    await service.host.createTable("t", ROWS, { index: "id" });
    const client = await perspective.websocket(wsUrl(service));
    try {
      const table = await client.open_table("t");
      await table.update([{ id: 4, v: 40 }]);
      await waitFor("the update to apply", async () => (await table.size()) === 4);
    } finally {
      await client.terminate();
    }
  });
});

Deno.test("a writer updates tables matching its pattern and is refused elsewhere", async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("sales_q1", ROWS, { index: "id" });
    await service.host.createTable("hr", ROWS, { index: "id" });
    const client = await perspective.websocket(wsUrl(service, WRITER));
    try {
      const sales = await client.open_table("sales_q1");
      await sales.update([{ id: 4, v: 40 }]);
      await sales.remove([1]);
      await waitFor("the writes to apply", async () => {
        const ids = (await rows(service, "sales_q1") as { id: number }[]).map((r) => r.id);
        return ids.join() === "2,3,4";
      });
      const hr = await client.open_table("hr");
      await assert.rejects(() => hr.update([{ id: 4, v: 40 }]), /no write access to table "hr"/);
      await service.host.flush();
      assert.equal(await hr.size(), 3);
      await assert.rejects(() => sales.delete(), /no admin access/);
      assert.equal(await (await client.open_table("sales_q1")).size(), 3);
    } finally {
      await client.terminate();
    }
  });
});

Deno.test("an admin session may delete any table", async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("hr", ROWS, { index: "id" });
    const client = await perspective.websocket(wsUrl(service, ADMIN));
    try {
      const hr = await client.open_table("hr");
      await hr.delete();
      await waitFor("hr to be gone", async () => !(await service.host.tableNames()).includes("hr"));
    } finally {
      await client.terminate();
    }
  });
});

Deno.test("tables a session creates are capped, refused for existing names, and dropped when it closes", async () => {
  await withSecuredService({ limits: { maxTablesPerSession: 2 } }, async (service) => {
    await service.host.createTable("sales_kept", ROWS, { index: "id" });
    const client = await perspective.websocket(wsUrl(service, WRITER));
    try {
      await assert.rejects(
        () => client.table(SCHEMA, { name: "sales_kept" }),
        /a table named "sales_kept" already exists/,
      );
      const a = await client.table(SCHEMA, { name: "sales_a" });
      await client.table(SCHEMA, { name: "sales_b" });
      await assert.rejects(
        () => client.table(SCHEMA, { name: "sales_c" }),
        /already created 2 tables, the limit/,
      );
      // A session may delete what it created, which frees a slot.
      await a.update([{ x: 1 }]);
      await a.delete();
      await waitFor("sales_a to be released", async () => {
        try {
          await client.table(SCHEMA, { name: "sales_c" });
          return true;
        } catch {
          return false;
        }
      });
      assert.deepEqual((await service.host.tableNames()).sort(), [
        "sales_b",
        "sales_c",
        "sales_kept",
      ]);
    } finally {
      await client.terminate();
    }
    await waitFor(
      "the session's tables to be dropped",
      async () => (await service.host.tableNames()).join() === "sales_kept",
    );
    assert.deepEqual(await rows(service, "sales_kept"), ROWS);
  });
});

Deno.test("a token limited to public_* cannot open views on other tables over the WebSocket", async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("public_prices", ROWS, { index: "id" });
    await service.host.createTable("secret", ROWS, { index: "id" });
    const client = await perspective.websocket(wsUrl(service, PUBLIC_READER));
    try {
      const open = await client.open_table("public_prices");
      assert.equal(await open.size(), 3);
      // The table list hides it, so the stock client cannot even name it;
      // raw requests that name it are refused (see ws_gate_test.ts).
      await assert.rejects(() => client.open_table("secret"), /Unknown table/);
      assert.equal(await open.size(), 3);
    } finally {
      await client.terminate();
    }
  });
});

Deno.test("a token limited to public_* sees only public_* tables in the hosted table list", async () => {
  await withSecuredService({}, async (service) => {
    await service.host.createTable("public_prices", ROWS, { index: "id" });
    await service.host.createTable("secret", ROWS, { index: "id" });
    const limited = await perspective.websocket(wsUrl(service, PUBLIC_READER));
    const full = await perspective.websocket(wsUrl(service, READER));
    try {
      assert.deepEqual(await limited.get_hosted_table_names(), ["public_prices"]);
      assert.deepEqual((await full.get_hosted_table_names()).sort(), ["public_prices", "secret"]);
      // The filter applies to the answer only; the session goes on working.
      assert.equal(await (await limited.open_table("public_prices")).size(), 3);
    } finally {
      await limited.terminate();
      await full.terminate();
    }
  });
});

Deno.test("views a session holds open are capped; closing one frees a slot", async () => {
  await withSecuredService({ limits: { maxViewsPerSession: 2 } }, async (service) => {
    await service.host.createTable("t", ROWS, { index: "id" });
    const client = await perspective.websocket(wsUrl(service, READER));
    try {
      const table = await client.open_table("t");
      const a = await table.view();
      const b = await table.view();
      await assert.rejects(() => table.view(), /already has 2 open views, the limit/);
      await a.delete();
      const c = await table.view();
      assert.equal(await c.num_rows(), 3);
      await b.delete();
      await c.delete();
    } finally {
      await client.terminate();
    }
  });
});

Deno.test("two sessions creating one name at once: one gets the table, the other a refusal", async () => {
  await withSecuredService({}, async (service) => {
    const a = await perspective.websocket(wsUrl(service, WRITER));
    const b = await perspective.websocket(wsUrl(service, WRITER));
    try {
      const results = await Promise.allSettled([
        a.table(SCHEMA, { name: "sales_race" }),
        b.table(SCHEMA, { name: "sales_race" }),
      ]);
      assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
      const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
      assert.match(String(refused.reason), /a table named "sales_race" already exists/);
    } finally {
      await a.terminate();
      await b.terminate();
    }
    await waitFor(
      "the owner's table to be dropped",
      async () => (await service.host.tableNames()).length === 0,
    );
  });
});

Deno.test("views deleted with a dropped table no longer count against the session's view limit", async () => {
  await withSecuredService({ limits: { maxViewsPerSession: 2 } }, async (service) => {
    await service.host.createTable("t", ROWS, { index: "id" });
    const client = await perspective.websocket(wsUrl(service, READER));
    try {
      const old = await client.open_table("t");
      const a = await old.view();
      await old.view();
      await assert.rejects(() => old.view(), /already has 2 open views, the limit/);
      const dropped = await fetch(new URL("api/tables/t", service.url), {
        method: "DELETE",
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      assert.equal(dropped.status, 204);
      await service.host.createTable("t", ROWS, { index: "id" });
      const fresh = await client.open_table("t");
      await waitFor("the dropped views forgotten", async () => {
        try {
          await (await fresh.view()).num_rows();
          return true;
        } catch {
          return false;
        }
      });
      // A call on a dropped view reaches the engine, which says what happened.
      await assert.rejects(() => a.num_rows(), /View not found/);
    } finally {
      await client.terminate();
    }
  });
});
