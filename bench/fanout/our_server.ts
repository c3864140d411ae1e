/**
 * The benchmark's "ours" server: this service started with `startService`
 * (no demo), hosting the benchmark table and driving updates in-process
 * through the same driver as the reference. Control: JSON lines on stdin.
 *
 * Usage: deno run -A bench/fanout/our_server.ts <port> [maxUpdateRate] [maxBufferedBytes] [heavy]
 *
 * @module
 */

import { startService } from "../../src/service.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { securityConfig } from "../../src/security/mod.ts";
import { bigColumns, initialRows, SCHEMA, serveControl } from "./driver.mjs";
import type { Schema } from "../../src/engine/perspective.ts";
import { readLines } from "./proc.ts";

const [port, rate, bound] = Deno.args.map(Number);
const heavy = Deno.args[3] === "heavy";
const service = await startService({
  demo: false,
  port,
  log: silentLogger,
  maxUpdateRate: rate || undefined,
  engineWorker: Deno.env.get("ENGINE_WORKER") !== "0",
  // The benchmark connects thousands of viewers from one address.
  security: securityConfig({
    limits: { maxConnections: 100_000, maxConnectionsPerAddress: 100_000 } as never,
  }),
  handler: { websocket: { outbound: bound ? { maxBufferedBytes: bound } : undefined } },
});
const table = await service.host.createTable("bench", SCHEMA as Schema, { index: "id" });
await table.update(initialRows());
if (heavy) await service.host.createTable("big", bigColumns());
await service.host.flush();
const encoder = new TextEncoder();
const write = (line: string) => Deno.stdout.writeSync(encoder.encode(line + "\n"));
write(JSON.stringify({ ready: true, port: service.addr.port, pid: Deno.pid }));
await serveControl(table, () => readLines(Deno.stdin.readable), write);
await service.close();
Deno.exit(0);
