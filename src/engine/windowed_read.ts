/**
 * A client's `view.to_arrow()` of a large view, served in windows. The
 * engine answers one `ViewToArrowReq` in one call, which holds the engine,
 * and every other session's requests queued behind it, for as long as the
 * whole view takes to serialize. Here such a request becomes several
 * requests of the session's own, one window of rows each, sent one after
 * the other so that other sessions' requests are served between them; the
 * windows are joined into one Arrow IPC stream (see `export_arrow.ts`) and
 * answered as the engine would, with the client's message id and view id.
 *
 * @module
 */

import { encodeEnvelopeParts, type Envelope, readVarint, stringMessage } from "./envelope.ts";
import type { Logger } from "../ops/log.ts";
import type { Pace } from "./bulk_pacer.ts";
import { ArrowStreamJoiner } from "./export_arrow.ts";
import { WINDOW_CELLS, windowRowsFor } from "./export_windows.ts";
import { Req, SERVER_ERROR } from "../protocol/messages.ts";
import {
  fields,
  pushBytes,
  pushVarint,
  pushVarintField,
  WIRE_LEN,
  WIRE_VARINT,
} from "../protocol/wire.ts";

/**
 * Sends a request of the session's own and resolves with its answer, which
 * the client never sees; undefined when the session closed meanwhile.
 */
export type Ask = (
  entityId: string,
  kind: number,
  body: Uint8Array,
) => Promise<Envelope | undefined>;

/**
 * Which requests wait for a windowed read that runs: every later request of
 * the session (`"session"`, the order a client sees behind the engine's one
 * call), or only the later requests on the same view (`"view"`, for a
 * session that carries many viewers' views, whose reads of other views must
 * not queue behind one viewer's export).
 */
export type WindowOrder = "session" | "view";

/**
 * One session's windowed reads. The session's requests that arrive while
 * such a read runs wait for it, as {@linkcode WindowOrder} says, so that
 * they are answered in the order they were asked, as behind the engine's
 * one call.
 */
export class WindowedReads {
  /** Per line of requests that keep their order, the end of its last request. */
  readonly #tails = new Map<string, Promise<void>>();

  /**
   * @param ask Sends the session's own requests.
   * @param deliver Sends an answer to the client.
   * @param log Where a read that fails is reported.
   * @param order Which requests wait for a windowed read.
   * @param pace Runs each window in its turn among bulk reads (see `bulk_pacer.ts`).
   */
  constructor(
    readonly ask: Ask,
    readonly deliver: (bytes: Uint8Array) => void,
    readonly log: Logger,
    readonly order: WindowOrder = "session",
    readonly pace: Pace = (read) => read(),
  ) {}

  #line(req: Envelope): string {
    return this.order === "view" ? req.entityId : "";
  }

  /** Whether `req` goes through {@linkcode run}: a `to_arrow`, or any request of a line with one in it. */
  claims(req: Envelope): boolean {
    return req.kind === Req.VIEW_TO_ARROW || this.#tails.has(this.#line(req));
  }

  /**
   * Runs `req` once the requests in line before it are answered: a large
   * `to_arrow` is answered in windows, anything else is handed to
   * `forward`. Later requests of its line wait for it in turn.
   *
   * @param req The request, in a buffer that stays valid while it waits.
   * @param forward Hands the request to the engine; resolves once answered.
   */
  async run(req: Envelope, forward: () => Promise<void>): Promise<void> {
    const line = this.#line(req);
    const before = this.#tails.get(line);
    let done = () => {};
    const mine = new Promise<void>((resolve) => done = resolve);
    this.#tails.set(line, mine);
    try {
      await before;
      const answer = await this.#read(req);
      if (answer) this.deliver(answer);
      else await forward();
    } finally {
      if (this.#tails.get(line) === mine) this.#tails.delete(line);
      done();
    }
  }

  async #read(req: Envelope): Promise<Uint8Array | undefined> {
    if (req.kind !== Req.VIEW_TO_ARROW) return undefined;
    try {
      return await readInWindows(req, this.ask, this.pace);
    } catch (error) {
      this.log.warn("a windowed to_arrow failed; the engine answers it whole", { error });
      return undefined;
    }
  }
}

/** `ViewPort` of `perspective.proto`: each field optional. */
interface Viewport {
  start_row?: number;
  start_col?: number;
  end_row?: number;
  end_col?: number;
}

const VIEWPORT_FIELDS = ["", "start_row", "start_col", "end_row", "end_col"] as const;

/** `ViewDimensionsResp.num_view_rows` and `num_view_columns`. */
const VIEW_ROWS = 3;
const VIEW_COLUMNS = 4;

/**
 * The viewport of a `ViewToArrowReq` body, or undefined for a request to
 * leave to the engine: one asking for compression, or with anything this
 * reader does not know.
 */
export function arrowRequestViewport(body: Uint8Array): Viewport | undefined {
  const viewport: Viewport = {};
  try {
    for (const f of fields(body)) {
      if (f.no !== 1 || f.wire !== WIRE_LEN) return undefined;
      for (const v of fields(f.bytes)) {
        if (v.wire !== WIRE_VARINT || v.no < 1 || v.no > 4) return undefined;
        viewport[VIEWPORT_FIELDS[v.no] as keyof Viewport] = v.int;
      }
    }
  } catch {
    return undefined;
  }
  return viewport;
}

/** A `ViewToArrowReq` body for one window: its rows, and the client's columns if it named them. */
function windowRequest(start: number, end: number, columns: Viewport): Uint8Array {
  const viewport: number[] = [];
  pushVarintField(viewport, 1, start);
  if (columns.start_col !== undefined) pushVarintField(viewport, 2, columns.start_col);
  pushVarintField(viewport, 3, end);
  if (columns.end_col !== undefined) pushVarintField(viewport, 4, columns.end_col);
  const out: number[] = [];
  pushBytes(out, 1, viewport);
  return new Uint8Array(out);
}

/** The Arrow bytes of a `ViewToArrowResp` body. */
function arrowOf(body: Uint8Array): Uint8Array {
  for (const f of fields(body)) if (f.no === 1 && f.wire === WIRE_LEN) return f.bytes;
  return new Uint8Array(0);
}

/**
 * Serves a `ViewToArrowReq` that covers more than about 50k cells in
 * windows of rows, one own request at a time.
 *
 * @param req The client's request, decoded.
 * @param ask Sends the session's own requests.
 * @param pace Runs each window's request in its turn among bulk reads.
 * @returns The encoded answer for the client, or undefined when the
 *   request should go to the engine unchanged: not a `to_arrow`, one with
 *   compression or a viewport of few cells, one this reader cannot decode,
 *   a view the engine does not know (it answers the error itself), or
 *   windows that cannot be joined.
 */
export async function readInWindows(
  req: Envelope,
  ask: Ask,
  pace: Pace = (read) => read(),
): Promise<Uint8Array | undefined> {
  if (req.kind !== Req.VIEW_TO_ARROW) return undefined;
  const asked = arrowRequestViewport(req.body);
  if (!asked) return undefined;
  const explicit = asked.start_row !== undefined && asked.end_row !== undefined &&
    asked.start_col !== undefined && asked.end_col !== undefined;
  if (explicit && cells(asked, asked.end_row!, asked.end_col!) <= WINDOW_CELLS) return undefined;
  const dims = await ask(req.entityId, Req.VIEW_DIMENSIONS, new Uint8Array(0));
  if (!dims || dims.kind !== Req.VIEW_DIMENSIONS) return undefined;
  const rows = readVarint(dims.body, VIEW_ROWS) ?? 0;
  const columns = readVarint(dims.body, VIEW_COLUMNS) ?? 0;
  const start = asked.start_row ?? 0;
  const end = Math.min(asked.end_row ?? rows, rows);
  if (cells(asked, rows, columns) <= WINDOW_CELLS || end <= start) return undefined;
  const colStart = Math.min(asked.start_col ?? 0, columns);
  const width = Math.max(1, Math.min(asked.end_col ?? columns, columns) - colStart);
  const step = windowRowsFor(width);
  const joiner = new ArrowStreamJoiner();
  const parts: Uint8Array[] = [];
  for (let from = start; from < end; from += step) {
    const to = Math.min(end, from + step);
    const body = windowRequest(from, to, asked);
    // Joining a window is part of its cost, as its read is: both are paced.
    const outcome = await pace(async (): Promise<Uint8Array | null | undefined> => {
      const answer = await ask(req.entityId, Req.VIEW_TO_ARROW, body);
      if (!answer) return undefined;
      // A view deleted or changed under the read: the client hears the engine's error.
      if (answer.kind === SERVER_ERROR) return reply(req, SERVER_ERROR, [answer.body]);
      if (answer.kind !== Req.VIEW_TO_ARROW) {
        return failure(req, "an unexpected answer to a window");
      }
      try {
        parts.push(joiner.push(arrowOf(answer.body)));
        return null;
      } catch {
        // Columns the joiner cannot re-encode: the engine answers in one call.
        if (from === start) return undefined;
        return failure(req, "windows of the view could not be joined");
      }
    });
    // null: on to the next window; undefined: the engine answers the request whole.
    if (outcome !== null) return outcome;
  }
  parts.push(joiner.end());
  return reply(req, Req.VIEW_TO_ARROW, [arrowHeader(parts), ...parts]);
}

/** Cells a viewport covers in a view of `rows` by `columns`. */
function cells(v: Viewport, rows: number, columns: number): number {
  const r = Math.max(0, Math.min(v.end_row ?? rows, rows) - (v.start_row ?? 0));
  const c = Math.max(0, Math.min(v.end_col ?? columns, columns) - (v.start_col ?? 0));
  return r * c;
}

/** The field header of `ViewToArrowResp.arrow` for the bytes of `parts`. */
function arrowHeader(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.byteLength;
  const out = [(1 << 3) | WIRE_LEN];
  pushVarint(out, length);
  return new Uint8Array(out);
}

/** A `ServerError` answer to the client's request. */
function failure(req: Envelope, what: string): Uint8Array {
  return reply(req, SERVER_ERROR, [stringMessage(1, `to_arrow in windows failed: ${what}`)]);
}

/** The response envelope for `req` whose member `kind` is the bytes of `body`. */
function reply(req: Envelope, kind: number, body: Uint8Array[]): Uint8Array {
  return encodeEnvelopeParts({ msgId: req.msgId, entityId: req.entityId, kind }, body);
}
