/**
 * A model of an indexed table for JSON and NDJSON batches, built from
 * `JSON.parse` of the accepted bodies: what the engine must hold after a
 * batch it acknowledged. The fuzz test compares it with the real table.
 *
 * @module
 */

type Row = Record<string, unknown>;

/** Rows by index key, each as the engine's `to_columns` reports it. */
export type ModelRows = Map<unknown, Row>;

/** The model's rows from a table's columns. */
export function fromColumns(columns: Record<string, unknown[]>, index: string): ModelRows {
  const rows: ModelRows = new Map();
  const names = Object.keys(columns);
  for (let i = 0; i < (columns[index]?.length ?? 0); i++) {
    const row: Row = {};
    for (const name of names) row[name] = columns[name][i];
    rows.set(row[index], row);
  }
  return rows;
}

/**
 * The rows of a JSON or NDJSON body (rows or columns), or undefined when the
 * model cannot predict the engine's reading of it: a date that is not a
 * plain `YYYY-MM-DD` (a date-time's day depends on its zone).
 */
export function parsedRows(type: string, bytes: Uint8Array): Row[] | undefined {
  let text = new TextDecoder().decode(bytes);
  if (text.startsWith("\ufeff")) text = text.slice(1);
  let rows: Row[];
  if (type === "application/x-ndjson") {
    rows = text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
  } else {
    const doc = JSON.parse(text);
    if (Array.isArray(doc)) rows = doc;
    else {
      const names = Object.keys(doc);
      const length = names.length ? doc[names[0]].length : 0;
      rows = Array.from({ length }, (_, i) => Object.fromEntries(names.map((n) => [n, doc[n][i]])));
    }
  }
  for (const row of rows) {
    for (const v of Object.values(row)) {
      if (typeof v === "string" && /^\d{4}-\d{2}-\d{2}./.test(v)) return undefined;
    }
  }
  return rows;
}

/**
 * Applies rows as the engine does on an indexed table: a row sets the cells
 * it names; a new key's other cells are null. `YYYY-MM-DD` strings in
 * `dateColumns` become UTC-midnight epoch milliseconds, as the engine
 * reports them.
 */
export function applyRows(
  model: ModelRows,
  rows: Row[],
  schema: Record<string, string>,
  index: string,
): void {
  for (const row of rows) {
    const key = row[index];
    const current = model.get(key) ?? Object.fromEntries(Object.keys(schema).map((c) => [c, null]));
    for (const [column, value] of Object.entries(row)) {
      current[column] = schema[column] === "date" && typeof value === "string"
        ? Date.parse(`${value}T00:00:00Z`)
        : value;
    }
    model.set(key, current);
  }
}

/** The rows in key order, to compare two models. */
export function sorted(model: ModelRows): Row[] {
  return [...model.entries()].sort(([a], [b]) => (a as number) - (b as number)).map(([, r]) => r);
}
