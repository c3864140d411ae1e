/**
 * Structural validation of CSV batches: the header names known columns,
 * every record has the header's field count, and the index column is never
 * empty nor holds a value the engine reads as null. Value conversion is
 * otherwise the engine's (it refuses what it cannot convert, atomically,
 * for updates).
 *
 * The engine reads CSV with Apache Arrow's reader and its default options.
 * In integer, float, boolean, date and datetime columns, the strings in
 * {@linkcode CSV_NULLS}, quoted or not, become null; that is the CSV
 * convention for a missing value, and none of them could be a value of
 * those types, so it is accepted outside the index. String columns keep
 * every string as sent, the empty one included, so "NA" is a fine key for
 * a string index. A new table's column types are inferred from the body,
 * and a column holding nothing but those strings becomes a string column
 * of nulls: a ticker "NA" would vanish, so {@linkcode checkCsvNewTable}
 * refuses that unless the strings are all empty.
 *
 * @module
 */

import type { Schema } from "../engine/perspective.ts";
import { IngestError, type TableDef } from "./batch.ts";
import { decodeUtf8 } from "./json_safe.ts";

/**
 * The strings the engine reads as null in a CSV column of any type but
 * string: Apache Arrow's default `null_values`. Matched exactly, case and
 * spaces included.
 */
export const CSV_NULLS: ReadonlySet<string> = new Set([
  "",
  "#N/A",
  "#N/A N/A",
  "#NA",
  "-1.#IND",
  "-1.#QNAN",
  "-NaN",
  "-nan",
  "1.#IND",
  "1.#QNAN",
  "N/A",
  "NA",
  "NULL",
  "NaN",
  "n/a",
  "nan",
  "null",
]);

/** The longest string in {@linkcode CSV_NULLS}, to skip longer fields without a lookup. */
const CSV_NULL_MAX = 8;

/** What a CSV scan found. */
export interface CsvScan {
  /** Header names in order. */
  header: string[];
  /** Data records (the header excluded). */
  rows: number;
  /** The decoded text. */
  text: string;
  /**
   * When the types are inferred (no schema given): the columns whose values
   * are all in {@linkcode CSV_NULLS}, not all empty, with the first
   * non-empty one. See {@linkcode checkCsvNewTable}.
   */
  nullOnly?: { column: string; value: string; record: number }[];
}

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;

// What the engine's type inference could read as something other than a
// string, after trimming: integers (hex too), floats, booleans, dates,
// times and date-times in its parsers' formats. Deliberately broad: a value
// that matches none of these makes its column a string column for sure.
const MAYBE_NUMBER =
  /^[+-]?(?:\d+\.?\d*(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?|0x[\da-f]+|inf(?:inity)?|nan)$/i;
const MAYBE_BOOLEAN = /^(?:true|false)$/i;
const MAYBE_DATE_TIME = /^[\d\s+\-/:.,tz]*\d[\d\s+\-/:.,tz]*(?:[ap]m)?$/i;

/** Whether the engine's CSV type inference may read `value` as a non-string type. */
function maybeNotString(value: string): boolean {
  const v = value.trim();
  return MAYBE_NUMBER.test(v) || MAYBE_BOOLEAN.test(v) || MAYBE_DATE_TIME.test(v);
}

/** First characters of the non-empty {@linkcode CSV_NULLS}: `#`, `-`, `1`, `N`, `n`. */
const CSV_NULL_FIRST = new Set([35, 45, 49, 78, 110]);

/**
 * Whether `text.slice(start, end)` is one of {@linkcode CSV_NULLS}; most
 * values are ruled out by length or first character without a copy.
 */
function isCsvNull(text: string, start: number, end: number): boolean {
  if (start === end) return true;
  if (end - start > CSV_NULL_MAX || !CSV_NULL_FIRST.has(text.charCodeAt(start))) return false;
  return CSV_NULLS.has(text.slice(start, end));
}

/** Whether `text.slice(start, end)` is all ASCII digits: an integer, so maybe not a string. */
function isDigits(text: string, start: number, end: number): boolean {
  if (start === end) return false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Per column, while scanning the body of a CSV that creates a table. */
interface Inferred {
  /** Every value so far is in {@linkcode CSV_NULLS}. */
  allNull: boolean;
  /** The first non-empty value from {@linkcode CSV_NULLS}, and its record. */
  null?: { value: string; record: number };
  /** For the index column: a value proves the engine will infer a string column. */
  text: boolean;
}

/**
 * Scans RFC 4180 CSV (comma-separated, `"`-quoted, `""` escapes, LF or
 * CRLF records).
 *
 * @param indexColumn When given, must hold a value the engine does not read
 *   as null in every record; an empty value is refused whatever the type.
 * @param schema The existing table's column types. Omitted for a table the
 *   batch creates, whose types the engine infers from the body: the index
 *   check then follows that inference.
 * @throws {IngestError} 400 for malformed CSV, 422 for an index value read
 *   as null.
 */
export function scanCsv(
  bytes: Uint8Array,
  indexColumn: string | null = null,
  schema?: Schema,
): CsvScan {
  const text = decodeUtf8(bytes);
  // Trailing line breaks end the body; they are not an empty record.
  const n = text.replace(/[\r\n]+$/, "").length;
  if (n === 0 || text.trim() === "") throw new IngestError(400, "empty CSV body");
  let header: string[] | undefined;
  let indexAt = -1;
  // With declared types, whether the index column is a string one; with
  // inferred types, facts per column, judged at the end of the body.
  let indexText = false;
  let inferred: Inferred[] | undefined;
  let rows = 0;
  let fields: string[] = [];
  let field = 0;
  let indexEmpty = false;
  let indexNull: string | undefined;
  let i = 0;
  let record = 1;
  const refuseIndex = (value: string, at: number) => {
    const hint = schema ? "" : "; create the table with a schema first to keep it as text";
    return new IngestError(
      422,
      `CSV record ${at}: index column ${JSON.stringify(indexColumn)} is ` +
        `${JSON.stringify(value)}, which the engine reads as null${hint}`,
    );
  };
  // Columns whose values are still looked at, by `check`; a column drops
  // out once its outcome is settled.
  let wanted: boolean[] = [];
  // Looks at one value of a data record: `source.slice(start, end)`, which
  // is the unquoted value. A declared index's refusal waits for the end of
  // the record, so that a malformed record is reported as such first.
  const check = (column: number, source: string, start: number, end: number) => {
    if (!isCsvNull(source, start, end)) {
      if (!inferred) return;
      const facts = inferred[column];
      facts.allNull = false;
      if (column === indexAt) {
        facts.text = !isDigits(source, start, end) && !maybeNotString(source.slice(start, end));
        if (facts.text) wanted[column] = false;
      } else {
        wanted[column] = false;
      }
    } else if (start !== end) {
      const value = source.slice(start, end);
      if (inferred) inferred[column].null ??= { value, record };
      else indexNull = value;
    }
  };
  const endRecord = () => {
    if (!header) {
      header = fields;
      if (indexColumn !== null) indexAt = header.indexOf(indexColumn);
      if (schema) {
        indexText = indexAt >= 0 && schema[indexColumn!] === "string";
        wanted = header.map((_, column) => column === indexAt && !indexText);
      } else {
        inferred = header.map(() => ({ text: false, allNull: true }));
        wanted = header.map(() => true);
      }
    } else {
      if (field + 1 !== header.length) {
        throw new IngestError(
          400,
          `CSV record ${record} has ${field + 1} fields, the header has ${header.length}`,
        );
      }
      if (indexEmpty) {
        throw new IngestError(
          422,
          `CSV record ${record}: index column ${JSON.stringify(indexColumn)} is empty`,
        );
      }
      if (indexNull !== undefined) throw refuseIndex(indexNull, record);
      rows++;
    }
    record++;
    fields = [];
    field = 0;
    indexEmpty = false;
  };
  while (i < n) {
    if (
      field === 0 && fields.length === 0 && (text.charCodeAt(i) === LF || text.charCodeAt(i) === CR)
    ) {
      // Blank lines between records are skipped, as the engine's reader does.
      i++;
      continue;
    }
    // One field.
    let value = "";
    const collect = header === undefined;
    const want = collect || wanted[field] === true;
    let empty = true;
    if (text.charCodeAt(i) === QUOTE) {
      i++;
      const open = i;
      let start = i;
      while (true) {
        const q = text.indexOf('"', i);
        if (q === -1) throw new IngestError(400, `CSV record ${record}: unterminated quoted field`);
        if (text.charCodeAt(q + 1) === QUOTE) {
          if (want) value += text.slice(start, q + 1);
          i = q + 2;
          start = i;
          continue;
        }
        if (want) value += text.slice(start, q);
        empty = q === open;
        i = q + 1;
        break;
      }
      const c = i < n ? text.charCodeAt(i) : LF;
      if (c !== COMMA && c !== LF && c !== CR) {
        throw new IngestError(400, `CSV record ${record}: text after a closing quote`);
      }
      if (want && !collect) check(field, value, 0, value.length);
    } else {
      const start = i;
      while (i < n) {
        const c = text.charCodeAt(i);
        if (c === COMMA || c === LF || c === CR) break;
        if (c === QUOTE) {
          throw new IngestError(400, `CSV record ${record}: quote inside an unquoted field`);
        }
        i++;
      }
      if (collect) value = text.slice(start, i);
      else if (want) check(field, text, start, i);
      empty = i === start;
    }
    if (collect) fields.push(value);
    if (field === indexAt && empty) indexEmpty = true;
    if (i >= n) {
      endRecord();
      break;
    }
    const c = text.charCodeAt(i);
    if (c === COMMA) {
      field++;
      i++;
      if (i >= n) {
        if (collect) fields.push("");
        else if (wanted[field]) check(field, "", 0, 0);
        if (field === indexAt) indexEmpty = true;
        endRecord();
      }
      continue;
    }
    // Record end: LF or CRLF.
    if (c === CR) i++;
    if (text.charCodeAt(i) === LF) i++;
    endRecord();
  }
  const scan: CsvScan = { header: header ?? [], rows, text };
  if (!inferred) return scan;
  // The engine infers each column's type from all of its values, so these
  // wait for the whole body.
  const index = inferred[indexAt];
  if (index && !index.text && index.null) throw refuseIndex(index.null.value, index.null.record);
  scan.nullOnly = [];
  for (let column = 0; column < inferred.length; column++) {
    const facts = inferred[column];
    if (facts.allNull && facts.null) scan.nullOnly.push({ column: header![column], ...facts.null });
  }
  return scan;
}

/**
 * Checks a scanned CSV body that creates a table. The engine makes a
 * column whose values are all in {@linkcode CSV_NULLS} a string column of
 * nulls, though a string column would keep those strings: a ticker "NA"
 * would vanish. All empty values lose nothing and pass.
 *
 * @param scan A scan made without a schema.
 * @throws {IngestError} 422 for such a column.
 */
export function checkCsvNewTable(scan: CsvScan): void {
  const first = scan.nullOnly?.[0];
  if (!first) return;
  throw new IngestError(
    422,
    `CSV column ${JSON.stringify(first.column)} holds only strings the engine reads as ` +
      `null (${JSON.stringify(first.value)} in record ${first.record}), so the new table ` +
      "would get a string column of nulls; create the table with a schema first to keep " +
      "them as text",
  );
}

/**
 * Checks a CSV header against the table.
 *
 * @throws {IngestError} 400 for duplicate or empty names, 422 for unknown
 *   columns or a missing index column.
 */
export function checkCsvHeader(header: string[], def: TableDef): void {
  const seen = new Set<string>();
  for (const name of header) {
    if (name === "") throw new IngestError(400, "CSV header has an empty column name");
    if (seen.has(name)) throw new IngestError(400, `CSV header repeats ${JSON.stringify(name)}`);
    seen.add(name);
    if (!Object.hasOwn(def.schema, name)) {
      throw new IngestError(422, `unknown column ${JSON.stringify(name)}`);
    }
  }
  if (def.index !== null && !seen.has(def.index)) {
    throw new IngestError(
      422,
      `index column ${JSON.stringify(def.index)} is missing from the CSV header`,
    );
  }
}
