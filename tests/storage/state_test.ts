import assert from "node:assert/strict";
import { withService } from "../support/service.ts";

Deno.test("saved settings set through the sink survive restarts, with and without a checkpoint", async () => {
  const dataDir = await Deno.makeTempDir();
  const options = { dataDir, demo: false };
  try {
    await withService(options, async (service) => {
      await service.sink.setMeta("dashboard:sales", { layout: { panels: 2 }, title: "Sales €" });
      await service.sink.setMeta("dashboard:ops", { layout: [] });
      await service.sink.setMeta("dashboard:old", { layout: [] });
      await service.sink.setMeta("dashboard:old", null);
      await service.sink.setMeta("layout:home", "grid");
    });
    await withService(options, async (service) => {
      assert.deepEqual(service.sink.metaKeys("dashboard:"), ["dashboard:ops", "dashboard:sales"]);
      assert.deepEqual(service.sink.meta("dashboard:sales"), {
        layout: { panels: 2 },
        title: "Sales €",
      });
      assert.equal(service.sink.meta("dashboard:old"), undefined);
      assert.equal(service.sink.meta("layout:home"), "grid");
      // Folded into checkpoints, the log behind them deleted.
      await service.storage!.checkpointer.checkpoint();
      await service.sink.setMeta("dashboard:ops", { layout: [1] });
      await service.storage!.checkpointer.checkpoint();
      await service.sink.setMeta("dashboard:sales", null);
      await service.storage!.checkpointer.checkpoint();
      await service.sink.setMeta("dashboard:late", true);
    });
    await withService(options, (service) => {
      assert.ok(service.storage!.recovery.checkpoint, "recovered from a checkpoint");
      assert.deepEqual(service.sink.metaKeys("dashboard:"), ["dashboard:late", "dashboard:ops"]);
      assert.deepEqual(service.sink.meta("dashboard:ops"), { layout: [1] });
      assert.equal(service.sink.meta("dashboard:late"), true);
      assert.equal(service.sink.meta("layout:home"), "grid");
      return Promise.resolve();
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
