import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { type Service, startService } from "../../src/service.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { ADMIN, configFrom, tokensEnv, WRITER, wsUrl } from "./helpers.ts";
import { apiRows, byId, ROWS } from "./ws_edits_helpers.ts";

async function durable(dataDir: string): Promise<Service> {
  const security = await configFrom({ TOKENS: await tokensEnv() });
  return await startService({ port: 0, demo: false, log: silentLogger, security, dataDir });
}

Deno.test("WebSocket edits and drops of durable tables are in the log: they survive a restart, a session's own table does not", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "ws-edits-" });
  try {
    let expected: unknown[];
    const first = await durable(dataDir);
    try {
      await first.sink.createTable("sales_kept", {
        schema: { id: "integer", name: "string", x: "float" },
        index: "id",
        limit: null,
      });
      await first.sink.createTable("sales_dropped", {
        schema: { id: "integer" },
        index: null,
        limit: null,
      });
      const admin = await perspective.websocket(wsUrl(first, ADMIN));
      await (await admin.open_table("sales_dropped")).delete();
      await admin.terminate();
      await first.sink.createTable("sales_emptied", {
        schema: { id: "integer", name: "string", x: "float" },
        index: "id",
        limit: null,
      });
      const client = await perspective.websocket(wsUrl(first, WRITER));
      try {
        const kept = await client.open_table("sales_kept");
        await kept.update(ROWS);
        await kept.update([{ __INDEX__: 2, name: "edited" }]);
        await kept.remove([1]);
        await kept.update("id,name,x\n4,d,4.5");
        await assert.rejects(() => kept.update([{ id: 5, x: "bad" }]), /status 422/);
        const emptied = await client.open_table("sales_emptied");
        await emptied.replace(ROWS);
        await emptied.clear();
        await client.table(ROWS, { name: "sales_session", index: "id" });
        expected = byId(await apiRows(first, "sales_kept"));
        assert.deepEqual(expected, [
          { id: 2, name: "edited", x: 2.5 },
          ROWS[2],
          { id: 4, name: "d", x: 4.5 },
        ]);
      } finally {
        await client.terminate();
      }
    } finally {
      await first.close();
    }
    const second = await durable(dataDir);
    try {
      assert.deepEqual(byId(await apiRows(second, "sales_kept")), expected);
      assert.deepEqual(await apiRows(second, "sales_emptied"), []);
      assert.deepEqual((await second.host.tableNames()).sort(), ["sales_emptied", "sales_kept"]);
    } finally {
      await second.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
