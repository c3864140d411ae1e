import assert from "node:assert/strict";
import {
  cgroupMemoryLimit,
  chooseBudget,
  DEFAULT_ENGINE_MEMORY,
  EngineMemory,
  EngineMemoryError,
  engineUsedBytes,
  estimateBatchCost,
  memoryStats,
  readAllowance,
} from "../../src/engine/memory.ts";
import { EngineHost } from "../../src/engine/host.ts";

const MIB = 1024 ** 2;

Deno.test("engineUsedBytes() undoes the engine's signed 32-bit used_size", () => {
  assert.equal(engineUsedBytes(58680), 58680);
  // The value the issue saw: -1,504,878,616 read as unsigned 64-bit.
  const wrapped = 18446744072204673000;
  assert(Math.abs(engineUsedBytes(wrapped) - (2 ** 32 - 1504878616)) < 8192);
  assert.equal(engineUsedBytes(2n ** 64n - 1504878616n), 2 ** 32 - 1504878616);
  assert.equal(engineUsedBytes(-1504878616), 2 ** 32 - 1504878616);
  assert(Number.isNaN(engineUsedBytes("x")));
});

Deno.test("chooseBudget() takes the configured budget, else the default, lowered under a cgroup limit", () => {
  assert.deepEqual(chooseBudget(), { budget: DEFAULT_ENGINE_MEMORY, source: "default" });
  assert.deepEqual(chooseBudget(512 * MIB), { budget: 512 * MIB, source: "configured" });
  assert.deepEqual(chooseBudget(undefined, 1024 * MIB), { budget: 512 * MIB, source: "cgroup" });
  assert.deepEqual(chooseBudget(256 * MIB, 1024 * MIB), {
    budget: 256 * MIB,
    source: "configured",
  });
  assert.deepEqual(chooseBudget(undefined, 64 * 1024 * MIB), {
    budget: DEFAULT_ENGINE_MEMORY,
    source: "default",
  });
});

Deno.test("cgroupMemoryLimit() reads cgroup v2 and v1 files and treats 'max' and missing as no limit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const v2 = `${dir}/memory.max`;
    const v1 = `${dir}/memory.limit_in_bytes`;
    await Deno.writeTextFile(v2, "2147483648\n");
    assert.equal(cgroupMemoryLimit([v2, v1]), 2147483648);
    await Deno.writeTextFile(v2, "max\n");
    assert.equal(cgroupMemoryLimit([v2, v1]), undefined);
    await Deno.remove(v2);
    await Deno.writeTextFile(v1, "9223372036854771712\n");
    assert.equal(cgroupMemoryLimit([v2, v1]), undefined);
    await Deno.writeTextFile(v1, "1073741824\n");
    assert.equal(cgroupMemoryLimit([v2, v1]), 1073741824);
    assert.equal(cgroupMemoryLimit([`${dir}/none`]), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("estimateBatchCost() counts the payload and rows; clears and removes cost nothing", () => {
  const arrow = estimateBatchCost({ format: "arrow", op: "update", bytes: 16e6, rows: 5e5 });
  assert(arrow >= 3 * 16e6);
  assert.equal(estimateBatchCost({ format: "json", op: "clear", bytes: 0, rows: 0 }), 0);
  assert.equal(estimateBatchCost({ format: "json", op: "remove", bytes: 100, rows: 3 }), 0);
});

Deno.test("EngineMemory.admit() reserves until disposed and refuses past the budget with a 507", async () => {
  const host = await EngineHost.create();
  try {
    const memory = new EngineMemory(host.client, 0);
    const { used } = await memory.read();
    memory.budget = used + 10 * MIB;
    const refusals = memoryStats.refusals;
    {
      using first = await memory.admit(6 * MIB, "a batch");
      assert.equal(first.bytes, 6 * MIB);
      assert.equal(memory.reserved, 6 * MIB);
      // The reservation counts: a second batch of the same size does not fit.
      const err = await memory.admit(6 * MIB, "another batch").catch((e) => e);
      assert(err instanceof EngineMemoryError);
      assert.equal(err.status, 507);
      assert.equal(err.budget, memory.budget);
      assert.match(err.message, /another batch/);
      assert.equal(memoryStats.refusals, refusals + 1);
    }
    assert.equal(memory.reserved, 0);
    using _second = await memory.admit(6 * MIB, "another batch");
    // Reads may go past the budget by the read allowance, writes may not.
    memory.budget = used;
    await assert.rejects(memory.admit(MIB, "a table"), EngineMemoryError);
    using _read = await memory.admit(readAllowance(used) - 7 * MIB, "an export", true);
  } finally {
    host.close();
  }
});
