/**
 * The engine's memory budget. The engine is 32-bit WebAssembly, one linear
 * memory shared by every `PerspectiveServer` in the process. Measured with
 * `bench/memory.ts`: one table silently stops taking rows past 28,273,178
 * rows whatever its columns, and the engine as a whole hangs or aborts as
 * its heap nears 4 GiB. So the service reads the engine's own figures,
 * keeps its allocations below a budget and each table below a row ceiling,
 * and refuses work that would cross either with a 507.
 *
 * The engine's `system_info()` gives `heap_size` (the linear memory's
 * length, which only grows) and `used_size` (bytes its allocator has handed
 * out). `used_size` comes from a signed 32-bit counter, so past 2 GiB it
 * arrives as a huge number (a negative value read as unsigned 64-bit);
 * {@linkcode engineUsedBytes} undoes that.
 *
 * @module
 */

import { StatusError } from "./batch_types.ts";

/** The engine's memory figures, in bytes. */
export interface EngineMemorySnapshot {
  /** Length of the engine's linear memory; it grows and never shrinks. */
  heap: number;
  /** Bytes the engine's allocator has handed out and not yet freed. */
  used: number;
}

/** Where the engine's figures come from: the engine client's `system_info()`. */
export interface SystemInfoSource {
  /** The engine's runtime figures. */
  system_info(): Promise<{ heap_size?: unknown; used_size?: unknown }>;
}

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const TWO_32 = 2 ** 32;
const TWO_64 = 2 ** 64;

/** The 32-bit engine cannot address more than this. */
export const WASM32_MAX_BYTES = 4 * GIB;

/**
 * The default budget for the engine's used bytes. Writes were dropped at
 * 1.8 to 3.0 GB used (by the row ceiling) and the engine hung at 3.6 GB used
 * (4.2 GB of heap), and a table's columns grow their capacity in steps of
 * about a third of the table as they fill, which admission cannot see
 * coming: 1.5 GiB keeps one such step, and reads' allowance, below both.
 */
export const DEFAULT_ENGINE_MEMORY = 1.5 * GIB;

/**
 * Most rows one table may hold. Past 28,273,178 rows a table silently stops
 * taking rows whatever its columns (measured with one float64 column and
 * with five columns, indexed or not, at 1.8 to 3.0 GB of engine memory), so
 * this ceiling leaves room for batches in flight below it.
 */
export const DEFAULT_MAX_TABLE_ROWS = 25_000_000;

/** Share of a cgroup (container) memory limit the engine may use. */
export const CGROUP_SHARE = 0.5;

/**
 * What reads (views, exports) may use beyond the budget: a third of it, at
 * least 32 MiB. Reads free what they take when they end, and the budget
 * sits well below the point where the engine fails, so a full budget still
 * serves reads.
 */
export function readAllowance(budget: number): number {
  return Math.max(budget / 3, 32 * MIB);
}

/** What a new empty table is assumed to cost (its schema, its first pages). */
export const TABLE_CREATE_COST = 1 * MIB;

/** What a new view or an export costs besides its rows. */
export const VIEW_COST = 4 * MIB;

/**
 * Engine bytes a view takes per row of its table, while it lives: measured
 * 292 for a flat view of a four-column table of 4M rows (1.17 GB), so an
 * export of a large table needs far more than its own size.
 */
export const VIEW_ROW_BYTES = 300;

/** Engine bytes a new view of a table of `rows` rows is assumed to take. */
export function viewCost(rows: number): number {
  return VIEW_COST + rows * VIEW_ROW_BYTES;
}

/**
 * The engine's used bytes from its raw `used_size`, undoing the wrap of
 * its signed 32-bit counter past 2 GiB.
 *
 * @param raw `used_size` as the engine reported it (number or bigint).
 * @returns Bytes in use, or NaN when the value is not a number.
 */
export function engineUsedBytes(raw: unknown): number {
  if (typeof raw === "bigint") return Number(BigInt.asUintN(32, raw));
  const n = Number(raw);
  if (!Number.isFinite(n)) return NaN;
  // A negative 32-bit count read as unsigned 64-bit; exact to within the
  // float's spacing at 2^64 (4 KiB), which the budget does not notice.
  if (n >= TWO_32) return TWO_32 - (TWO_64 - n);
  if (n < 0) return n + TWO_32;
  return n;
}

/** Reads the engine's memory figures through its client; NaN where the engine gave none. */
export async function readRawEngineMemory(source: SystemInfoSource): Promise<EngineMemorySnapshot> {
  const info = await source.system_info();
  return { heap: Number(info.heap_size), used: engineUsedBytes(info.used_size) };
}

/** Reads the engine's memory figures through its client; 0 where the engine gave none. */
export async function readEngineMemory(source: SystemInfoSource): Promise<EngineMemorySnapshot> {
  const { heap, used } = await readRawEngineMemory(source);
  return { heap: Number.isFinite(heap) ? heap : 0, used: Number.isFinite(used) ? used : 0 };
}

/**
 * A container's memory limit from its cgroup, or undefined when there is
 * none (no cgroup files, `max`, or no permission to read them).
 *
 * @param paths Files to try, cgroup v2 first.
 */
export function cgroupMemoryLimit(
  paths: string[] = [
    "/sys/fs/cgroup/memory.max",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
  ],
): number | undefined {
  for (const path of paths) {
    let text: string;
    try {
      text = Deno.readTextFileSync(path).trim();
    } catch {
      continue;
    }
    if (!/^\d+$/.test(text)) return undefined;
    const n = Number(text);
    // cgroup v1 writes a near-2^63 number for "no limit".
    return n > 0 && n < 2 ** 60 ? n : undefined;
  }
  return undefined;
}

/** A resolved budget and why it is that. */
export interface BudgetChoice {
  /** Bytes of engine memory the service lets the engine use. */
  budget: number;
  /** Where it came from. */
  source: "configured" | "default" | "cgroup";
}

/**
 * Chooses the budget: the configured one, else the default; lowered to
 * {@linkcode CGROUP_SHARE} of a cgroup memory limit when that is lower,
 * because the process needs room beside the engine (validation, the heap's
 * unused growth, Arrow copies in flight).
 */
export function chooseBudget(configured?: number, cgroupLimit?: number): BudgetChoice {
  const base = configured ?? DEFAULT_ENGINE_MEMORY;
  const cap = cgroupLimit !== undefined ? Math.floor(cgroupLimit * CGROUP_SHARE) : Infinity;
  if (cap < base) return { budget: cap, source: "cgroup" };
  return { budget: base, source: configured !== undefined ? "configured" : "default" };
}

/** What is known of a batch before it reaches the engine. */
export interface BatchCostInput {
  /** Body format as the engine reads it. */
  format: string;
  /** Operation. */
  op: "update" | "replace" | "remove" | "clear";
  /** Payload bytes. */
  bytes: number;
  /** Rows in the batch. */
  rows: number;
}

/**
 * Engine bytes a batch may need while it is applied, measured on this
 * engine (`deno task bench:memory`): the engine copies the payload into its
 * memory, decodes it into a staging table with its own row bookkeeping,
 * then merges that into the table. Text formats decode to fewer bytes than
 * they arrive in, Arrow to about as many. Removes and clears allocate next
 * to nothing.
 */
export function estimateBatchCost(b: BatchCostInput): number {
  if (b.op === "remove" || b.op === "clear") return 0;
  const perByte = b.format === "arrow" ? 3 : 2;
  // Row bookkeeping (primary key, operation, row index) per staged row.
  return Math.ceil(b.bytes * perByte + b.rows * 24);
}

/** Counts kept for `/metrics`. */
export const memoryStats = {
  /** Requests refused for want of engine memory. */
  refusals: 0,
  /** Batches after which the engine's tables did not match what was asked. */
  discrepancies: 0,
};

/** Refused because a table would pass the engine's row ceiling: HTTP 507. */
export class TableRowsError extends StatusError {
  /**
   * @param table Table name.
   * @param rows Rows the table would hold.
   * @param max The ceiling.
   */
  constructor(table: string, rows: number, max: number) {
    super(
      507,
      `table ${JSON.stringify(table)} would hold ${rows} rows, past the ${max} one table may ` +
        "hold (the engine silently stops storing rows past about 28.2 million per table); " +
        "give the table a row limit, clear it, or spread the rows over several tables",
    );
    this.name = "TableRowsError";
  }
}

/** Rows a batch adds to a table, for the per-table row ceiling. */
export interface RowsRequest {
  /** Table name. */
  table: string;
  /** The table's size as last reported. */
  size: number;
  /** Rows the batch may add. */
  adding: number;
}

/**
 * Refused for want of engine memory: HTTP 507. The message says what is
 * used, the budget, and what the operator can do.
 */
export class EngineMemoryError extends StatusError {
  /**
   * @param what The refused work, e.g. "this batch".
   * @param used Engine bytes in use (and reserved) now.
   * @param needed Bytes the work was estimated to need.
   * @param budget The budget.
   */
  constructor(
    what: string,
    readonly used: number,
    readonly needed: number,
    readonly budget: number,
  ) {
    super(
      507,
      `the engine has no room for ${what}: it uses ${formatBytes(used)} of its ` +
        `${formatBytes(budget)} memory budget and this needs about ${formatBytes(needed)} more; ` +
        "drop or clear tables, give tables a row limit, or raise MAX_ENGINE_MEMORY " +
        "(or the config file's limits.maxEngineMemory)",
    );
    this.name = "EngineMemoryError";
  }
}

/**
 * How old a reading of the engine's memory a read's admission may use.
 * Reads may pass the budget by {@linkcode readAllowance} anyway; what a
 * reading this young misses is other reads' short-lived output.
 */
export const READ_READING_MAX_AGE_MS = 50;

/** A reservation of engine memory, released when disposed. */
export interface Reservation extends Disposable {
  /** Bytes reserved. */
  readonly bytes: number;
}

/**
 * The engine's memory budget. Work that allocates asks {@linkcode admit}
 * first; concurrent admissions reserve their estimates, so two batches
 * cannot both take the last of the room.
 */
export class EngineMemory {
  readonly #source: SystemInfoSource;
  #reserved = 0;
  readonly #rows = new Map<string, number>();
  #recent: { at: number; reading: Promise<EngineMemorySnapshot> } | undefined;
  /** Bytes of engine memory the service lets the engine use. */
  budget: number;
  /** Most rows one table may hold. @default DEFAULT_MAX_TABLE_ROWS */
  maxTableRows: number = DEFAULT_MAX_TABLE_ROWS;

  /**
   * @param source The engine client, for `system_info()`.
   * @param budget The budget in bytes. @default DEFAULT_ENGINE_MEMORY
   */
  constructor(source: SystemInfoSource, budget: number = DEFAULT_ENGINE_MEMORY) {
    this.#source = source;
    this.budget = budget;
  }

  /** Bytes reserved by admitted work that has not finished yet. */
  get reserved(): number {
    return this.#reserved;
  }

  /** The engine's figures now. */
  read(): Promise<EngineMemorySnapshot> {
    return readEngineMemory(this.#source);
  }

  /**
   * The engine's figures for admitting a read: one reading serves every
   * read within {@linkcode READ_READING_MAX_AGE_MS}, so a thousand viewers
   * refreshing at once cost the engine one call instead of a thousand. Any
   * admission of a write, and the end of one, takes a fresh reading.
   */
  #readingForRead(): Promise<EngineMemorySnapshot> {
    const now = performance.now();
    const recent = this.#recent;
    if (recent && now - recent.at < READ_READING_MAX_AGE_MS) return recent.reading;
    const reading = this.read();
    const entry = { at: now, reading };
    this.#recent = entry;
    reading.catch(() => {
      if (this.#recent === entry) this.#recent = undefined;
    });
    return reading;
  }

  /**
   * Admits work needing about `bytes` of engine memory, reserving them until
   * the returned reservation is disposed.
   *
   * @param what The work, for the refusal's message.
   * @param read A read (a view, an export) may go {@linkcode readAllowance} past the budget.
   * @param rows Rows the work adds to a table, checked against {@linkcode maxTableRows}
   *   together with rows reserved for that table by admitted work not finished yet.
   * @throws {EngineMemoryError} when used plus reserved plus `bytes` would pass the budget.
   * @throws {TableRowsError} when the table would pass the row ceiling.
   */
  async admit(
    bytes: number,
    what: string,
    read = false,
    rows?: RowsRequest,
  ): Promise<Reservation> {
    if (rows) {
      const pending = this.#rows.get(rows.table) ?? 0;
      const after = rows.size + pending + rows.adding;
      if (after > this.maxTableRows) {
        memoryStats.refusals++;
        throw new TableRowsError(rows.table, after, this.maxTableRows);
      }
    }
    if (!read) this.#recent = undefined;
    const { used } = await (read ? this.#readingForRead() : this.read());
    const taken = used + this.#reserved;
    const limit = read ? this.budget + readAllowance(this.budget) : this.budget;
    if (taken + bytes > limit) {
      memoryStats.refusals++;
      throw new EngineMemoryError(what, taken, bytes, this.budget);
    }
    this.#reserved += bytes;
    if (rows) this.#rows.set(rows.table, (this.#rows.get(rows.table) ?? 0) + rows.adding);
    let held = true;
    return {
      bytes,
      [Symbol.dispose]: () => {
        if (!held) return;
        held = false;
        this.#reserved -= bytes;
        if (!read) this.#recent = undefined;
        if (!rows) return;
        const left = (this.#rows.get(rows.table) ?? 0) - rows.adding;
        if (left > 0) this.#rows.set(rows.table, left);
        else this.#rows.delete(rows.table);
      },
    };
  }
}

/** Bytes as a short human figure, e.g. `1.5 GiB`. */
export function formatBytes(n: number): string {
  if (n >= GIB) return `${(n / GIB).toFixed(2)} GiB`;
  if (n >= MIB) return `${(n / MIB).toFixed(1)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}
