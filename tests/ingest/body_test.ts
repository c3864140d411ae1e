import assert from "node:assert/strict";
import { inflate, readBody } from "../../src/ingest/body.ts";
import { IngestError } from "../../src/ingest/batch.ts";
import { DEFAULT_INGEST_LIMITS } from "../../src/ingest/limits.ts";

const MiB = 1024 * 1024;

/** Compresses the chunks in order, pulling one at a time so a huge input is never held. */
async function compress(
  format: CompressionFormat,
  chunks: Iterable<Uint8Array<ArrayBuffer>>,
): Promise<Uint8Array> {
  const it = chunks[Symbol.iterator]();
  const source = new ReadableStream<BufferSource>({
    pull(controller) {
      const next = it.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
  });
  const compressed = source.pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(compressed).arrayBuffer());
}

function* zeros(total: number): Generator<Uint8Array<ArrayBuffer>> {
  const block = new Uint8Array(MiB);
  for (let sent = 0; sent < total; sent += block.byteLength) {
    yield block.subarray(0, Math.min(block.byteLength, total - sent));
  }
}

/** Bytes that deflate barely shrinks, so they span many input slices. */
function noise(size: number, seed = 7): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let s = seed;
  for (let i = 0; i < size; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    out[i] = s >>> 16;
  }
  return out;
}

/**
 * The process's resident set at its highest since `resetPeak`. Linux keeps a
 * high-water mark that catches a spike freed before the call returns; elsewhere
 * only the size afterwards is known.
 */
function peakRss(): number {
  const now = Deno.memoryUsage().rss;
  try {
    const hwm = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+) kB/);
    return hwm ? Math.max(now, Number(hwm[1]) * 1024) : now;
  } catch {
    return now;
  }
}

function resetPeak(): void {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
  } catch {
    // Without the reset the high-water mark may predate the call; peakRss then overstates.
  }
}

async function rejectsWith(status: number, run: () => Promise<unknown>): Promise<void> {
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof IngestError, String(err));
    assert.deepEqual(err.status, status, err.message);
    return true;
  });
}

/**
 * RSS growth allowed while a bomb is refused. Measured at about 40 MB: the
 * 32 MiB decoded so far plus one slice's output; the old one-chunk inflate
 * grew about 2 GB on this bomb.
 */
const BOMB_RSS_GROWTH = 300 * 1e6;

function encodedRequest(body: Uint8Array, coding: string): Request {
  return new Request("http://127.0.0.1/", {
    method: "POST",
    headers: { "content-encoding": coding },
    body: body as BodyInit,
  });
}

for (const coding of ["gzip", "deflate"] as const) {
  Deno.test(`a 1 GiB ${coding} bomb is refused with 413 and bounded memory`, async () => {
    const bomb = await compress(coding, zeros(1024 * MiB));
    const limits = { ...DEFAULT_INGEST_LIMITS };
    for (
      const [how, run] of [
        ["inflate", () => inflate(bomb, coding, limits.maxDecodedBytes)],
        ["readBody", () => readBody(encodedRequest(bomb, coding), limits)],
      ] as const
    ) {
      const before = Deno.memoryUsage().rss;
      resetPeak();
      const started = performance.now();
      await rejectsWith(413, run);
      const growth = peakRss() - before;
      assert.ok(
        growth < BOMB_RSS_GROWTH,
        `${how}: RSS grew ${(growth / MiB).toFixed(0)} MiB refusing the bomb`,
      );
      // Stopping at the limit means decoding 32 MiB, not the whole gigabyte.
      assert.ok(performance.now() - started < 5000, `${how} took too long`);
    }
  });
}

Deno.test("corrupt gzip is refused with 400", async () => {
  const good = await compress("gzip", [new TextEncoder().encode("a,b\n1,2\n".repeat(1000))]);
  const flipped = good.slice();
  flipped[Math.floor(flipped.byteLength / 2)] ^= 0xff;
  for (
    const bad of [
      new TextEncoder().encode("this is not gzip"),
      flipped,
      good.subarray(0, good.byteLength - 4),
    ]
  ) {
    await rejectsWith(400, () => inflate(bad, "gzip", MiB));
    await rejectsWith(400, () => readBody(encodedRequest(bad, "gzip")));
  }
});

Deno.test("deflate decodes both zlib-wrapped and raw streams", async () => {
  const data = noise(200_000);
  for (const format of ["deflate", "deflate-raw", "gzip"] as const) {
    const compressed = await compress(format, [data]);
    const coding = format === "gzip" ? "gzip" : "deflate";
    assert.deepEqual(await inflate(compressed, coding, MiB), data, format);
    assert.deepEqual(await readBody(encodedRequest(compressed, coding)), data, format);
  }
});

Deno.test("a decoded body of exactly the limit passes, one byte more is 413", async () => {
  // Noise spans many slices; zeros put the limit inside one large output chunk.
  for (const make of [noise, (n: number) => new Uint8Array(n)]) {
    for (const limit of [100_000, 5 * MiB + 3]) {
      const exact = make(limit);
      const over = make(limit + 1);
      for (const coding of ["gzip", "deflate"] as const) {
        const fits = await compress(coding, [exact]);
        const tooBig = await compress(coding, [over]);
        assert.deepEqual((await inflate(fits, coding, limit)).byteLength, limit);
        await rejectsWith(413, () => inflate(tooBig, coding, limit));
        const limits = { ...DEFAULT_INGEST_LIMITS, maxDecodedBytes: limit };
        assert.deepEqual((await readBody(encodedRequest(fits, coding), limits)).byteLength, limit);
      }
    }
  }
});
