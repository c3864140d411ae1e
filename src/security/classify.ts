/**
 * Sorts each `client_req` member of a Perspective `Request` by what it can
 * do, so a session's scopes decide which requests reach the engine.
 *
 * @module
 */

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

/** `ViewDeleteReq`. */
export const VIEW_DELETE_REQ = 11;

const CLASSES: Record<number, RequestClass> = {
  3: "global", // get_features_req
  4: "global", // get_hosted_tables_req
  17: "global", // server_system_info_req
  37: "global", // remove_hosted_tables_update_req
  5: "table-read", // table_make_port_req: allocates a port id, changes no rows
  7: "table-read", // table_schema_req
  8: "table-read", // table_size_req
  9: "table-read", // table_validate_expr_req
  29: "table-read", // table_on_delete_req
  30: "table-read", // table_remove_delete_req
  6: "make-view", // table_make_view_req
  10: "view", // view_column_paths_req
  11: "view", // view_delete_req
  12: "view", // view_dimensions_req
  13: "view", // view_expression_schema_req
  14: "view", // view_get_config_req
  15: "view", // view_schema_req
  16: "view", // view_to_arrow_req
  18: "view", // view_collapse_req
  19: "view", // view_expand_req
  20: "view", // view_get_min_max_req
  21: "view", // view_on_update_req
  22: "view", // view_remove_on_update_req
  23: "view", // view_set_depth_req
  24: "view", // view_to_columns_string_req
  25: "view", // view_to_csv_req
  26: "view", // view_to_rows_string_req
  34: "view", // view_on_delete_req
  35: "view", // view_remove_delete_req
  36: "view", // view_to_ndjson_string_req
  27: "create", // make_table_req
  31: "write", // table_remove_req
  32: "write", // table_replace_req; Table.clear() is a replace with no rows
  33: "write", // table_update_req
  28: "drop", // table_delete_req
};

/** The class of a `client_req` member by field number. */
export function classify(kind: number): RequestClass {
  return CLASSES[kind] ?? "unknown";
}
