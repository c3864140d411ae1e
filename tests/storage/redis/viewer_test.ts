import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { startRedis } from "./redis_server.ts";
import { postRows, startReplica } from "./support.ts";
import { websocketUrl } from "../../support/service.ts";
import { waitFor } from "../../support/wait.ts";
import { securityConfig } from "../../../src/security/mod.ts";

Deno.test("a viewer connected to one replica sees writes made on another", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url);
  const b = await startReplica(redis.url);
  try {
    const first = await postRows(a.url, "live", [{ id: 1, v: 1 }], "?index=id");
    assert.equal(first.status, 201);
    await (await fetch(new URL(`api/tables/live?position=${first.position}`, b.url))).body
      ?.cancel();
    const client = await perspective.websocket(websocketUrl(b));
    try {
      const view = await (await client.open_table("live")).view();
      let updates = 0;
      await view.on_update(() => updates++);
      await view.num_rows();
      assert.equal(
        (await postRows(a.url, "live", [{ id: 2, v: 2 }, { id: 1, v: 10 }])).status,
        200,
      );
      await waitFor("an update notification on the other replica", () => updates > 0, {
        timeout: 60_000,
      });
      assert.deepEqual(await view.to_columns(), { id: [1, 2], v: [10, 2] });
    } finally {
      await client.terminate();
    }
  } finally {
    await a.close();
    await b.close();
    await redis.dispose();
  }
});

Deno.test("a WebSocket edit on one replica goes through the stream to the others", async () => {
  const redis = await startRedis();
  const security = securityConfig({ allowEdit: true });
  const a = await startReplica(redis.url, { security });
  const b = await startReplica(redis.url, { security });
  try {
    const first = await postRows(a.url, "edited", [{ id: 1, v: 1 }], "?index=id");
    assert.equal(first.status, 201);
    const client = await perspective.websocket(websocketUrl(a));
    try {
      const table = await client.open_table("edited");
      await table.update([{ id: 1, v: 42 }, { id: 2, v: 7 }]);
      const position = a.shared!.log.position;
      const res = await fetch(
        new URL(`api/tables/edited/rows?format=json&position=${position}`, b.url),
      );
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), [{ id: 1, v: 42 }, { id: 2, v: 7 }]);
    } finally {
      await client.terminate();
    }
  } finally {
    await a.close();
    await b.close();
    await redis.dispose();
  }
});
