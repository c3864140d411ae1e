/**
 * Sorts each `client_req` member of a Perspective `Request` by what it can
 * do, so a session's scopes decide which requests reach the engine.
 *
 * @module
 */

import { Req } from "../protocol/messages.ts";

/**
 * - `global`: no table involved (features, hosted table list, system info).
 * - `table-read`: reads one table named by `entity_id`.
 * - `make-view`: opens a view on the table named by `entity_id`.
 * - `view`: acts on a view named by `entity_id` (reads, or deletes the view).
 * - `create`: makes a table named by `entity_id`.
 * - `write`: changes the rows of a table (update, replace, clear, remove).
 * - `drop`: deletes a table.
 * - `unknown`: a member this service does not know; always refused.
 */
export type RequestClass =
  | "global"
  | "table-read"
  | "make-view"
  | "view"
  | "create"
  | "write"
  | "drop"
  | "unknown";

const CLASSES: Record<number, RequestClass> = {
  [Req.GET_FEATURES]: "global",
  [Req.GET_HOSTED_TABLES]: "global",
  [Req.SERVER_SYSTEM_INFO]: "global",
  [Req.REMOVE_HOSTED_TABLES_UPDATE]: "global",
  [Req.TABLE_MAKE_PORT]: "table-read", // allocates a port id, changes no rows
  [Req.TABLE_SCHEMA]: "table-read",
  [Req.TABLE_SIZE]: "table-read",
  [Req.TABLE_VALIDATE_EXPR]: "table-read",
  [Req.TABLE_ON_DELETE]: "table-read",
  [Req.TABLE_REMOVE_DELETE]: "table-read",
  [Req.TABLE_MAKE_VIEW]: "make-view",
  [Req.VIEW_COLUMN_PATHS]: "view",
  [Req.VIEW_DELETE]: "view",
  [Req.VIEW_DIMENSIONS]: "view",
  [Req.VIEW_EXPRESSION_SCHEMA]: "view",
  [Req.VIEW_GET_CONFIG]: "view",
  [Req.VIEW_SCHEMA]: "view",
  [Req.VIEW_TO_ARROW]: "view",
  [Req.VIEW_COLLAPSE]: "view",
  [Req.VIEW_EXPAND]: "view",
  [Req.VIEW_GET_MIN_MAX]: "view",
  [Req.VIEW_ON_UPDATE]: "view",
  [Req.VIEW_REMOVE_ON_UPDATE]: "view",
  [Req.VIEW_SET_DEPTH]: "view",
  [Req.VIEW_TO_COLUMNS_STRING]: "view",
  [Req.VIEW_TO_CSV]: "view",
  [Req.VIEW_TO_ROWS_STRING]: "view",
  [Req.VIEW_ON_DELETE]: "view",
  [Req.VIEW_REMOVE_DELETE]: "view",
  [Req.VIEW_TO_NDJSON_STRING]: "view",
  [Req.MAKE_TABLE]: "create",
  [Req.TABLE_REMOVE]: "write",
  [Req.TABLE_REPLACE]: "write", // Table.clear() is a replace with no rows
  [Req.TABLE_UPDATE]: "write",
  [Req.TABLE_DELETE]: "drop",
};

/** The class of a `client_req` member by field number. */
export function classify(kind: number): RequestClass {
  return CLASSES[kind] ?? "unknown";
}
