import assert from "node:assert/strict";
import { ownBuffer, transferable } from "../../../src/engine/worker/protocol.ts";

Deno.test("ownBuffer() keeps bytes that fill their buffer, and copies a view out of a larger one", () => {
  const whole = new Uint8Array([1, 2, 3]);
  assert.equal(ownBuffer(whole), whole);
  const large = new Uint8Array(1 << 20);
  large.set([7, 8, 9], 1000);
  const view = large.subarray(1000, 1003);
  const own = ownBuffer(view);
  assert.deepEqual([...own], [7, 8, 9]);
  assert.equal(own.buffer.byteLength, 3);
  assert.deepEqual(transferable(own), [own.buffer]);
});
