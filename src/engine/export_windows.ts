/**
 * Reads a view in windows of rows, one engine call per window, and turns
 * the windows into the chunks of one export body. Each window is read only
 * when the body's consumer asks for the next chunk, so an export holds the
 * engine for one window at a time and never holds more than one window.
 *
 * @module
 */

import { ArrowStreamJoiner } from "./export_arrow.ts";
import type { Pace } from "./bulk_pacer.ts";

/** A window of rows (and, for one format, one column) as the engine's reads take it. */
export interface Viewport {
  start_row?: number;
  end_row?: number;
  start_col?: number;
  end_col?: number;
}

/**
 * What an export reads its windows from: a table's view, or one view per
 * range of its rows (see `export_ranges.ts`).
 */
export interface WindowSource {
  /** Arrow IPC of the window. */
  to_arrow(w: Viewport): Promise<ArrayBuffer>;
  /** CSV of the window, with its header. */
  to_csv(w: Viewport): Promise<string>;
  /** A JSON array of the window's rows. */
  to_json_string(w: Viewport): Promise<string>;
  /** A JSON object of the window's columns. */
  to_columns_string(w: Viewport): Promise<string>;
}

/** Formats a table can be exported in. */
export type ExportFormat = "arrow" | "csv" | "json" | "ndjson" | "columns";

/** Cells an export reads per engine call, so that one call stays short. */
export const WINDOW_CELLS = 50_000;
/** Fewest rows per window, so that a very wide table still moves in sizeable steps. */
export const MIN_WINDOW_ROWS = 1_000;
/** Most rows per window. */
export const MAX_WINDOW_ROWS = 50_000;

/** Rows per window for a view of `columns` columns: about {@linkcode WINDOW_CELLS} cells. */
export function windowRowsFor(columns: number): number {
  const rows = Math.floor(WINDOW_CELLS / Math.max(1, columns));
  return Math.min(MAX_WINDOW_ROWS, Math.max(MIN_WINDOW_ROWS, rows));
}

/** One engine read of an export. */
export interface ExportWindow {
  /** First row. */
  start: number;
  /** Row after the last. */
  end: number;
  /** The one column read, for the `columns` format, which reads column by column. */
  column?: number;
}

/** What to read. */
export interface ExportPlan {
  /** Rows in the view when the export starts; rows added later are not read. */
  rows: number;
  /** Columns in the view. */
  columns: number;
  /** Rows per engine call. */
  windowRows: number;
  /** Called before each engine read; a seam for tests. */
  onWindow?: (window: ExportWindow) => void;
  /** Runs each engine read in its turn among bulk reads (see `bulk_pacer.ts`). */
  pace: Pace;
}

const encoder = new TextEncoder();

/**
 * The body of an export of `view` in `format`, as chunks: each chunk is one
 * engine read, and the next read happens only when the next chunk is asked for.
 */
export function exportChunks(
  view: WindowSource,
  format: ExportFormat,
  plan: ExportPlan,
): AsyncGenerator<Uint8Array> {
  switch (format) {
    case "arrow":
      return arrowChunks(view, plan);
    case "csv":
      return csvChunks(view, plan);
    case "json":
      return jsonChunks(view, plan);
    case "ndjson":
      return ndjsonChunks(view, plan);
    case "columns":
      return columnChunks(view, plan);
  }
}

/**
 * The row windows of `rows` rows, `size` at a time; one empty window for no
 * rows, so that the format's header (an Arrow schema, a CSV header) is read.
 */
export function* rowWindows(rows: number, size: number): Generator<ExportWindow> {
  if (rows === 0) yield { start: 0, end: 0 };
  for (let start = 0; start < rows; start += size) {
    yield { start, end: Math.min(rows, start + size) };
  }
}

/** The engine's window option for `w`. */
function viewport(w: ExportWindow): Viewport {
  const rows = { start_row: w.start, end_row: w.end };
  return w.column === undefined ? rows : { ...rows, start_col: w.column, end_col: w.column + 1 };
}

async function* arrowChunks(view: WindowSource, plan: ExportPlan): AsyncGenerator<Uint8Array> {
  const joiner = new ArrowStreamJoiner();
  for (const w of rowWindows(plan.rows, plan.windowRows)) {
    plan.onWindow?.(w);
    // Joining a window is part of its cost, as its read is: both are paced.
    yield await plan.pace(async () =>
      joiner.push(new Uint8Array(await view.to_arrow(viewport(w))))
    );
  }
  yield joiner.end();
}

async function* csvChunks(view: WindowSource, plan: ExportPlan): AsyncGenerator<Uint8Array> {
  let header: string | undefined;
  for (const w of rowWindows(plan.rows, plan.windowRows)) {
    plan.onWindow?.(w);
    const text = await plan.pace(() => view.to_csv(viewport(w)));
    // Every window starts with the header row; the body keeps the first one.
    if (header === undefined) {
      header = text.slice(0, csvHeaderLength(text));
      yield encoder.encode(text);
    } else {
      if (!text.startsWith(header)) throw new Error("a CSV window's header differs from the first");
      yield encoder.encode(text.slice(header.length));
    }
  }
}

async function* jsonChunks(view: WindowSource, plan: ExportPlan): AsyncGenerator<Uint8Array> {
  let open = "[";
  for (const w of rowWindows(plan.rows, plan.windowRows)) {
    plan.onWindow?.(w);
    const json = await plan.pace(() => view.to_json_string(viewport(w)));
    const inner = arrayInner(json);
    if (inner === "") continue;
    yield encoder.encode(open + inner);
    open = ",";
  }
  yield encoder.encode(open === "[" ? "[]" : "]");
}

/**
 * NDJSON from windows of JSON rows: the engine's `to_ndjson` ignores the
 * window it is given and always answers every row.
 */
async function* ndjsonChunks(view: WindowSource, plan: ExportPlan): AsyncGenerator<Uint8Array> {
  for (const w of rowWindows(plan.rows, plan.windowRows)) {
    plan.onWindow?.(w);
    const json = await plan.pace(() => view.to_json_string(viewport(w)));
    const lines = jsonArrayToLines(json);
    if (lines !== "") yield encoder.encode(lines);
  }
}

/**
 * An object of column arrays, written column by column: each column's
 * values are read in windows of that one column, so that no more than one
 * window is held even though the body lists a column's every row before
 * the next column's.
 */
async function* columnChunks(view: WindowSource, plan: ExportPlan): AsyncGenerator<Uint8Array> {
  for (let column = 0; column < plan.columns; column++) {
    let values = false;
    for (const rows of rowWindows(plan.rows, plan.windowRows)) {
      const w = { ...rows, column };
      plan.onWindow?.(w);
      const text = await plan.pace(() => view.to_columns_string(viewport(w)));
      const { key, inner } = singleColumn(text);
      const head = rows.start === 0 ? (column === 0 ? "{" : "],") + key + ":[" : "";
      const sep = values && inner !== "" ? "," : "";
      if (inner !== "") values = true;
      yield encoder.encode(head + sep + inner);
    }
  }
  yield encoder.encode(plan.columns === 0 ? "{}" : "]}");
}

/** Characters of a CSV text's first record, its header, with its line break. */
export function csvHeaderLength(text: string): number {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A doubled quote inside a quoted field toggles twice: still quoted.
    if (c === 0x22) quoted = !quoted;
    else if (c === 0x0a && !quoted) return i + 1;
  }
  return text.length;
}

/** The elements of a JSON array text, without its brackets. */
function arrayInner(text: string): string {
  if (!text.startsWith("[") || !text.endsWith("]")) throw new Error("not a JSON array");
  return text.slice(1, -1);
}

/** A JSON array's top-level elements, each on a line of its own ending with a newline. */
export function jsonArrayToLines(text: string): string {
  const inner = arrayInner(text);
  if (inner === "") return "";
  const lines: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c) i++;
      else if (c === 0x22) quoted = false;
    } else if (c === 0x22) quoted = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x2c && depth === 0) {
      lines.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  lines.push(inner.slice(start));
  return lines.join("\n") + "\n";
}

/**
 * The key, as the engine wrote it, and the array elements of a
 * `to_columns_string` answer of one column: `{"key":[...]}`.
 */
function singleColumn(text: string): { key: string; inner: string } {
  if (text[0] !== "{" || text[1] !== '"' || !text.endsWith("]}")) {
    throw new Error("not a JSON object of one column");
  }
  let end = 2;
  while (end < text.length && text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
  const key = text.slice(1, end + 1);
  if (text.slice(end + 1, end + 3) !== ":[") throw new Error("not a JSON object of one column");
  return { key, inner: text.slice(end + 3, -2) };
}
