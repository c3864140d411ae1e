/**
 * Arrow IPC batches of float64 columns, for tests and benchmarks that fill
 * tables.
 *
 * @module
 */

import { makeVector, Table, tableToIPC } from "apache-arrow";

/**
 * An Arrow IPC stream of `rows` rows and `columns` float64 columns named
 * `f0`, `f1`, ..., the values counting up from `start`.
 */
export function floatBatch(rows: number, columns = 4, start = 0): Uint8Array {
  const cols: Record<string, ReturnType<typeof makeVector>> = {};
  for (let c = 0; c < columns; c++) {
    const a = new Float64Array(rows);
    for (let i = 0; i < rows; i++) a[i] = start + i + c / 10;
    cols[`f${c}`] = makeVector(a);
  }
  return tableToIPC(new Table(cols), "stream");
}
