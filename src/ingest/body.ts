/**
 * Reads a request body under a size limit and undoes `Content-Encoding`
 * (gzip, deflate) under a second limit on the decoded size.
 *
 * @module
 */

import { IngestError } from "./batch.ts";
import { type IngestLimits, limits as sharedLimits } from "./limits.ts";

/** Content codings the service accepts on request bodies. */
export const ACCEPTED_ENCODINGS = ["gzip", "deflate", "identity"] as const;

/**
 * Reads a whole stream into one buffer, stopping as soon as more than
 * `max` bytes have arrived, so an oversized body is never read to its end.
 *
 * @throws {IngestError} 413 past `max`.
 */
export async function readLimited(
  stream: ReadableStream<Uint8Array>,
  max: number,
  what = "request body",
): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        reader.cancel().catch(() => {});
        throw new IngestError(413, `${what} exceeds ${max} bytes`);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Reads a request body: refuses a declared `Content-Length` over the limit
 * without reading, cuts a streamed body off past the limit, and inflates
 * gzip or deflate bodies under `maxDecodedBytes`.
 *
 * @throws {IngestError} 413 too large, 415 unknown coding, 400 corrupt coding.
 */
export async function readBody(
  req: Request,
  limits: IngestLimits = sharedLimits,
): Promise<Uint8Array> {
  const coding = contentCoding(req.headers.get("content-encoding"));
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limits.maxBodyBytes) {
    req.body?.cancel().catch(() => {});
    throw new IngestError(413, `request body exceeds ${limits.maxBodyBytes} bytes`);
  }
  if (!req.body) return new Uint8Array(0);
  // HTTP framing holds a body to its declared length, so a declared body
  // under the limit can be read in one native call.
  const raw = declared !== null && /^\d+$/.test(declared)
    ? new Uint8Array(await req.arrayBuffer())
    : await readLimited(req.body, limits.maxBodyBytes);
  if (raw.byteLength > limits.maxBodyBytes) {
    throw new IngestError(413, `request body exceeds ${limits.maxBodyBytes} bytes`);
  }
  if (coding === "identity") return raw;
  return await inflate(raw, coding, limits.maxDecodedBytes);
}

/**
 * Compressed bytes handed to the decompressor at a time. The decompressor
 * turns each input chunk into one output chunk, and deflate expands at most
 * about 1032:1, so a slice this size cannot decode to more than about 4 MiB:
 * the limit check between chunks then bounds memory however dense the bomb.
 */
const INFLATE_SLICE_BYTES = 4 * 1024;

/**
 * Decompresses `raw` with `coding`, giving up once the output passes `max`
 * bytes so a small compressed bomb cannot fill memory.
 *
 * @throws {IngestError} 413 past `max`, 400 for corrupt data.
 */
export async function inflate(
  raw: Uint8Array,
  coding: "gzip" | "deflate",
  max: number,
): Promise<Uint8Array> {
  const format = coding === "deflate" && !looksLikeZlib(raw) ? "deflate-raw" : coding;
  let at = 0;
  // `pull` with no queue hands over the next slice only when the decompressor
  // asks, so the input never runs ahead of the size check on the output.
  const slices = new ReadableStream<BufferSource>({
    pull(controller) {
      if (at >= raw.byteLength) {
        controller.close();
        return;
      }
      const end = Math.min(at + INFLATE_SLICE_BYTES, raw.byteLength);
      controller.enqueue(raw.subarray(at, end) as BufferSource);
      at = end;
    },
  }, { highWaterMark: 0 });
  const stream = slices.pipeThrough(new DecompressionStream(format));
  try {
    return await readLimited(stream, max, "decoded request body");
  } catch (err) {
    if (err instanceof IngestError) throw err;
    throw new IngestError(400, `body is not valid ${coding} data`);
  }
}

/** HTTP's `deflate` is zlib-wrapped, but some clients send raw deflate. */
function looksLikeZlib(raw: Uint8Array): boolean {
  return raw.byteLength >= 2 && (raw[0] & 0x0f) === 8 && ((raw[0] << 8) | raw[1]) % 31 === 0;
}

function contentCoding(header: string | null): "gzip" | "deflate" | "identity" {
  if (header === null) return "identity";
  const codings = header.split(",").map((c) => c.trim().toLowerCase()).filter((c) => c !== "");
  if (codings.length === 0) return "identity";
  if (codings.length > 1) {
    throw new IngestError(415, "stacked content codings are not accepted");
  }
  const c = codings[0] === "x-gzip" ? "gzip" : codings[0];
  if (c === "gzip" || c === "deflate" || c === "identity") return c;
  throw new IngestError(415, `content coding ${codings[0]} is not accepted; use gzip or deflate`);
}
