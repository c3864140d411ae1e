import assert from "node:assert/strict";
import { fillTemplate } from "../../src/server/template.ts";

Deno.test("fillTemplate() fills placeholders with or without inner spaces", () => {
  assert.equal(fillTemplate("a{{V}}b{{ V }}c", { V: "1" }), "a1b1c");
});

Deno.test("fillTemplate() leaves unknown placeholders as they are", () => {
  assert.equal(fillTemplate("{{ NOPE }}", { V: "1" }), "{{ NOPE }}");
});
