/**
 * Parses a table definition, `{schema, index?, limit?}`, from untrusted
 * JSON (an HTTP body or the config file), naming the field at fault.
 *
 * @module
 */

import type { Schema } from "../engine/perspective.ts";
import { COLUMN_TYPES, isColumnType, type TableDef } from "./batch.ts";
import { isRecord } from "./json_safe.ts";

/** A bad definition; `field` is a dotted path such as `schema.price`. */
export class DefinitionError extends Error {
  /** @param field The field at fault. @param detail What is wrong with it. */
  constructor(readonly field: string, detail: string) {
    super(`${field}: ${detail}`);
    this.name = "DefinitionError";
  }
}

/** Largest row limit accepted. */
export const MAX_LIMIT = 2 ** 31 - 1;

/**
 * Parses `{schema, index?, limit?}`; `extra` names further keys the caller
 * accepts (such as `name` in the config file).
 *
 * @param prefix Prefix for field names in errors, e.g. `tables[0].`.
 * @throws {DefinitionError} naming the first bad field.
 */
export function parseTableDef(
  value: unknown,
  prefix = "",
  extra: readonly string[] = [],
): TableDef {
  if (!isRecord(value)) throw new DefinitionError(prefix || "body", "expected a JSON object");
  for (const key of Object.keys(value)) {
    if (!["schema", "index", "limit", ...extra].includes(key)) {
      throw new DefinitionError(
        `${prefix}${key}`,
        "unknown field; expected schema, index or limit",
      );
    }
  }
  const rawSchema = value.schema;
  if (!isRecord(rawSchema)) {
    throw new DefinitionError(`${prefix}schema`, "expected an object of column name to type");
  }
  const names = Object.keys(rawSchema);
  if (names.length === 0) throw new DefinitionError(`${prefix}schema`, "needs at least one column");
  const schema: Schema = Object.create(null);
  for (const name of names) {
    const type = rawSchema[name];
    if (name === "") throw new DefinitionError(`${prefix}schema`, "column names cannot be empty");
    if (!isColumnType(type)) {
      throw new DefinitionError(
        `${prefix}schema.${name}`,
        `expected one of ${COLUMN_TYPES.join(", ")}, got ${JSON.stringify(type)}`,
      );
    }
    schema[name] = type;
  }
  let index: string | null = null;
  if (value.index !== undefined && value.index !== null) {
    if (typeof value.index !== "string" || !Object.hasOwn(schema, value.index)) {
      throw new DefinitionError(`${prefix}index`, "must name a column of the schema");
    }
    index = value.index;
  }
  let limit: number | null = null;
  if (value.limit !== undefined && value.limit !== null) {
    const n = value.limit;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_LIMIT) {
      throw new DefinitionError(`${prefix}limit`, `expected an integer from 1 to ${MAX_LIMIT}`);
    }
    limit = n;
  }
  if (index !== null && limit !== null) {
    throw new DefinitionError(`${prefix}limit`, "a table takes an index or a limit, not both");
  }
  return { schema, index, limit };
}

/** Whether two definitions are the same table: same columns and types, index and limit. */
export function sameDefinition(a: TableDef, b: TableDef): boolean {
  const ka = Object.keys(a.schema);
  const kb = Object.keys(b.schema);
  return ka.length === kb.length &&
    ka.every((k) => Object.hasOwn(b.schema, k) && b.schema[k] === a.schema[k]) &&
    a.index === b.index && a.limit === b.limit;
}
