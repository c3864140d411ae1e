/**
 * What a stored layout must look like: a table's default viewer layout (a
 * `<perspective-viewer>` `save()` token) or a dashboard (a
 * `<perspective-workspace>` `save()` token). Checked before anything is
 * stored, so every page that restores one gets a shape it can load.
 *
 * @module
 */

/** A layout that is not well formed; `field` names where. */
export class LayoutError extends Error {
  /** Path of the bad field, e.g. `viewers.grid.sort`. */
  readonly field: string;

  /** @param field Path of the bad field. @param message What is wrong with it. */
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = "LayoutError";
    this.field = field;
  }
}

/** Largest table default layout, as JSON bytes. */
export const MAX_VIEWER_LAYOUT_BYTES = 64 * 1024;
/** Largest dashboard layout, as JSON bytes. */
export const MAX_DASHBOARD_BYTES = 256 * 1024;
/** Most viewers in one dashboard. */
export const MAX_DASHBOARD_VIEWERS = 32;
/** Dashboard names: a letter or digit, then letters, digits, `_`, `.` or `-`; at most 64. */
export const DASHBOARD_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

type Check = (value: unknown, field: string) => void;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const object: Check = (v, f) => {
  if (!isObject(v)) throw new LayoutError(f, "expected an object");
};
const array: Check = (v, f) => {
  if (!Array.isArray(v)) throw new LayoutError(f, "expected an array");
};
const stringOrNull: Check = (v, f) => {
  if (v !== null && typeof v !== "string") throw new LayoutError(f, "expected a string or null");
};
const boolean: Check = (v, f) => {
  if (typeof v !== "boolean") throw new LayoutError(f, "expected true or false");
};
const objectOrArray: Check = (v, f) => {
  if (typeof v !== "object" || v === null) throw new LayoutError(f, "expected an object or array");
};
const columnsList: Check = (v, f) => {
  array(v, f);
  (v as unknown[]).forEach((c, i) => stringOrNull(c, `${f}[${i}]`));
};
const sortList: Check = (v, f) => {
  array(v, f);
  (v as unknown[]).forEach((s, i) => {
    if (
      !Array.isArray(s) || s.length !== 2 || typeof s[0] !== "string" || typeof s[1] !== "string"
    ) {
      throw new LayoutError(`${f}[${i}]`, 'expected [column, "asc" | "desc" | ...]');
    }
  });
};
const stringList: Check = (v, f) => {
  array(v, f);
  (v as unknown[]).forEach((s, i) => {
    if (typeof s !== "string") throw new LayoutError(`${f}[${i}]`, "expected a string");
  });
};

/** The keys a `<perspective-viewer>` 3.8 `save()` token has, and their checks. */
const VIEWER_FIELDS: Record<string, Check> = {
  version: stringOrNull,
  plugin: stringOrNull,
  plugin_config: object,
  columns_config: object,
  settings: boolean,
  theme: stringOrNull,
  title: stringOrNull,
  group_by: stringList,
  split_by: stringList,
  columns: columnsList,
  filter: array,
  sort: sortList,
  expressions: objectOrArray,
  aggregates: object,
  group_rollup_mode: stringOrNull,
};

/** The workspace's own keys for each of its viewers. */
const WORKSPACE_VIEWER_FIELDS: Record<string, Check> = {
  ...VIEWER_FIELDS,
  table: (v, f) => {
    if (typeof v !== "string" || v === "") throw new LayoutError(f, "expected a table name");
  },
  name: stringOrNull,
  master: boolean,
  linked: boolean,
  selectable: boolean,
};

function checkFields(value: unknown, field: string, fields: Record<string, Check>): void {
  object(value, field);
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const check = fields[key];
    if (!check) throw new LayoutError(`${field}.${key}`, "unknown field");
    // Absent and null mean "the viewer's default" in a save() token.
    if (v !== null && v !== undefined) check(v, `${field}.${key}`);
  }
}

/**
 * Checks a table's default viewer layout.
 *
 * @param prefix Field path prefix for messages, e.g. `tables[0].layout`.
 * @throws {LayoutError} naming the first bad field.
 */
export function checkViewerLayout(layout: unknown, prefix = "layout"): void {
  checkFields(layout, prefix, VIEWER_FIELDS);
}

/**
 * Checks a dashboard layout and returns the tables it names, sorted.
 *
 * @throws {LayoutError} naming the first bad field.
 */
export function checkDashboardLayout(layout: unknown): string[] {
  object(layout, "layout");
  const doc = layout as Record<string, unknown>;
  for (const key of Object.keys(doc)) {
    if (!["sizes", "master", "detail", "viewers"].includes(key)) {
      throw new LayoutError(key, "unknown field; expected sizes, master, detail or viewers");
    }
  }
  if (doc.sizes !== undefined) array(doc.sizes, "sizes");
  if (doc.master !== undefined) object(doc.master, "master");
  if (doc.detail !== undefined) object(doc.detail, "detail");
  object(doc.viewers, "viewers");
  const viewers = Object.entries(doc.viewers as Record<string, unknown>);
  if (viewers.length > MAX_DASHBOARD_VIEWERS) {
    throw new LayoutError("viewers", `more than ${MAX_DASHBOARD_VIEWERS} viewers`);
  }
  const tables = new Set<string>();
  for (const [slot, viewer] of viewers) {
    const at = `viewers.${slot}`;
    checkFields(viewer, at, WORKSPACE_VIEWER_FIELDS);
    const table = (viewer as Record<string, unknown>).table;
    if (typeof table !== "string") throw new LayoutError(`${at}.table`, "expected a table name");
    tables.add(table);
  }
  return [...tables].sort();
}
