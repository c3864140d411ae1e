/**
 * The embedded demo: a table that streams from start-up so a new user sees
 * live data at once.
 *
 * @module
 */

import type { EngineHost } from "./host.ts";
import type { Schema } from "./perspective.ts";

/** Options for {@linkcode startDemo}. */
export interface DemoOptions {
  /** Table name. @default "demo" */
  table?: string;
  /** Updates per second. @default 10 */
  rate?: number;
  /** Rows kept before the oldest roll over. @default 100000 */
  limit?: number;
  /** Stops the stream when aborted. */
  signal?: AbortSignal;
  /** Seed for the random walk, so tests can reproduce it. @default Date.now() */
  seed?: number;
}

/** The demo table's columns. */
export const DEMO_SCHEMA: Schema = {
  time: "datetime",
  symbol: "string",
  exchange: "string",
  side: "string",
  price: "float",
  change: "float",
  volume: "integer",
};

const SYMBOLS = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "IBM", "ORCL", "INTC"];
const EXCHANGES = ["NYSE", "NASDAQ", "ARCA", "BATS"];

/** A small deterministic PRNG (mulberry32), so a seed reproduces a stream. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Produces one batch of demo rows per call: one row per symbol, prices walking randomly. */
export function demoBatches(seed: number): () => Record<string, unknown>[] {
  const rand = mulberry32(seed);
  const prices = SYMBOLS.map(() => 50 + rand() * 450);
  return () => {
    const now = Date.now();
    return SYMBOLS.map((symbol, i) => {
      const change = (rand() - 0.5) * prices[i] * 0.004;
      prices[i] = Math.max(1, prices[i] + change);
      return {
        time: now,
        symbol,
        exchange: EXCHANGES[Math.floor(rand() * EXCHANGES.length)],
        side: rand() < 0.5 ? "buy" : "sell",
        price: Math.round(prices[i] * 100) / 100,
        change: Math.round(change * 1000) / 1000,
        volume: 100 * (1 + Math.floor(rand() * 50)),
      };
    });
  };
}

/**
 * Creates the demo table and streams batches into it until the signal aborts.
 * Resolves once the table exists and holds its first batch.
 */
export async function startDemo(host: EngineHost, options: DemoOptions = {}): Promise<void> {
  const name = options.table ?? "demo";
  const rate = options.rate ?? 10;
  const next = demoBatches(options.seed ?? Date.now());
  const table = (await host.table(name)) ??
    await host.createTable(name, DEMO_SCHEMA, { limit: options.limit ?? 100_000 });
  await table.update(next());
  let busy = false;
  const timer = setInterval(() => {
    // A slow engine skips ticks instead of queueing them without bound.
    if (busy) return;
    busy = true;
    table.update(next()).catch(() => clearInterval(timer)).finally(() => busy = false);
  }, 1000 / rate);
  options.signal?.addEventListener("abort", () => clearInterval(timer), { once: true });
}
