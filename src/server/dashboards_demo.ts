/**
 * The demo's layouts: the table's default view shows movement (newest rows
 * first), and the `demo` dashboard reproduces the page this project grew
 * from: that grid beside a line chart of price over time, one line per symbol.
 *
 * @module
 */

import type { DashboardStore, LayoutStore } from "../storage/dashboards.ts";

/** The demo table's default viewer layout: every column, newest rows first. */
export const DEMO_LAYOUT = {
  plugin: "Datagrid",
  columns: ["time", "symbol", "exchange", "side", "price", "change", "volume"],
  sort: [["time", "desc"]],
};

/** The `demo` dashboard: the newest-first grid and a Y Line chart of price per symbol. */
export function demoDashboard(table = "demo"): Record<string, unknown> {
  return {
    sizes: [1],
    detail: {
      main: {
        type: "split-area",
        orientation: "horizontal",
        children: [
          { type: "tab-area", widgets: ["trades"], currentIndex: 0 },
          { type: "tab-area", widgets: ["prices"], currentIndex: 0 },
        ],
        sizes: [0.5, 0.5],
      },
    },
    viewers: {
      trades: { ...DEMO_LAYOUT, table, title: "Trades, newest first" },
      prices: {
        table,
        title: "Price by symbol",
        plugin: "Y Line",
        // One point per symbol per second keeps the chart light as the table grows.
        expressions: { second: `bucket("time", 's')` },
        group_by: ["second"],
        split_by: ["symbol"],
        columns: ["price"],
        aggregates: { price: "last" },
      },
    },
  };
}

/** Stores the demo's default layout and dashboard. */
export async function seedDemo(
  dashboards: DashboardStore,
  layouts: LayoutStore,
  table = "demo",
): Promise<void> {
  // What a durable store already holds was saved by a user; keep it.
  if (await layouts.get(table) === undefined) await layouts.put(table, DEMO_LAYOUT);
  if (await dashboards.get("demo") === undefined) {
    await dashboards.put("demo", demoDashboard(table));
  }
}
