/**
 * Structural validation of CSV batches: the header names known columns,
 * every record has the header's field count, and the index column is never
 * empty. Value conversion is the engine's (it refuses what it cannot
 * convert, atomically, for updates).
 *
 * @module
 */

import { IngestError, type TableDef } from "./batch.ts";
import { decodeUtf8 } from "./json_safe.ts";

/** What a CSV scan found. */
export interface CsvScan {
  /** Header names in order. */
  header: string[];
  /** Data records (the header excluded). */
  rows: number;
  /** The decoded text. */
  text: string;
}

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;

/**
 * Scans RFC 4180 CSV (comma-separated, `"`-quoted, `""` escapes, LF or
 * CRLF records). `indexColumn`, when given, must be non-empty in every record.
 *
 * @throws {IngestError} 400 for malformed CSV, 422 for an empty index value.
 */
export function scanCsv(bytes: Uint8Array, indexColumn: string | null = null): CsvScan {
  const text = decodeUtf8(bytes);
  // Trailing line breaks end the body; they are not an empty record.
  const n = text.replace(/[\r\n]+$/, "").length;
  if (n === 0 || text.trim() === "") throw new IngestError(400, "empty CSV body");
  let header: string[] | undefined;
  let indexAt = -1;
  let rows = 0;
  let fields: string[] = [];
  let field = 0;
  let indexEmpty = false;
  let i = 0;
  let record = 1;
  const endRecord = () => {
    if (!header) {
      header = fields;
      if (indexColumn !== null) indexAt = header.indexOf(indexColumn);
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
    let empty = true;
    if (text.charCodeAt(i) === QUOTE) {
      i++;
      let start = i;
      while (true) {
        const q = text.indexOf('"', i);
        if (q === -1) throw new IngestError(400, `CSV record ${record}: unterminated quoted field`);
        if (text.charCodeAt(q + 1) === QUOTE) {
          if (collect) value += text.slice(start, q + 1);
          i = q + 2;
          start = i;
          continue;
        }
        if (collect) value += text.slice(start, q);
        empty = q === start && value === "";
        i = q + 1;
        break;
      }
      const c = i < n ? text.charCodeAt(i) : LF;
      if (c !== COMMA && c !== LF && c !== CR) {
        throw new IngestError(400, `CSV record ${record}: text after a closing quote`);
      }
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
  return { header: header ?? [], rows, text };
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
