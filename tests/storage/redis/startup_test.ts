import assert from "node:assert/strict";
import { freePort, startRedis } from "./redis_server.ts";
import { postRows, startReplica } from "./support.ts";

Deno.test("a replica started before Redis refuses writes with 503, and becomes ready once Redis is up", async () => {
  const redis = await startRedis();
  await redis.stop();
  const port = freePort();
  const starting = startReplica(redis.url, { port });
  const base = `http://127.0.0.1:${port}/`;
  try {
    let answered = false;
    for (let i = 0; i < 100 && !answered; i++) {
      const res = await fetch(new URL("api/tables/t/rows", base), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '[{"x": 1}]',
      }).catch(() => undefined);
      if (res) {
        assert.equal(res.status, 503);
        assert.equal(res.headers.get("retry-after"), "1");
        await res.body?.cancel();
        const ready = await fetch(new URL("readyz", base));
        assert.equal(ready.status, 503);
        await ready.body?.cancel();
        answered = true;
      } else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(answered, "the replica answers while Redis is down");
    await redis.start();
    const service = await starting;
    assert.equal((await postRows(service.url, "t", [{ x: 1 }])).status, 201);
    await service.close();
  } finally {
    await starting.then((s) => s.close()).catch(() => {});
    await redis.dispose();
  }
});
