/**
 * Ingest load for the deploy tests: `WRITERS` loops post NDJSON batches of
 * orders until a batch is refused or its connection fails, or `SECONDS`
 * pass. Prints `{"event":"ack","acked":n}` after each acknowledged batch,
 * then a summary `{"acked", "refused", "failed", "rows"}`.
 *
 * Usage: deno run --allow-net load_client.ts URL TOKEN SECONDS ROWS_PER_BATCH WRITERS
 *
 * @module
 */

const [url, token, seconds = "30", perBatch = "5000", writers = "3"] = Deno.args;
const rows = Number(perBatch);
const deadline = Date.now() + Number(seconds) * 1000;
let acked = 0, refused = 0, failed = 0, applied = 0, nextId = 0;

async function writer(): Promise<void> {
  while (Date.now() < deadline) {
    const lines = [];
    for (let i = 0; i < rows; i++) {
      const id = nextId++;
      lines.push(JSON.stringify({
        id,
        symbol: "ABC",
        side: id % 2 ? "buy" : "sell",
        qty: 100,
        price: 10 + (id % 100) / 10,
        time: Date.now(),
      }));
    }
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson", authorization: `Bearer ${token}` },
        body: lines.join("\n"),
      });
      const body = await res.text();
      if (res.status === 200 || res.status === 201) {
        acked++;
        applied += JSON.parse(body).rows;
        console.log(JSON.stringify({ event: "ack", acked }));
      } else {
        refused++;
        console.log(JSON.stringify({ event: "refused", status: res.status }));
        return;
      }
    } catch {
      failed++;
      return;
    }
  }
}

await Promise.all(Array.from({ length: Number(writers) }, writer));
console.log(JSON.stringify({ acked, refused, failed, rows: applied }));
