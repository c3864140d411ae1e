import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

/**
 * Layers from the bottom up, by folder (or file, where a folder's files sit
 * on different layers): a module imports only from its own folder or from
 * a layer below its own.
 */
const LAYERS: [string, number][] = [
  ["ops/", 0],
  ["config/env.ts", 1],
  ["config/bytes.ts", 1],
  ["protocol/", 2],
  ["engine/", 3],
  ["fanout/", 4],
  ["storage/", 5],
  ["ingest/", 6],
  ["security/", 7],
  ["server/", 8],
  // Reads the config file for every part, so it sits above them all.
  ["config/file.ts", 9],
  ["service.ts", 10],
];

const SRC = fromFileUrl(new URL("../src/", import.meta.url));

function layerOf(path: string): { layer: number; folder: string } {
  const hit = LAYERS.find(([prefix]) => path === prefix || path.startsWith(prefix));
  if (!hit) throw new Error(`src/${path} belongs to no layer`);
  return { layer: hit[1], folder: path.includes("/") ? path.slice(0, path.indexOf("/")) : path };
}

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) yield* sources(`${path}/`);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** Relative specifiers of static and dynamic imports and re-exports. */
function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) out.push(m[1]);
  for (const m of text.matchAll(/new URL\("(\.{1,2}\/[^"]+\.ts)", import\.meta\.url\)/g)) {
    out.push(m[1]);
  }
  return out;
}

Deno.test("no module of src/ imports from a layer above its own", async () => {
  const wrong: string[] = [];
  let edges = 0;
  for await (const file of sources(SRC)) {
    const from = relative(SRC, file);
    const mine = layerOf(from);
    for (const spec of importsOf(await Deno.readTextFile(file))) {
      const to = relative(SRC, fromFileUrl(new URL(spec, `file://${file}`)));
      if (to.startsWith("..")) continue;
      edges++;
      const theirs = layerOf(to);
      if (theirs.folder === mine.folder) continue;
      if (theirs.layer >= mine.layer) wrong.push(`src/${from} imports src/${to}`);
    }
  }
  assert.ok(edges > 100, `only ${edges} imports found: the scan is broken`);
  assert.deepEqual(wrong, []);
});

Deno.test("the engine's Worker side imports nothing outside engine/, protocol/ and ops/", async () => {
  const allowed = ["engine/", "protocol/", "ops/"];
  const seen = new Set<string>();
  const queue = ["engine/worker/engine_worker.ts"];
  while (queue.length) {
    const path = queue.pop()!;
    if (seen.has(path)) continue;
    seen.add(path);
    assert.ok(allowed.some((p) => path.startsWith(p)), `the Worker loads src/${path}`);
    const file = `${SRC}${path}`;
    for (const spec of importsOf(await Deno.readTextFile(file))) {
      const to = relative(SRC, fromFileUrl(new URL(spec, `file://${file}`)));
      if (!to.startsWith("..")) queue.push(to);
    }
  }
  assert.ok(seen.has("engine/server.ts"));
});
