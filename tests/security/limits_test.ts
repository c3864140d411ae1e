import assert from "node:assert/strict";
import { ConnectionLimiter, RateLimiter } from "../../src/security/limits.ts";

Deno.test("ConnectionLimiter refuses past the total and the per-address limits", () => {
  const limiter = new ConnectionLimiter(3, 2);
  assert.equal(limiter.acquire("a"), "ok");
  assert.equal(limiter.acquire("a"), "ok");
  assert.equal(limiter.acquire("a"), "address");
  assert.equal(limiter.acquire("b"), "ok");
  assert.equal(limiter.acquire("c"), "total");
  limiter.release("a");
  assert.equal(limiter.acquire("c"), "ok");
  limiter.release("never-acquired");
  assert.equal(limiter.total, 3);
});

Deno.test("RateLimiter allows a burst, then the sustained rate, and says how long to wait", () => {
  let now = 0;
  const limiter = new RateLimiter(2, 3, () => now);
  assert.deepEqual([1, 2, 3, 4].map(() => limiter.take("k")), [0, 0, 0, 1]);
  assert.equal(limiter.take("other"), 0);
  now += 500;
  assert.equal(limiter.take("k"), 0);
  assert.equal(limiter.take("k"), 1);
  now += 10_000;
  assert.deepEqual([1, 2, 3, 4].map(() => limiter.take("k")), [0, 0, 0, 1]);
});

Deno.test("RateLimiter rounds Retry-After up to whole seconds at low rates", () => {
  const limiter = new RateLimiter(0.1, 1, () => 0);
  assert.equal(limiter.take("k"), 0);
  assert.equal(limiter.take("k"), 10);
});
