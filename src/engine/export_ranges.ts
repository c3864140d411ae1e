/**
 * Exports of a large append-only table, read through one view per range of
 * rows instead of one view of the whole table. A flat view holds about
 * 280 bytes of engine memory a row, whatever its columns: 280 MB for a
 * 1M-row table, which the engine's WebAssembly heap keeps for good once it
 * has grown for it. A view filtered on the engine's own row key (its
 * `index()` expression) to one range holds that for the range's rows only,
 * plus about 60 bytes a row of the whole table for the filter. Ranges are made and deleted one after the
 * other, so an export's engine memory stays near one range's view.
 *
 * Only tables whose row keys are 0 to size - 1 in order qualify: without an
 * index a row's key is its arrival number and rows are never removed; a row
 * limit (whose oldest rows roll off) and a clear (after which numbering goes
 * on) break that. The first range's row count shows whether a table's keys
 * are as assumed; a later range that differs fails the export.
 *
 * @module
 */

import type { Table, View } from "./perspective.ts";
import type { Viewport, WindowSource } from "./export_windows.ts";
import { VIEW_ROW_BYTES } from "./memory.ts";

/** Rows per range view, about 28 MB of engine memory each. */
export const RANGE_ROWS = 100_000;

/**
 * The most rows a table read through one whole view may have: a view of
 * them takes at most 64 MiB of engine memory. Such a view is kept for the
 * table's next exports (see `export_views.ts`), which then make no view at
 * all; range views are made anew by every export.
 */
export const WHOLE_VIEW_MAX_ROWS = Math.floor(64 * 2 ** 20 / VIEW_ROW_BYTES);

/**
 * Engine bytes a range view's filter on the row key takes per row of the
 * whole table: `deno task bench:export` measured about 60 (a 1M-row
 * export's growth less one range's view).
 */
export const ROW_KEY_BYTES = 64;

/** The expression column that carries each row's key; never exported. */
export const ROW_KEY = "__export_row__";

/** A range's row count was not what the table's size implied. */
export class RangeMismatchError extends Error {
  /**
   * @param lo First row key of the range.
   * @param hi Row key after the range.
   * @param found Rows the range's view had.
   */
  constructor(readonly lo: number, readonly hi: number, readonly found: number) {
    super(`rows ${lo} to ${hi} of the table are ${found} rows, not ${hi - lo}`);
    this.name = "RangeMismatchError";
  }
}

/** What decides whether an export reads through range views. */
export interface RangeCandidate {
  /** The table's index column, or null. */
  index: string | null;
  /** The table's row limit, or null. */
  limit: number | null;
  /** Its columns. */
  columns: string[];
  /** Rows to export. */
  rows: number;
}

/**
 * Whether an export of `t` reads through range views of `rangeRows` rows: a
 * table without an index or a limit, whose whole view would pass 64 MiB
 * ({@linkcode WHOLE_VIEW_MAX_ROWS}) and which is larger than one range, in
 * a format read row by row.
 */
export function readsInRanges(
  t: RangeCandidate,
  columnMajor: boolean,
  rangeRows: number,
): boolean {
  return !columnMajor && t.index === null && t.limit === null &&
    t.rows > Math.max(rangeRows, WHOLE_VIEW_MAX_ROWS) && !t.columns.includes(ROW_KEY);
}

/**
 * Rows per range for `rows` rows read in windows of `windowRows`: a whole
 * number of windows, as few ranges as of {@linkcode RANGE_ROWS} rows, and
 * ranges of even size, so that no range is a sliver that costs as much to
 * make as a full one.
 */
export function rangeRowsFor(windowRows: number, rows: number): number {
  const windows = Math.max(1, Math.ceil(rows / windowRows));
  const ranges = Math.max(1, Math.ceil(rows / RANGE_ROWS));
  return Math.ceil(windows / ranges) * windowRows;
}

/**
 * The rows 0 to `rows` - 1 of a table, read through one range view at a
 * time. Windows are asked for in order and each lies within one range; the
 * range's view is made when its first window is asked for and deleted when
 * a window of the next range is.
 */
export class RangedRows implements WindowSource {
  readonly #table: Table;
  readonly #columns: string[];
  readonly #rows: number;
  readonly #rangeRows: number;
  #current: { view: View; lo: number; hi: number } | undefined;

  /**
   * @param table The table.
   * @param columns Its columns, in the order a flat view has them.
   * @param rows Rows to read: the table's size when the export started.
   * @param rangeRows Rows per range view.
   */
  constructor(table: Table, columns: string[], rows: number, rangeRows: number) {
    this.#table = table;
    this.#columns = columns;
    this.#rows = rows;
    this.#rangeRows = rangeRows;
  }

  /** Arrow IPC of the rows in `w`. */
  async to_arrow(w: Viewport): Promise<ArrayBuffer> {
    const { view, lo } = await this.#range(w);
    return await view.to_arrow(shift(w, lo));
  }

  /** CSV of the rows in `w`, with its header. */
  async to_csv(w: Viewport): Promise<string> {
    const { view, lo } = await this.#range(w);
    return await view.to_csv(shift(w, lo));
  }

  /** A JSON array of the rows in `w`. */
  async to_json_string(w: Viewport): Promise<string> {
    const { view, lo } = await this.#range(w);
    return await view.to_json_string(shift(w, lo));
  }

  /** Column-major reads cross every range for each column: not served here. */
  to_columns_string(): Promise<string> {
    return Promise.reject(new Error("a ranged export reads rows, not columns"));
  }

  /** Deletes the range view in hand, if any. */
  async delete(): Promise<void> {
    const current = this.#current;
    this.#current = undefined;
    await current?.view.delete();
  }

  async #range(w: Viewport): Promise<{ view: View; lo: number }> {
    const start = w.start_row ?? 0;
    const end = w.end_row ?? start;
    const current = this.#current;
    if (current && start >= current.lo && end <= current.hi) return current;
    await this.delete();
    const lo = Math.floor(start / this.#rangeRows) * this.#rangeRows;
    const hi = Math.min(this.#rows, lo + this.#rangeRows);
    if (end > hi) throw new Error(`rows ${start} to ${end} cross the range that ends at ${hi}`);
    const view = await this.#table.view(
      {
        columns: this.#columns,
        expressions: { [ROW_KEY]: "index()" },
        filter: [[ROW_KEY, ">=", lo], [ROW_KEY, "<", hi]],
      } as Parameters<Table["view"]>[0],
    );
    const found = await view.num_rows();
    if (found !== hi - lo) {
      await view.delete();
      throw new RangeMismatchError(lo, hi, found);
    }
    this.#current = { view, lo, hi };
    return this.#current;
  }
}

function shift(w: Viewport, lo: number): Viewport {
  return { ...w, start_row: (w.start_row ?? 0) - lo, end_row: (w.end_row ?? 0) - lo };
}
