import assert from "node:assert/strict";
import {
  parseTokenList,
  sha256,
  timingSafeEqual,
  toEntry,
  TokenStore,
} from "../../src/security/tokens.ts";

Deno.test("timingSafeEqual() compares whole byte strings", () => {
  const a = new Uint8Array([1, 2, 3]);
  assert(timingSafeEqual(a, new Uint8Array([1, 2, 3])));
  assert(!timingSafeEqual(a, new Uint8Array([1, 2, 4])));
  assert(!timingSafeEqual(a, new Uint8Array([1, 2])));
});

Deno.test("TokenStore.find() matches plain and sha256: tokens and nothing else", async () => {
  const plain = "plain-token-0123456789";
  const hashed = "hashed-token-9876543210";
  const hex = [...await sha256(hashed)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const store = new TokenStore([
    await toEntry({ token: plain, scopes: { read: ["*"] } }, "t[0]", 1),
    await toEntry({ token: `sha256:${hex}`, name: "bot", scopes: { write: ["x"] } }, "t[1]", 2),
  ]);
  assert.equal((await store.find(plain))?.name, "token-1");
  assert.equal((await store.find(hashed))?.name, "bot");
  assert.equal(await store.find(`sha256:${hex}`), undefined);
  assert.equal(await store.find(plain + "x"), undefined);
  assert.equal(await store.find(""), undefined);
});

Deno.test("parseTokenList() splits on the last '=' so base64 padding stays in the token", () => {
  const specs = parseTokenList("abc+/def==ghijklmnop===read,write:s_*", "TOKENS");
  assert.equal(specs[0].token, "abc+/def==ghijklmnop==");
  assert.deepEqual(specs[0].scopes, { read: ["*"], write: ["s_*"] });
});
