/**
 * One memory probe, run as a child of `bench/memory.ts`: fills one table of
 * a given shape with 500k-row Arrow batches straight into the engine and,
 * after each batch, prints one JSON line with the rows sent, the table's
 * size and the engine's heap and used bytes. It stops after the first
 * batch the engine did not fully store (plus one more, to show it goes
 * on), at an engine abort, or at `MAX_ROWS`.
 *
 * Args: `<shape> <batchRows> <maxRows>`.
 *
 * @module
 */

import {
  Dictionary,
  Int32,
  makeVector,
  Table as ArrowTable,
  tableToIPC,
  Utf8,
  vectorFromArray,
} from "apache-arrow";
import { EngineHost } from "../../src/engine/host.ts";
import { readEngineMemory } from "../../src/engine/memory.ts";

const [shape, batchArg, maxArg] = Deno.args;
const BATCH = Number(batchArg ?? 500_000);
const MAX_ROWS = Number(maxArg ?? 60_000_000);

/** The table shapes probed: name to a batch maker and table options. */
const SHAPES: Record<string, { index?: string; make: (offset: number) => Uint8Array }> = {
  // Four float64 columns, no index: the shape of the reported loss.
  "float64x4": { make: (_o) => floats(4) },
  // One float64 column: the narrowest table.
  "float64x1": { make: (_o) => floats(1) },
  // Two float64, one int32, one dictionary string of 1,000 values.
  "mixed": { make: (o) => mixed(o) },
  // Four float64 plus an int32 key, indexed on the key (each row new).
  "indexed": { index: "id", make: (o) => indexed(o) },
};

function floats(n: number): Uint8Array {
  const cols: Record<string, ReturnType<typeof makeVector>> = {};
  for (let c = 0; c < n; c++) {
    const a = new Float64Array(BATCH);
    for (let i = 0; i < BATCH; i++) a[i] = Math.random();
    cols[`f${c}`] = makeVector(a);
  }
  return tableToIPC(new ArrowTable(cols), "stream");
}

const WORDS = Array.from({ length: 1000 }, (_, i) => `category-${i}`);

function mixed(offset: number): Uint8Array {
  const a = new Float64Array(BATCH), b = new Float64Array(BATCH), n = new Int32Array(BATCH);
  const s: string[] = new Array(BATCH);
  for (let i = 0; i < BATCH; i++) {
    a[i] = Math.random();
    b[i] = Math.random();
    n[i] = offset + i;
    s[i] = WORDS[i % WORDS.length];
  }
  return tableToIPC(
    new ArrowTable({
      a: makeVector(a),
      b: makeVector(b),
      n: makeVector(n),
      s: vectorFromArray(s, new Dictionary(new Utf8(), new Int32())),
    }),
    "stream",
  );
}

function indexed(offset: number): Uint8Array {
  const id = new Int32Array(BATCH);
  for (let i = 0; i < BATCH; i++) id[i] = offset + i;
  const cols: Record<string, ReturnType<typeof makeVector>> = { id: makeVector(id) };
  for (let c = 0; c < 4; c++) {
    const a = new Float64Array(BATCH);
    for (let i = 0; i < BATCH; i++) a[i] = Math.random();
    cols[`f${c}`] = makeVector(a);
  }
  return tableToIPC(new ArrowTable(cols), "stream");
}

const spec = SHAPES[shape];
if (!spec) throw new Error(`unknown shape ${shape}; one of ${Object.keys(SHAPES).join(", ")}`);

const host = await EngineHost.create();
// The table is created from the first batch, so its schema is the batch's.
let live: Awaited<ReturnType<EngineHost["createTable"]>> | undefined;
let sent = 0;
let drops = 0;
for (let offset = 0; sent < MAX_ROWS; offset += BATCH) {
  const bytes = spec.make(offset);
  const t0 = performance.now();
  try {
    if (!live) {
      live = await host.createTable(
        "probe",
        bytes.slice().buffer,
        spec.index ? { index: spec.index } : {},
      );
    } else {
      await live.update(bytes.slice().buffer, { format: "arrow" } as never);
    }
    await host.flush();
  } catch (err) {
    console.log(JSON.stringify({ sent, error: String(err).slice(0, 200) }));
    break;
  }
  sent += BATCH;
  const size = await live.size();
  const mem = await readEngineMemory(host.client);
  console.log(JSON.stringify({
    sent,
    size,
    heap: mem.heap,
    used: mem.used,
    batchBytes: bytes.byteLength,
    ms: Math.round(performance.now() - t0),
  }));
  if (size !== sent) drops++;
  if (drops >= 2) break;
}
host.close();
Deno.exit(0);
