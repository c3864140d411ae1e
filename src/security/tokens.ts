/**
 * Bearer tokens: parsing their configuration, and finding the one a request
 * presents without leaking timing or the token itself.
 *
 * @module
 */

import { ConfigError } from "../config/env.ts";
import { type Grants, isScope, type Scope } from "./scopes.ts";

/** One configured token. Only its SHA-256 digest is kept in memory. */
export interface TokenEntry {
  /** A label for logs and metrics; never the token. */
  name: string;
  /** SHA-256 of the token's UTF-8 bytes. */
  digest: Uint8Array;
  /** What the token may do. */
  grants: Grants;
}

/** A token as written in configuration, before hashing. */
export interface TokenSpec {
  /** The token in plain text, or `sha256:<64 hex digits>`. */
  token: string;
  /** Label for logs. @default "token-<n>" */
  name?: string;
  /** Scope to table-name patterns, e.g. `{"read": ["*"], "write": ["sales_*"]}`. */
  scopes: Grants;
}

const encoder = new TextEncoder();

/** SHA-256 of a string's UTF-8 bytes. */
export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/**
 * Compares two byte strings in time that depends only on their lengths, so
 * a caller cannot learn a secret's prefix by timing failed attempts.
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Turns a spec into an entry: hashes plain tokens, decodes `sha256:` ones.
 *
 * @param field Config field named in errors, e.g. `TOKENS[2]`.
 */
export async function toEntry(spec: TokenSpec, field: string, n: number): Promise<TokenEntry> {
  const token = spec.token;
  if (typeof token !== "string" || token.trim() === "") {
    throw new ConfigError(field, "token is empty");
  }
  if (/\s/.test(token)) throw new ConfigError(field, "token contains whitespace");
  let digest: Uint8Array;
  if (token.startsWith("sha256:")) {
    const hex = token.slice(7);
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
      throw new ConfigError(field, "sha256: must be followed by 64 hex digits");
    }
    digest = new Uint8Array(hex.match(/../g)!.map((h) => parseInt(h, 16)));
  } else {
    if (token.length < 16) {
      throw new ConfigError(field, "a plain token must be at least 16 characters");
    }
    digest = await sha256(token);
  }
  const name = spec.name ?? `token-${n}`;
  if (!/^[\w.@-]{1,64}$/.test(name)) {
    throw new ConfigError(field, "name must be 1-64 letters, digits, or . @ - _");
  }
  return { name, digest, grants: checkGrants(spec.scopes, field) };
}

function checkGrants(scopes: unknown, field: string): Grants {
  if (typeof scopes !== "object" || scopes === null || Array.isArray(scopes)) {
    throw new ConfigError(field, "scopes must be an object of scope to pattern list");
  }
  const out: Partial<Record<Scope, string[]>> = {};
  for (const [scope, patterns] of Object.entries(scopes)) {
    if (!isScope(scope)) {
      throw new ConfigError(
        field,
        `unknown scope ${JSON.stringify(scope)}; expected read, write or admin`,
      );
    }
    if (
      !Array.isArray(patterns) || patterns.length === 0 ||
      !patterns.every((p) => typeof p === "string" && p !== "")
    ) {
      throw new ConfigError(field, `${scope} needs a non-empty list of table-name patterns`);
    }
    out[scope] = [...patterns];
  }
  if (Object.keys(out).length === 0) throw new ConfigError(field, "no scopes granted");
  return out;
}

/**
 * Parses the compact text form used by `TOKENS` and `TOKENS_FILE`: entries
 * separated by `;` or new lines, each `<token>=<grant>[,<grant>...]`, a grant
 * being `<scope>` (all tables) or `<scope>:<pattern>`. `#` starts a comment
 * line. The split is on the last `=`, so base64 padding in tokens is fine.
 *
 * @example `s3cret-viewer-token-1=read;sha256:ab12...=read,write:sales_*`
 * @param field Variable named in errors.
 */
export function parseTokenList(text: string, field: string): TokenSpec[] {
  const specs: TokenSpec[] = [];
  const entries = text.split(/[;\n]/).map((e) => e.trim()).filter((e) =>
    e !== "" && !e.startsWith("#")
  );
  entries.forEach((entry, i) => {
    const at = `${field}[${i}]`;
    const eq = entry.lastIndexOf("=");
    if (eq <= 0) throw new ConfigError(at, "expected <token>=<scope>[:<pattern>],...");
    const token = entry.slice(0, eq).trim();
    const scopes: Partial<Record<Scope, string[]>> = {};
    for (const grant of entry.slice(eq + 1).split(",").map((g) => g.trim())) {
      const colon = grant.indexOf(":");
      const scope = colon < 0 ? grant : grant.slice(0, colon);
      const pattern = colon < 0 ? "*" : grant.slice(colon + 1);
      if (!isScope(scope)) {
        throw new ConfigError(
          at,
          `unknown scope ${JSON.stringify(scope)}; expected read, write or admin`,
        );
      }
      if (pattern === "") throw new ConfigError(at, `empty table pattern for ${scope}`);
      (scopes[scope] ??= []).push(pattern);
    }
    specs.push({ token, scopes });
  });
  return specs;
}

/** The configured tokens, looked up by digest. */
export class TokenStore {
  readonly #entries: readonly TokenEntry[];

  /** @param entries Hashed tokens. */
  constructor(entries: readonly TokenEntry[]) {
    this.#entries = entries;
  }

  /** Number of tokens configured. */
  get size(): number {
    return this.#entries.length;
  }

  /**
   * Finds the entry for a presented token. Every entry is compared, so the
   * time taken does not depend on which one matched or how much of it did.
   */
  async find(token: string): Promise<TokenEntry | undefined> {
    const digest = await sha256(token);
    let found: TokenEntry | undefined;
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.digest, digest) && !found) found = entry;
    }
    return found;
  }
}
