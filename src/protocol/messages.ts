/**
 * Field numbers of the Perspective protocol's messages, from
 * `perspective.proto` in the Perspective repository (checked against the
 * bytes `@finos/perspective` 3.8.0 sends). The one place that knows them.
 *
 * @module
 */

/** Field numbers of the `client_req` members of a `Request`; a response uses the same number. */
export const Req = {
  GET_FEATURES: 3,
  GET_HOSTED_TABLES: 4,
  TABLE_MAKE_PORT: 5,
  TABLE_MAKE_VIEW: 6,
  TABLE_SCHEMA: 7,
  TABLE_SIZE: 8,
  TABLE_VALIDATE_EXPR: 9,
  VIEW_COLUMN_PATHS: 10,
  VIEW_DELETE: 11,
  VIEW_DIMENSIONS: 12,
  VIEW_EXPRESSION_SCHEMA: 13,
  VIEW_GET_CONFIG: 14,
  VIEW_SCHEMA: 15,
  VIEW_TO_ARROW: 16,
  SERVER_SYSTEM_INFO: 17,
  VIEW_COLLAPSE: 18,
  VIEW_EXPAND: 19,
  VIEW_GET_MIN_MAX: 20,
  VIEW_ON_UPDATE: 21,
  VIEW_REMOVE_ON_UPDATE: 22,
  VIEW_SET_DEPTH: 23,
  VIEW_TO_COLUMNS_STRING: 24,
  VIEW_TO_CSV: 25,
  VIEW_TO_ROWS_STRING: 26,
  MAKE_TABLE: 27,
  TABLE_DELETE: 28,
  TABLE_ON_DELETE: 29,
  TABLE_REMOVE_DELETE: 30,
  TABLE_REMOVE: 31,
  TABLE_REPLACE: 32,
  TABLE_UPDATE: 33,
  VIEW_ON_DELETE: 34,
  VIEW_REMOVE_DELETE: 35,
  VIEW_TO_NDJSON_STRING: 36,
  REMOVE_HOSTED_TABLES_UPDATE: 37,
} as const;

/** `Response.server_error`: the member that makes the client's call reject. */
export const SERVER_ERROR = 50;
