/**
 * Metrics of bulk reads' pacing (see `engine/bulk_pacer.ts`): how many
 * windows exports and large reads took, and how long they rested to leave
 * the engine to other work.
 *
 * @module
 */

import type { Registry } from "./metrics.ts";

/** What the bulk metrics read; the engine host's pacer provides it. */
export interface PacerSource {
  /** Windows read, windows followed by a rest, and the rest in ms. */
  readonly stats: { windows: number; rested: number; restMs: number };
}

/** Registers the bulk-read metrics on `r`, read at each scrape. */
export function watchPacer(r: Registry, pacer: PacerSource): void {
  const windows = r.counter({
    name: "perspective_bulk_windows_total",
    help: "Windows read by exports and large to_arrow reads, by whether a rest followed.",
    labelNames: ["rested"],
  });
  const rest = r.counter({
    name: "perspective_bulk_rest_seconds_total",
    help: "Time bulk reads rested between windows while other engine work was active.",
  });
  r.collect(() => {
    const s = pacer.stats;
    const rested = { rested: "true" };
    const unrested = { rested: "false" };
    windows.inc(rested, s.rested - windows.get(rested));
    windows.inc(unrested, s.windows - s.rested - windows.get(unrested));
    rest.inc(undefined, s.restMs / 1000 - rest.get());
  });
}
