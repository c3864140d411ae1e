/**
 * Adapts the engine host to what the WebSocket gate asks of it, so that
 * security never holds the host itself.
 *
 * @module
 */

import type { EngineHost } from "../engine/host.ts";
import type { GateHost } from "../security/mod.ts";

/** The gate's view of `host`: its tables for the session guard, its memory for the check. */
export function gateHost(host: EngineHost): GateHost {
  return {
    guard: {
      tableNames: () => host.tableNames(),
      dropTable: (name) => host.dropTable(name),
      async watchDelete(name, onDelete) {
        const table = await host.table(name);
        if (!table) return false;
        await table.on_delete(onDelete);
        return true;
      },
    },
    memory: {
      memory: host.memory,
      tableRows: async (name) => (await (await host.table(name))?.size().catch(() => 0)) ?? 0,
    },
  };
}
