/**
 * Media types of batch bodies and exports, mapped to the engine's formats.
 *
 * @module
 */

import { type BatchFormat, IngestError } from "./batch.ts";

/** Export formats; `columns` is JSON keyed by column. */
export type ExportFormat = "arrow" | "csv" | "json" | "ndjson" | "columns";

const BODY_TYPES: Record<string, BatchFormat> = {
  "application/vnd.apache.arrow.stream": "arrow",
  "application/vnd.apache.arrow.file": "arrow",
  "application/json": "json",
  "application/x-ndjson": "ndjson",
  "application/ndjson": "ndjson",
  "application/jsonl": "ndjson",
  "text/csv": "csv",
};

/** The media type each export format is served as. */
export const EXPORT_TYPES: Record<ExportFormat, string> = {
  arrow: "application/vnd.apache.arrow.stream",
  csv: "text/csv; charset=utf-8",
  json: "application/json",
  ndjson: "application/x-ndjson",
  columns: "application/json",
};

/** The media types accepted on batch bodies. */
export const BODY_MEDIA_TYPES: readonly string[] = Object.keys(BODY_TYPES);

/**
 * The batch format for a `Content-Type`.
 *
 * @throws {IngestError} 415 for a missing or unknown type, a charset other than UTF-8, or
 *   CSV declared without a header row.
 */
export function formatForContentType(header: string | null): BatchFormat {
  if (!header) {
    throw new IngestError(415, `Content-Type is required: one of ${BODY_MEDIA_TYPES.join(", ")}`);
  }
  const [essence, ...params] = header.split(";").map((p) => p.trim());
  const format = BODY_TYPES[essence.toLowerCase()];
  if (!format || !Object.hasOwn(BODY_TYPES, essence.toLowerCase())) {
    throw new IngestError(
      415,
      `unsupported media type ${essence}; use one of ${BODY_MEDIA_TYPES.join(", ")}`,
    );
  }
  for (const p of params) {
    const [k, raw = ""] = p.split("=").map((x) => x.trim().toLowerCase());
    const v = unquote(raw);
    if (k === "charset" && !["utf-8", "utf8", "us-ascii"].includes(v)) {
      throw new IngestError(415, `charset ${v} is not supported; send UTF-8`);
    }
    // RFC 4180's parameter: without a header row the first record would be read as one.
    if (format === "csv" && k === "header" && v !== "present") {
      throw new IngestError(415, "CSV bodies need a header row (header=present)");
    }
  }
  return format;
}

/** A parameter value without the quotes a quoted string adds. */
function unquote(v: string): string {
  return v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.at(-1) === v[0] ? v.slice(1, -1) : v;
}

/**
 * Picks the export format: `?format=` wins, then the best `Accept` match,
 * then JSON.
 *
 * @returns undefined when `Accept` names only types the service cannot produce.
 * @throws {IngestError} 400 for an unknown `?format=`.
 */
export function negotiateExport(
  formatParam: string | null,
  accept: string | null,
): ExportFormat | undefined {
  if (formatParam !== null) {
    const f = formatParam.toLowerCase();
    if (Object.hasOwn(EXPORT_TYPES, f)) return f as ExportFormat;
    throw new IngestError(
      400,
      `unknown format ${formatParam}; use arrow, csv, json, ndjson or columns`,
    );
  }
  if (!accept) return "json";
  const offers: [string, ExportFormat][] = [
    ["application/json", "json"],
    ["application/vnd.apache.arrow.stream", "arrow"],
    ["application/vnd.apache.arrow.file", "arrow"],
    ["text/csv", "csv"],
    ["application/x-ndjson", "ndjson"],
    ["application/ndjson", "ndjson"],
  ];
  let best: { format: ExportFormat; q: number; specific: number } | undefined;
  for (const part of accept.split(",")) {
    const [range, ...params] = part.trim().toLowerCase().split(";").map((p) => p.trim());
    const qp = params.find((p) => p.startsWith("q="));
    const q = qp ? Number(qp.slice(2)) : 1;
    if (!(q > 0)) continue;
    for (const [type, format] of offers) {
      const specific = range === type
        ? 2
        : range === "*/*" || range === `${type.split("/")[0]}/*`
        ? 1
        : 0;
      if (specific === 0) continue;
      if (!best || q > best.q || (q === best.q && specific > best.specific)) {
        best = { format, q, specific };
      }
    }
  }
  return best?.format;
}
