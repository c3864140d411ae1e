// The reference: Perspective's own Node WebSocketServer (the package pinned
// in package.json), hosting the benchmark table on the module's global
// server exactly as its documentation shows.
import readline from "node:readline";
import perspective from "@finos/perspective";
import { bigColumns, initialRows, SCHEMA, serveControl } from "../fanout/driver.mjs";

// The server logs each connection to stdout; stdout carries the control protocol.
console.log = () => {};
const port = Number(process.argv[2]);
const server = new perspective.WebSocketServer({ port });
const table = await perspective.table(SCHEMA, { name: "bench", index: "id" });
await table.update(initialRows());
if (process.argv[3] === "heavy") await perspective.table(bigColumns(), { name: "big" });
const write = (line) => process.stdout.write(line + "\n");
write(JSON.stringify({ ready: true, port, pid: process.pid }));
const rl = readline.createInterface({ input: process.stdin });
await serveControl(table, () => rl, write);
await server.close();
process.exit(0);
