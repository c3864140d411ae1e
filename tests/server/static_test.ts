import assert from "node:assert/strict";
import { createHandler } from "../../src/server/handler.ts";
import { EngineHost } from "../../src/engine/host.ts";
import { findAssets } from "../../src/server/assets.ts";
import { IMMUTABLE } from "../../src/server/pages.ts";
import { withService } from "../support/service.ts";

const host = await EngineHost.create();
const assets = findAssets();
const handler = createHandler({ host });
const V = assets.version;
const get = (path: string, headers: Record<string, string> = {}, method = "GET") =>
  handler(new Request(`http://localhost${path}`, { method, headers }));

Deno.test("serveFile() serves WASM as application/wasm with an immutable versioned URL", async () => {
  const res = await get(`/assets/${V}/perspective/wasm/perspective-server.wasm`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/wasm");
  assert.equal(res.headers.get("cache-control"), IMMUTABLE);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const disk = await Deno.readFile(`${assets.dirs.perspective}/wasm/perspective-server.wasm`);
  assert.equal(bytes.byteLength, disk.byteLength);
  assert.deepEqual(bytes.subarray(0, 64), disk.subarray(0, 64));
});

Deno.test("serveFile() gives JS and CSS their media types", async () => {
  const js = await get(`/assets/${V}/perspective-viewer/cdn/perspective-viewer.js`);
  assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
  await js.body?.cancel();
  const css = await get(`/assets/${V}/perspective-viewer/css/themes.css`);
  assert.equal(css.headers.get("content-type"), "text/css; charset=utf-8");
  await css.body?.cancel();
});

Deno.test("serveFile() returns 304 for a matching If-None-Match", async () => {
  const path = `/assets/${V}/perspective/cdn/perspective.js`;
  const first = await get(path);
  await first.body?.cancel();
  const etag = first.headers.get("etag");
  assert.ok(etag);
  const again = await get(path, { "if-none-match": etag });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), "");
  const other = await get(path, { "if-none-match": '"something-else"' });
  assert.equal(other.status, 200);
  await other.body?.cancel();
});

Deno.test("serveFile() answers HEAD with headers and no body", async () => {
  const res = await get(`/assets/${V}/perspective/cdn/perspective.js`, {}, "HEAD");
  assert.equal(res.status, 200);
  const disk = await Deno.stat(`${assets.dirs.perspective}/cdn/perspective.js`);
  assert.equal(res.headers.get("content-length"), String(disk.size));
  assert.equal(await res.text(), "");
});

Deno.test("serveFile() refuses other methods with 405 and Allow", async () => {
  for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
    const res = await get(`/assets/${V}/perspective/cdn/perspective.js`, {}, method);
    assert.equal(res.status, 405, method);
    assert.match(res.headers.get("allow") ?? "", /GET/);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    await res.body?.cancel();
  }
});

Deno.test("serveFile() compresses JS with brotli or gzip as the client accepts", async () => {
  const path = `/assets/${V}/perspective-viewer-datagrid/cdn/perspective-viewer-datagrid.js`;
  const disk = await Deno.readFile(
    `${assets.dirs["perspective-viewer-datagrid"]}/cdn/perspective-viewer-datagrid.js`,
  );
  const br = await get(path, { "accept-encoding": "gzip, deflate, br" });
  assert.equal(br.headers.get("content-encoding"), "br");
  assert.equal(br.headers.get("vary"), "Accept-Encoding");
  const brBytes = new Uint8Array(await br.arrayBuffer());
  assert.ok(brBytes.byteLength < disk.byteLength / 2);
  const gz = await get(path, { "accept-encoding": "gzip" });
  assert.equal(gz.headers.get("content-encoding"), "gzip");
  const unzipped = await new Response(gz.body!.pipeThrough(new DecompressionStream("gzip")))
    .arrayBuffer();
  assert.deepEqual(new Uint8Array(unzipped), disk);
  const none = await get(path, { "accept-encoding": "br;q=0, gzip;q=0" });
  assert.equal(none.headers.get("content-encoding"), null);
  assert.equal(new Uint8Array(await none.arrayBuffer()).byteLength, disk.byteLength);
  assert.notEqual(br.headers.get("etag"), none.headers.get("etag"));
});

Deno.test("serveFile() compresses CSS and WASM", async () => {
  for (
    const path of [
      `/assets/${V}/perspective-viewer/css/themes.css`,
      `/assets/${V}/perspective/wasm/perspective-server.wasm`,
    ]
  ) {
    const res = await get(path, { "accept-encoding": "gzip" });
    assert.equal(res.headers.get("content-encoding"), "gzip", path);
    await res.body?.cancel();
  }
});

Deno.test("serveFile() never serves a file outside its root, however the path is spelled", async () => {
  const attempts = [
    `/assets/${V}/perspective/..%2f..%2fpackage.json`,
    `/assets/${V}/perspective/%2e%2e/package.json`,
    `/assets/${V}/perspective/%2e%2e%2fpackage.json`,
    `/assets/${V}/perspective/cdn%2f..%2f..%2fpackage.json`,
    `/assets/${V}/perspective/..%5cpackage.json`,
    `/assets/${V}/perspective/cdn\\..\\..\\package.json`,
    `/assets/${V}/perspective/%00`,
    `/assets/${V}/perspective/.hidden`,
    `/static/.gitkeep`,
    `/static/..%2f..%2fdeno.json`,
    `/static/%2e%2e/main.ts`,
    `/static/%E0%A4%A`,
  ];
  for (const path of attempts) {
    const res = await get(path);
    assert.ok([400, 404].includes(res.status), `${path} -> ${res.status}`);
    const body = await res.text();
    assert.doesNotMatch(body, /"version"|import\.meta/, path);
  }
});

Deno.test("serveFile() refuses traversal sent raw on the socket", async () => {
  await withService({ demo: false }, async (service) => {
    const raw = [
      "/static/../deno.json",
      "/static/%2e%2e/deno.json",
      "/assets/" + V + "/perspective/../../../../../etc/passwd",
      "/static/..\\deno.json",
    ];
    for (const target of raw) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: service.addr.port });
      await conn.write(
        new TextEncoder().encode(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      );
      const text = await new Response(conn.readable).text();
      const status = Number(text.split(" ")[1]);
      assert.ok([400, 404].includes(status), `${target} -> ${status}`);
      assert.doesNotMatch(text, /"tasks"|root:x:0/, target);
    }
  });
});

Deno.test("serveFile() 404s an unknown version or package", async () => {
  for (const path of [`/assets/0.0.1/perspective/cdn/perspective.js`, `/assets/${V}/lodash/x.js`]) {
    const res = await get(path);
    assert.equal(res.status, 404, path);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    await res.body?.cancel();
  }
});

Deno.test("pages carry the asset version and relative URLs", async () => {
  const home = await get("/");
  assert.equal(home.status, 200);
  assert.equal(home.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(home.headers.get("cache-control"), "no-cache");
  const view = await (await get("/view/demo")).text();
  assert.match(view, new RegExp(`\\.\\./assets/${V.replaceAll(".", "\\.")}/perspective-viewer/`));
  assert.doesNotMatch(view, /\{\{|https?:\/\//);
  await home.body?.cancel();
});

Deno.test("createHandler() serves everything below BASE_PATH and nothing outside it", async () => {
  const based = createHandler({ host, basePath: "/user/alice/proxy/8080" });
  const at = (path: string) => based(new Request(`http://localhost${path}`));
  const redirect = await at("/user/alice/proxy/8080");
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.get("location"), "/user/alice/proxy/8080/");
  const home = await at("/user/alice/proxy/8080/");
  assert.equal(home.status, 200);
  await home.body?.cancel();
  const api = await at("/user/alice/proxy/8080/api/tables");
  assert.equal(api.status, 200);
  await api.body?.cancel();
  const asset = await at(`/user/alice/proxy/8080/assets/${V}/perspective/cdn/perspective.js`);
  assert.equal(asset.status, 200);
  await asset.body?.cancel();
  for (const outside of ["/", "/api/tables", "/user/alice/proxy/80800/"]) {
    const res = await at(outside);
    assert.equal(res.status, 404, outside);
    await res.body?.cancel();
  }
});
