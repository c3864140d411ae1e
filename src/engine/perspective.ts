/**
 * The one place that imports the Perspective engine package, so the rest of
 * the service depends on a narrow surface.
 *
 * @module
 */

export { make_client, PerspectiveServer } from "@finos/perspective";
export type { Client, Table, View } from "@finos/perspective";

/** Schema column types the engine understands. */
export type ColumnType =
  | "string"
  | "integer"
  | "float"
  | "boolean"
  | "date"
  | "datetime";

/** A table schema: column name to type. */
export type Schema = Record<string, ColumnType>;
