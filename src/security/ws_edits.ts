/**
 * WebSocket edits as an ingest source: a session's `table.update`,
 * `replace`, `remove` and `clear` on a shared table become a
 * {@linkcode Batch} for the ingest sink, validated and logged exactly like
 * an HTTP batch, and the client gets the protocol answer the engine would
 * have sent, or a server error carrying the refusal's detail (its promise
 * rejects and nothing changed).
 *
 * An admin's `table.delete()` of a shared table is dropped through the
 * sink too, so the drop is logged like `DELETE /api/tables/{table}`.
 *
 * Ports are an engine notion the batch log does not carry: an edit through
 * the sink is applied on the table's default port, so `on_update`
 * callbacks report port 0 for it whatever `port_id` the client named.
 *
 * @module
 */

import type { Batch, BatchFormat, BatchResult, TableDef } from "../ingest/batch.ts";
import { IngestError } from "../ingest/batch.ts";
import { StatusError } from "../engine/batch_types.ts";
import { isRecord, parseJson } from "../ingest/json_safe.ts";
import { parseNdjson } from "../ingest/validate_json.ts";
import { Req } from "../protocol/messages.ts";
import { fields, ProtocolError, WIRE_LEN } from "../protocol/wire.ts";
import { encodeResponse, encodeServerError, type RequestEnvelope } from "./protocol.ts";

/** The sink operations an edit needs; `BatchSink` provides them. */
export interface EditSink {
  /** Validates, logs and applies a batch; throws a {@linkcode StatusError} when refused. */
  submit(batch: Batch, source?: string): Promise<BatchResult>;
  /** A table's definition, or undefined when it does not exist. */
  definition(name: string): Promise<TableDef | undefined>;
  /** Drops a table through the log; false when there is none. */
  dropTable(name: string): Promise<boolean>;
  /** Ingest limits: the decoded size and the JSON depth apply to edits too. */
  readonly limits: { readonly maxDecodedBytes: number; readonly maxJsonDepth: number };
}

/** The name edits carry in ingest events and metrics. */
export const EDIT_SOURCE = "websocket";

/**
 * The column name the stock client and `<perspective-viewer editable>` use
 * for a row's primary key in an update (the datagrid sends
 * `{__INDEX__: key, [column]: value}`).
 */
export const INDEX_KEY = "__INDEX__";

/** `MakeTableData` members, from `perspective.proto`. */
const Data = {
  FROM_SCHEMA: 1,
  FROM_CSV: 2,
  FROM_ARROW: 3,
  FROM_ROWS: 4,
  FROM_COLS: 5,
  FROM_VIEW: 6,
  FROM_NDJSON: 7,
} as const;

const FORMATS: Record<number, BatchFormat> = {
  [Data.FROM_CSV]: "csv",
  [Data.FROM_ARROW]: "arrow",
  [Data.FROM_ROWS]: "json",
  [Data.FROM_COLS]: "columns",
  [Data.FROM_NDJSON]: "ndjson",
};

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/**
 * What became of one edit, in the shape of the session guard's verdicts:
 * answered here, or refused with a reason for the log. Either way `reply`
 * is the protocol response for the client, same `msg_id` and `entity_id`.
 */
export type EditOutcome =
  | {
    /** Applied: `reply` is the request's own response. */
    allow: "answered";
    /** The protocol response. */
    reply: Uint8Array;
  }
  | {
    /** Refused: `reply` is a server error. */
    allow: false;
    /** Why, for the log. */
    reason: string;
    /** The server error for the client. */
    reply: Uint8Array;
    /** The server failed, not the edit: worth a warning in the log. */
    failed?: boolean;
  };

/** Whether a request is an edit this module takes: update, replace (and so clear) or remove. */
export function isEdit(kind: number): boolean {
  return kind === Req.TABLE_UPDATE || kind === Req.TABLE_REPLACE || kind === Req.TABLE_REMOVE;
}

/**
 * Submits one edit to the sink and answers it. Never throws: every failure
 * becomes a server error for the client.
 *
 * @param req A decoded request for which {@linkcode isEdit} holds.
 */
export function applyEdit(sink: EditSink, req: RequestEnvelope): Promise<EditOutcome> {
  return answer(req, async () => {
    await sink.submit(await editBatch(sink, req), EDIT_SOURCE);
  });
}

/**
 * Drops a shared table through the sink, so the drop is logged like
 * `DELETE /api/tables/{table}`, and answers it. Never throws.
 *
 * @param req A decoded `table_delete_req`.
 */
export function applyDrop(sink: EditSink, req: RequestEnvelope): Promise<EditOutcome> {
  return answer(req, async () => {
    if (!(await sink.dropTable(req.entityId))) {
      throw new IngestError(404, `no table named ${JSON.stringify(req.entityId)}`);
    }
  });
}

/** Runs `change` and answers with the request's own response, or a server error saying why not. */
async function answer(req: RequestEnvelope, change: () => Promise<void>): Promise<EditOutcome> {
  const { msgId, entityId, kind } = req;
  try {
    await change();
    return { allow: "answered", reply: encodeResponse(msgId, entityId, kind, EMPTY) };
  } catch (err) {
    if (err instanceof StatusError || err instanceof ProtocolError) {
      const status = err instanceof StatusError ? err.status : 400;
      const retry = err instanceof StatusError ? err.headers["retry-after"] : undefined;
      const detail = err instanceof StatusError ? err.message : `malformed edit: ${err.message}`;
      const refused = `${detail}${retry ? `; retry in ${retry} s` : ""} (status ${status})`;
      const reply = encodeServerError(msgId, entityId, `refused: ${refused}`);
      return { allow: false, reason: refused, reply };
    }
    // The cause goes to the log only: it may describe the server's internals.
    const cause = err instanceof Error ? err.message : String(err);
    return {
      allow: false,
      reason: `the edit failed on the server: ${cause} (status 500)`,
      reply: encodeServerError(msgId, entityId, "the edit failed on the server (status 500)"),
      failed: true,
    };
  }
}

/**
 * Turns an edit request into a batch.
 *
 * @throws {IngestError} 400 for data the service does not take over the protocol.
 * @throws {ProtocolError} for bytes that do not parse.
 */
export async function editBatch(sink: EditSink, req: RequestEnvelope): Promise<Batch> {
  const table = req.entityId;
  const data = readData(req.body);
  if (data === undefined) throw new IngestError(400, "the edit carries no data");
  const format = FORMATS[data.member];
  if (format === undefined) {
    const what = data.member === Data.FROM_VIEW
      ? "an edit from a view"
      : data.member === Data.FROM_SCHEMA
      ? "an edit from a schema"
      : `data member ${data.member}`;
    throw new IngestError(400, `${what} is not supported here; send rows, columns, CSV or Arrow`);
  }
  const max = sink.limits.maxDecodedBytes;
  if (data.bytes.byteLength > max) {
    throw new IngestError(413, `the edit's data is larger than the ${max}-byte limit`);
  }
  // A copy: the sink may move the buffer to its validation worker.
  const bytes = data.bytes.slice();
  if (req.kind === Req.TABLE_REMOVE) {
    if (format !== "json") throw new IngestError(400, "keys to remove are a JSON array");
    return { table, op: "remove", format, bytes, owned: true };
  }
  if (req.kind === Req.TABLE_REPLACE) {
    // `Table.clear()` in the stock client is a replace with the empty row list.
    if (format === "json" && isEmptyArray(bytes)) {
      return { table, op: "clear", format, bytes: EMPTY };
    }
    return { table, op: "replace", format, bytes, owned: true, create: false };
  }
  const keyed = await withIndexColumn(sink, table, format, bytes);
  return { table, op: "update", ...keyed, owned: true, create: false };
}

/** Reads `data` (field 1) of an update, replace or remove request. Any `port_id` is ignored. */
function readData(body: Uint8Array): { member: number; bytes: Uint8Array } | undefined {
  let data: Uint8Array | undefined;
  for (const f of fields(body)) {
    if (f.no === 1) {
      if (f.wire !== WIRE_LEN) throw new ProtocolError("data is not a message");
      data = f.bytes;
    }
  }
  if (data === undefined) return undefined;
  let out: { member: number; bytes: Uint8Array } | undefined;
  for (const f of fields(data)) {
    if (f.wire !== WIRE_LEN) throw new ProtocolError(`data member ${f.no} is not length-delimited`);
    out = { member: f.no, bytes: f.bytes };
  }
  return out;
}

function isEmptyArray(bytes: Uint8Array): boolean {
  if (bytes.length > 64) return false;
  return /^\s*\[\s*\]\s*$/.test(new TextDecoder().decode(bytes));
}

/**
 * The datagrid names the row it edits by `__INDEX__`, the engine's primary
 * key. On a table with an index that is the index column, so the edit is
 * rewritten into a plain upsert the validator and the log understand. On a
 * table without one it is the engine's internal row number, which no batch
 * can name and no log can replay, so such an edit is refused.
 */
async function withIndexColumn(
  sink: EditSink,
  table: string,
  format: BatchFormat,
  bytes: Uint8Array,
): Promise<{ format: BatchFormat; bytes: Uint8Array }> {
  if (format === "arrow" || format === "csv" || !mentionsIndexKey(bytes)) return { format, bytes };
  const depth = sink.limits.maxJsonDepth;
  const parsed = format === "ndjson" ? parseNdjson(bytes, depth) : parseJson(bytes, depth);
  const rows = Array.isArray(parsed) ? parsed.filter(isRecord) : [];
  const columns = !Array.isArray(parsed) && isRecord(parsed) ? parsed : undefined;
  if (![...rows, ...(columns ? [columns] : [])].some((r) => Object.hasOwn(r, INDEX_KEY))) {
    return { format, bytes };
  }
  const def = await sink.definition(table);
  if (def === undefined) throw new IngestError(404, `no table named ${JSON.stringify(table)}`);
  const index = def.index;
  if (index === null) {
    throw new IngestError(
      422,
      `table ${JSON.stringify(table)} has no index, so rows cannot be edited in place ` +
        `by ${INDEX_KEY}; give the table an index to edit it from a viewer`,
    );
  }
  const move = (record: Record<string, unknown>, where: string) => {
    if (!Object.hasOwn(record, INDEX_KEY)) return;
    if (Object.hasOwn(record, index)) {
      if (JSON.stringify(record[index]) !== JSON.stringify(record[INDEX_KEY])) {
        throw new IngestError(
          422,
          `${where}: the index column ${JSON.stringify(index)} cannot be edited in place`,
        );
      }
    } else {
      record[index] = record[INDEX_KEY];
    }
    delete record[INDEX_KEY];
  };
  if (columns) {
    move(columns, "columns");
    return { format: "columns", bytes: encoder.encode(JSON.stringify(columns)) };
  }
  rows.forEach((row, i) => move(row, `row ${i}`));
  return { format: "json", bytes: encoder.encode(JSON.stringify(parsed)) };
}

const INDEX_KEY_BYTES = encoder.encode(`"${INDEX_KEY}"`);

function mentionsIndexKey(bytes: Uint8Array): boolean {
  const n = INDEX_KEY_BYTES.length;
  outer: for (let i = 0; i + n <= bytes.length; i++) {
    for (let j = 0; j < n; j++) if (bytes[i + j] !== INDEX_KEY_BYTES[j]) continue outer;
    return true;
  }
  return false;
}
