import assert from "node:assert/strict";
import { allows, matchPattern } from "../../src/security/scopes.ts";

Deno.test("matchPattern() treats * as any run and everything else literally", () => {
  assert(matchPattern("*", "anything"));
  assert(matchPattern("sales_*", "sales_eu"));
  assert(matchPattern("sales_*", "sales_"));
  assert(!matchPattern("sales_*", "xsales_eu"));
  assert(matchPattern("*_raw", "ticks_raw"));
  assert(!matchPattern("a.b", "axb"));
  assert(matchPattern("a.b", "a.b"));
  assert(!matchPattern("t(1)", "t1"));
  assert(!matchPattern("sales", "sales\n"));
});

Deno.test("allows() needs the scope itself; scopes do not imply each other", () => {
  const grants = { read: ["public_*"], write: ["sales_*"] };
  assert(allows(grants, "read", "public_a"));
  assert(!allows(grants, "read", "sales_a"));
  assert(allows(grants, "write", "sales_a"));
  assert(!allows(grants, "admin", "sales_a"));
  assert(allows(grants, "read"));
  assert(!allows(grants, "admin"));
});
