/**
 * Exports a table's rows in one of the wire formats, through the host's
 * client and either views of ranges of the table's rows (a large table
 * without index or limit, see `export_ranges.ts`) or the table's export view
 * (see `export_views.ts`). The body streams:
 * the view is read in windows of rows (see `export_windows.ts`), each when
 * the body's consumer asks for more, so one export never holds the engine
 * (and every viewer's notifications behind it) for the whole table, and
 * holds one window of output at a time.
 *
 * @module
 */

import type { EngineHost } from "./host.ts";
import { EngineMemoryError, viewCost } from "./memory.ts";
import { ExportViews } from "./export_views.ts";
import {
  RangedRows,
  RangeMismatchError,
  rangeRowsFor,
  readsInRanges,
  ROW_KEY_BYTES,
} from "./export_ranges.ts";
import { EngineReadError } from "./read_error.ts";
import {
  exportChunks,
  type ExportFormat,
  type ExportWindow,
  windowRowsFor,
  type WindowSource,
} from "./export_windows.ts";
import type { Table } from "./perspective.ts";

export type { ExportFormat, ExportWindow } from "./export_windows.ts";

/**
 * Engine bytes per cell of a window while it is made: the view's output is
 * built in engine memory before it is copied out, and text formats spell
 * each number out.
 */
const EXPORT_CELL_BYTES: Record<ExportFormat, number> = {
  arrow: 9,
  csv: 24,
  json: 40,
  ndjson: 40,
  columns: 32,
};

/** Options for {@linkcode exportRows}. */
export interface ExportOptions {
  /**
   * Rows per engine call. @default about 50k cells: 50,000 / columns,
   * within 1,000 to 50,000 (the `columns` format reads one column at a time)
   */
  windowRows?: number;
  /** Called before each engine read of a window; a seam for tests to count reads. */
  onWindow?: (window: ExportWindow) => void;
}

/**
 * The table's rows in `format` as a byte stream, or undefined when there is
 * no such table. Arrow comes as one IPC stream whose string columns are
 * plain Utf8. The first window is read before this resolves, so a failure
 * to start is an error here rather than a broken body; a later failure
 * errors the stream, so its reader never takes a cut-off body for a whole
 * one. The table's export view (see `export_views.ts`) goes back and the
 * memory reservation is released when the stream ends, fails or is cancelled.
 *
 * Rows written during the export are read as the view has them when their
 * window is read: rows appended after the start are left out, and a removal
 * meanwhile shifts later rows into windows already read.
 *
 * @throws {EngineMemoryError} 507 when one window, or a view the table does
 *   not have yet, would take the engine past its budget.
 * @throws {EngineReadError} when the engine cannot make the export; the table exists.
 */
export async function exportRows(
  host: EngineHost,
  name: string,
  format: ExportFormat,
  options: ExportOptions = {},
): Promise<ReadableStream<Uint8Array> | undefined> {
  const table = await host.table(name);
  if (!table) return undefined;
  await host.flush();
  let described;
  try {
    described = await Promise.all([
      table.size(),
      table.columns() as Promise<string[]>,
      table.get_index(),
      table.get_limit(),
    ]);
  } catch (err) {
    if (!(await host.tableNames()).includes(name)) return undefined;
    throw new EngineReadError(name, "an export", err);
  }
  const [rows, names, index = null, limit = null] = described;
  const columns = names.length;
  const windowRows = Math.max(
    1,
    Math.floor(options.windowRows ?? windowRowsFor(format === "columns" ? 1 : columns)),
  );
  const windowCells = Math.min(rows, windowRows) * (format === "columns" ? 1 : columns);
  const room = await host.memory.admit(
    windowCells * EXPORT_CELL_BYTES[format],
    `an export of ${rows} rows`,
    true,
  );
  /** Starts reading `from`: the first window is read before the body is handed out. */
  const start = async (from: Source) => {
    const chunks = exportChunks(from.read, format, {
      rows: from.rows,
      columns,
      windowRows,
      onWindow: options.onWindow,
      pace: host.pacer.window,
    });
    return { chunks, first: await chunks.next() };
  };
  let source: Source | undefined;
  let started!: Awaited<ReturnType<typeof start>>;
  const rangeRows = rangeRowsFor(windowRows, rows);
  if (readsInRanges({ index, limit, columns: names, rows }, format === "columns", rangeRows)) {
    try {
      source = await rangeSource(host, table, names, rows, rangeRows);
    } catch (err) {
      room[Symbol.dispose]();
      throw err;
    }
    try {
      started = await start(source);
    } catch (err) {
      await source.release();
      source = undefined;
      // Row keys not as a table without index or limit has them (it was
      // cleared): the whole view reads it.
      if (!(err instanceof RangeMismatchError)) {
        room[Symbol.dispose]();
        if (!(await host.tableNames()).includes(name)) return undefined;
        throw new EngineReadError(name, "an export", err);
      }
    }
  }
  if (!source) {
    try {
      source = await wholeView(host, name, table, rows);
    } catch (err) {
      room[Symbol.dispose]();
      if (err instanceof EngineMemoryError) throw err;
      // Dropped meanwhile, or the engine could not make the view.
      if (!(await host.tableNames()).includes(name)) return undefined;
      throw new EngineReadError(name, "a view for an export", err);
    }
    try {
      started = await start(source);
    } catch (err) {
      room[Symbol.dispose]();
      await source.release();
      throw new EngineReadError(name, "an export", err);
    }
  }
  const held = source;
  let ended = false;
  /** The engine read in flight: the source goes only once it is answered. */
  let reading: Promise<unknown> | undefined;
  const end = async () => {
    if (ended) return;
    ended = true;
    room[Symbol.dispose]();
    await reading?.catch(() => {});
    await held.release();
  };
  const { chunks } = started;
  let pending: IteratorResult<Uint8Array> | undefined = started.first;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        let next = pending;
        pending = undefined;
        if (!next) {
          reading = chunks.next();
          next = await reading as IteratorResult<Uint8Array>;
        }
        if (ended) return;
        if (next.done) {
          await end();
          controller.close();
        } else {
          controller.enqueue(next.value);
        }
      } catch (err) {
        await end();
        controller.error(new EngineReadError(name, "an export", err));
      }
    },
    async cancel() {
      await end();
    },
  }, { highWaterMark: 0 });
}

/** Where an export's windows come from, and how it lets go of them. */
interface Source {
  /** What the windows are read from. */
  read: WindowSource;
  /** Rows to export. */
  rows: number;
  /** Hands the view back, or deletes it; once the last read is answered. */
  release(): Promise<void>;
}

/** The table's export view, shared with its other exports (see `export_views.ts`). */
async function wholeView(host: EngineHost, name: string, table: Table, rows: number) {
  const lent = await ExportViews.of(host).acquire(name, table, rows);
  try {
    // The row count as the view has it, after the flush.
    const count = await lent.view.num_rows();
    return { read: lent.view, rows: count, release: () => Promise.resolve(lent.release()) };
  } catch (err) {
    lent.release();
    throw err;
  }
}

/**
 * Views of ranges of the table's rows (see `export_ranges.ts`), with the
 * engine memory of one range and the row keys admitted for the export's life.
 */
async function rangeSource(
  host: EngineHost,
  table: Table,
  columns: string[],
  rows: number,
  rangeRows: number,
): Promise<Source> {
  const room = await host.memory.admit(
    viewCost(rangeRows) + rows * ROW_KEY_BYTES,
    `views of ${rangeRows} rows for an export of ${rows} rows`,
    true,
  );
  const ranged = new RangedRows(table, columns, rows, rangeRows);
  return {
    read: ranged,
    rows,
    release: async () => {
      try {
        await ranged.delete();
      } catch {
        // The table was dropped, and its views with it.
      } finally {
        room[Symbol.dispose]();
      }
    },
  };
}
