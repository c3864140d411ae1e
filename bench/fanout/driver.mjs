// The update driver both benchmark servers run in-process, so ours and the
// reference host the same table and receive the same updates the same way.
// Plain JavaScript: Node runs it for the reference, Deno for ours.

/** The benchmark table's schema; `seq` and `sent` let viewers time delivery. */
export const SCHEMA = {
  id: "integer",
  seq: "integer",
  sent: "float",
  symbol: "string",
  price: "float",
  size: "integer",
};

/** Rows the table holds; updates upsert into this id range. */
export const TABLE_ROWS = 1000;

/** A wall clock with sub-millisecond resolution, comparable across processes. */
export function now() {
  return performance.timeOrigin + performance.now();
}

const SYMBOLS = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "IBM"];

function rows(seq, count, sent) {
  const out = new Array(count);
  for (let j = 0; j < count; j++) {
    const id = (seq * count + j) % TABLE_ROWS;
    out[j] = {
      id,
      seq,
      sent,
      symbol: SYMBOLS[id % SYMBOLS.length],
      price: 100 + ((seq * 7 + j) % 1000) / 10,
      size: (seq + j) % 500,
    };
  }
  return out;
}

/** Rows of the `big` table a heavy client exports over and over. */
export const BIG_ROWS = 200_000;

/** The `big` table's contents, as columns. */
export function bigColumns() {
  const id = new Array(BIG_ROWS);
  const symbol = new Array(BIG_ROWS);
  const price = new Array(BIG_ROWS);
  for (let i = 0; i < BIG_ROWS; i++) {
    id[i] = i;
    symbol[i] = SYMBOLS[i % SYMBOLS.length];
    price[i] = (i % 10_000) / 7;
  }
  return { id, symbol, price };
}

/** The table's first contents (seq 0). */
export function initialRows() {
  return rows(0, TABLE_ROWS, now());
}

/**
 * Sends `rate` updates a second of `count` rows for `seconds`, starting at
 * seq 1, on a fixed schedule (a late tick does not shift later ones).
 * Resolves with `[seq, sentTime]` for each update.
 */
export async function drive(table, { rate, count, seconds }) {
  const sends = [];
  const total = Math.round(rate * seconds);
  const start = now();
  for (let k = 1; k <= total; k++) {
    const due = start + ((k - 1) * 1000) / rate;
    const wait = due - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const sent = now();
    await table.update(rows(k, count, sent));
    sends.push([k, sent]);
  }
  return sends;
}

/**
 * Serves the control protocol on stdin/stdout: one JSON command a line,
 * one JSON reply a line. `drive` runs the driver; `quit` exits.
 */
export function serveControl(table, readLines, write) {
  return (async () => {
    for await (const line of readLines()) {
      if (!line.trim()) continue;
      const cmd = JSON.parse(line);
      if (cmd.cmd === "drive") {
        const sends = await drive(table, cmd);
        write(JSON.stringify({ sends }));
      } else if (cmd.cmd === "quit") {
        return;
      }
    }
  })();
}
