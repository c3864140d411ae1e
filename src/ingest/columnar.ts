/**
 * Turns validated JSON rows into the engine's column format. The engine
 * loads `{"col": [...]}` about 1.7 times as fast as `[{...}]`, and the
 * conversion runs where validation runs (a worker for large bodies), so the
 * engine's thread does less per row.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * Encodes rows as JSON columns, or returns undefined when that would change
 * their meaning: a row that omits a key leaves that cell as it was on an
 * indexed table, while a column must give every row a value. So only rows
 * that all carry the same keys are converted.
 *
 * @param rows Rows already validated against the table.
 */
export function rowsToColumns(rows: readonly Record<string, unknown>[]): Uint8Array | undefined {
  if (rows.length === 0) return undefined;
  const keys = Object.keys(rows[0]);
  const columns: unknown[][] = keys.map(() => new Array(rows.length));
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    const own = Object.keys(row);
    if (own.length !== keys.length) return undefined;
    for (let c = 0; c < keys.length; c++) {
      if (!Object.hasOwn(row, keys[c])) return undefined;
      columns[c][r] = row[keys[c]];
    }
  }
  // Built by hand so a column named `__proto__` stays an ordinary key.
  const parts = keys.map((k, c) => `${JSON.stringify(k)}:${JSON.stringify(columns[c])}`);
  return encoder.encode(`{${parts.join(",")}}`);
}
