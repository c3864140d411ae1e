import assert from "node:assert/strict";
import { startRedis } from "./redis_server.ts";
import { exportAll, postRows, startReplica } from "./support.ts";
import { compareIds } from "../../../src/storage/redis/ids.ts";

Deno.test("a write acknowledged by one replica is readable on another at its position", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url);
  const b = await startReplica(redis.url);
  try {
    const w = await postRows(a.url, "t", [{ id: 1, x: "one" }], "?index=id");
    assert.equal(w.status, 201, JSON.stringify(w.body));
    assert.match(String(w.body.position), /^\d+-\d+$/);
    assert.equal(w.position, w.body.position);
    // Read-your-write on the replica that acknowledged, with no waiting at all.
    const mine = await fetch(new URL("api/tables/t/rows?format=json", a.url));
    assert.deepEqual(await mine.json(), [{ id: 1, x: "one" }]);
    const other = await fetch(
      new URL(`api/tables/t/rows?format=json&position=${w.position}`, b.url),
    );
    assert.equal(other.status, 200);
    assert.deepEqual(await other.json(), [{ id: 1, x: "one" }]);
    const info = await fetch(new URL("api/tables/t", b.url), {
      headers: { "log-position": w.position! },
    });
    assert.equal(info.status, 200);
    assert.equal((await info.json()).size, 1);
  } finally {
    await a.close();
    await b.close();
    await redis.dispose();
  }
});

Deno.test("a read naming a position this replica has not reached answers 503 after the bound; a malformed one 400", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url, { readWaitMs: 300 });
  try {
    const started = Date.now();
    const late = await fetch(new URL("api/tables?position=1", a.url));
    await late.body?.cancel();
    const res = await fetch(new URL("api/tables/t/rows?position=99999999999999-0", a.url));
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "1");
    assert.match(res.headers.get("content-type") ?? "", /problem\+json/);
    assert.match((await res.json()).detail, /has not applied log position 99999999999999-0/);
    assert.ok(Date.now() - started >= 300);
    const bad = await fetch(new URL("api/tables/t/rows?position=abc", a.url));
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
  } finally {
    await a.close();
    await redis.dispose();
  }
});

Deno.test("tables created, changed and dropped on one replica appear, change and disappear on the others", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url);
  const b = await startReplica(redis.url);
  try {
    const put = await fetch(new URL("api/tables/d", a.url), {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ schema: { k: "string", v: "float" }, index: "k" }),
    });
    assert.equal(put.status, 201);
    await put.body?.cancel();
    const at = put.headers.get("log-position")!;
    const seen = await fetch(new URL(`api/tables/d?position=${at}`, b.url));
    assert.equal(seen.status, 200);
    assert.equal((await seen.json()).index, "k");
    assert.equal((await postRows(b.url, "d", [{ k: "a", v: 1 }, { k: "a", v: 2 }])).status, 200);
    const del = await fetch(new URL("api/tables/d", b.url), { method: "DELETE" });
    assert.equal(del.status, 204);
    const gone = await fetch(
      new URL(`api/tables/d?position=${del.headers.get("log-position")}`, a.url),
    );
    assert.equal(gone.status, 404);
    await gone.body?.cancel();
    assert.equal(await exportAll(a.url), await exportAll(b.url));
  } finally {
    await a.close();
    await b.close();
    await redis.dispose();
  }
});

Deno.test("two replicas creating the same table at once both succeed, and agree", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url);
  const b = await startReplica(redis.url);
  try {
    const def = JSON.stringify({ schema: { k: "string", v: "integer" }, index: "k" });
    const put = (base: string) =>
      fetch(new URL("api/tables/both", base), {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: def,
      });
    const answers = await Promise.all([put(a.url), put(b.url), put(a.url), put(b.url)]);
    for (const res of answers) {
      assert.ok(res.status === 200 || res.status === 201, String(res.status));
      await res.body?.cancel();
    }
    const rows = await Promise.all([
      postRows(a.url, "new", [{ x: 1 }]),
      postRows(b.url, "new", [{ x: 2 }]),
    ]);
    for (const w of rows) assert.ok(w.status === 200 || w.status === 201, JSON.stringify(w.body));
    const [p0, p1] = [rows[0].position!, rows[1].position!];
    const last = compareIds(p0, p1) > 0 ? p0 : p1;
    for (const r of [a, b]) {
      await (await fetch(new URL(`api/tables/new?position=${last}`, r.url))).body?.cancel();
    }
    assert.equal(await exportAll(a.url), await exportAll(b.url));
    assert.equal(JSON.parse(await exportAll(a.url)).new.length, 2);
  } finally {
    await a.close();
    await b.close();
    await redis.dispose();
  }
});

Deno.test("a batch of about 12 MB goes through the stream to another replica intact", async () => {
  const redis = await startRedis();
  const a = await startReplica(redis.url);
  const b = await startReplica(redis.url);
  try {
    const lines = ["id,text"];
    for (let i = 0; lines.length <= 60_000; i++) lines.push(`${i},${"y".repeat(190)}${i}`);
    const csv = lines.join("\n");
    assert.ok(csv.length > 11_000_000, `${csv.length} bytes`);
    const res = await fetch(new URL("api/tables/big/rows", a.url), {
      method: "POST",
      headers: { "content-type": "text/csv" },
      body: csv,
    });
    assert.equal(res.status, 201, await res.clone().text());
    const { position } = await res.json();
    const info = await fetch(new URL(`api/tables/big?position=${position}`, b.url));
    assert.equal(info.status, 200);
    assert.equal((await info.json()).size, 60_000);
    const back = await fetch(new URL("api/tables/big/rows?format=csv", b.url));
    const want = await (await fetch(new URL("api/tables/big/rows?format=csv", a.url))).text();
    assert.equal(await back.text(), want);
  } finally {
    await a.close();
    await b.close();
    await redis.dispose();
  }
});
