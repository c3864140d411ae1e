/**
 * Measures what a new user sees: the time from `deno task start` to the first
 * rows on the viewer page, and the bytes the page transfers, compressed on the
 * wire versus raw.
 *
 * Run: `deno task bench:page`
 *
 * @module
 */

import { withBrowser } from "../tests/support/browser.ts";

const port = 20000 + Math.floor(Math.random() * 20000);
const started = performance.now();
const child = new Deno.Command("deno", {
  args: ["task", "start"],
  env: {
    PORT: String(port),
    LOG_LEVEL: "warn",
    DATA_DIR: Deno.makeTempDirSync({ prefix: "bench-page-" }),
  },
  stdout: "piped",
  stderr: "inherit",
}).spawn();

async function waitForOutput(stream: ReadableStream<Uint8Array>, needle: string): Promise<void> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    text += decoder.decode(chunk);
    if (text.includes(needle)) return;
  }
  throw new Error("service exited before it was ready");
}

try {
  await waitForOutput(child.stdout, "ready: open");
  const listening = performance.now() - started;
  await withBrowser(async (browser) => {
    const page = await browser.newPage();
    const client = await page.context().newCDPSession(page);
    await client.send("Network.enable");
    let wire = 0;
    let raw = 0;
    client.on("Network.loadingFinished", (e) => wire += e.encodedDataLength);
    client.on("Network.dataReceived", (e) => raw += e.dataLength);
    const opened = performance.now();
    await page.goto(`http://127.0.0.1:${port}/view/demo`);
    await page.locator("perspective-viewer-datagrid regular-table tbody td").first().waitFor({
      timeout: 60_000,
    });
    const firstRows = performance.now();
    await page.waitForLoadState("networkidle");
    const rows = [
      ["start to listening", `${listening.toFixed(0)} ms`],
      ["page open to first rows", `${(firstRows - opened).toFixed(0)} ms`],
      ["start to first rows", `${(firstRows - started).toFixed(0)} ms`],
      ["bytes on the wire", `${(wire / 1024).toFixed(0)} KiB`],
      ["bytes decoded", `${(raw / 1024).toFixed(0)} KiB`],
      ["wire / decoded", (wire / raw).toFixed(2)],
    ];
    for (const [k, v] of rows) console.log(`${k.padEnd(26)} ${v}`);
  });
} finally {
  child.kill("SIGTERM");
  await child.status;
}
