/**
 * The views exports read through, one per table, kept for a while after the
 * last export of the table ends.
 *
 * Making a view of a large table is the heaviest step of an export and one
 * engine call that no window can split: a flat view of a 1M-row table takes
 * about 2 s and 280 MB of engine memory. Exports in a row (a dashboard's
 * refresh, a job polling a table) read through the one view instead, so
 * after the first they hold the engine only one window at a time. A flat
 * view never drifts from its table (see the README's known issues), so a
 * kept one reads what a fresh one would. A large table without index or
 * limit is read through views of row ranges instead (see `export_ranges.ts`).
 *
 * @module
 */

import type { EngineHost } from "./host.ts";
import { viewCost } from "./memory.ts";
import type { Table, View } from "./perspective.ts";

/** How long a table's export view outlives its last export. */
export const EXPORT_VIEW_IDLE_MS = 5_000;

/** A view lent to one export; {@linkcode ExportView.release} exactly once. */
export interface ExportView {
  /** The table's flat view. */
  view: View;
  /** Hands the view back; it is deleted once no export has used it for a while. */
  release(): void;
}

interface Entry {
  view: Promise<View>;
  users: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** Per host, the export views of its tables. */
const registries = new WeakMap<EngineHost, ExportViews>();

/** A host's export views. */
export class ExportViews {
  readonly #entries = new Map<string, Entry>();
  readonly #host: EngineHost;
  readonly #idleMs: number;

  private constructor(host: EngineHost, idleMs: number) {
    this.#host = host;
    this.#idleMs = idleMs;
    host.beforeDrop((table) => this.#delete(table));
    host.onClose(() => {
      for (const entry of this.#entries.values()) clearTimeout(entry.timer);
      this.#entries.clear();
    });
  }

  /** The export views of `host`, made with it on first use. */
  static of(host: EngineHost, idleMs = EXPORT_VIEW_IDLE_MS): ExportViews {
    let views = registries.get(host);
    if (!views) registries.set(host, views = new ExportViews(host, idleMs));
    return views;
  }

  /** Tables with an export view now, for tests and metrics. */
  get tables(): string[] {
    return [...this.#entries.keys()];
  }

  /**
   * Lends `name`'s export view, making it when there is none. Its engine
   * memory is admitted while it is made; once made the engine counts it.
   *
   * @throws {EngineMemoryError} 507 when a new view would pass the budget.
   * @throws the engine's error when it cannot make the view.
   */
  async acquire(name: string, table: Table, rows: number): Promise<ExportView> {
    let entry = this.#entries.get(name);
    if (!entry) {
      const made = (async () => {
        using _room = await this.#host.memory.admit(
          viewCost(rows),
          `a view for an export of ${rows} rows`,
          true,
        );
        return await table.view();
      })();
      entry = { view: made, users: 0 };
      this.#entries.set(name, entry);
      made.catch(() => {
        if (this.#entries.get(name) === entry) this.#entries.delete(name);
      });
    }
    const held = entry;
    held.users++;
    clearTimeout(held.timer);
    let view: View;
    try {
      view = await held.view;
    } catch (err) {
      held.users--;
      throw err;
    }
    let released = false;
    return {
      view,
      release: () => {
        if (released) return;
        released = true;
        if (--held.users > 0 || this.#entries.get(name) !== held) return;
        held.timer = setTimeout(() => void this.#delete(name, held), this.#idleMs);
        // A kept view never keeps the process alive.
        Deno.unrefTimer(held.timer as unknown as number);
      },
    };
  }

  /**
   * Forgets `table`'s export view (only `expected`, when given) and deletes
   * it when no export holds it. A view an export is reading is left to the
   * table's drop, which deletes every view on it by id: deleting the
   * client's handle under a read in flight would free it mid-call.
   */
  async #delete(table: string, expected?: Entry): Promise<void> {
    const entry = this.#entries.get(table);
    if (!entry || (expected && entry !== expected)) return;
    this.#entries.delete(table);
    clearTimeout(entry.timer);
    const view = await entry.view.catch(() => undefined);
    if (entry.users === 0) await view?.delete().catch(() => {});
  }
}
