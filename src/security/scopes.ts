/**
 * Scopes and table-name patterns: what a credential may do, and to which
 * tables.
 *
 * @module
 */

/** The three permissions. They are independent: list each one a token needs. */
export type Scope = "read" | "write" | "admin";

/** All scopes, in the order they are documented. */
export const SCOPES: readonly Scope[] = ["read", "write", "admin"];

/** True when `value` names a scope. */
export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/** Table-name patterns per scope; a scope that is absent is not granted. */
export type Grants = Partial<Record<Scope, readonly string[]>>;

/** Every scope on every table, for open development mode with editing on. */
export const ALL_GRANTS: Grants = { read: ["*"], write: ["*"], admin: ["*"] };

/** Read on every table: viewers in open development mode. */
export const READ_GRANTS: Grants = { read: ["*"] };

const compiled = new Map<string, RegExp>();

/**
 * Matches a table name against a pattern where `*` stands for any run of
 * characters and everything else is literal.
 */
export function matchPattern(pattern: string, name: string): boolean {
  if (pattern === "*") return true;
  let re = compiled.get(pattern);
  if (!re) {
    const body = pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*");
    re = new RegExp(`^${body}$`, "s");
    compiled.set(pattern, re);
  }
  return re.test(name);
}

/**
 * Whether grants allow a scope, on one table when `table` is given, or on at
 * least one table when it is not (routes such as `GET /api/tables`).
 */
export function allows(grants: Grants, scope: Scope, table?: string): boolean {
  const patterns = grants[scope];
  if (!patterns || patterns.length === 0) return false;
  if (table === undefined) return true;
  return patterns.some((p) => matchPattern(p, table));
}
