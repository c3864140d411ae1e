/**
 * Dashboards and tables' default layouts kept as saved settings of the
 * batch log, so they are as durable as the tables: in memory only, in the
 * write-ahead log, or on the Redis stream, whichever the service runs.
 *
 * @module
 */

import type { DashboardStore, LayoutStore } from "./dashboards.ts";

/** The saved-settings side of the batch log; the ingest sink provides it. */
export interface SettingsLog {
  /** Saves (or, with null, deletes) a setting through the log. */
  setMeta(key: string, value: unknown): Promise<void>;
  /** A saved setting, or undefined. */
  meta(key: string): unknown;
  /** Keys of saved settings starting with `prefix`, sorted. */
  metaKeys(prefix: string): string[];
}

/** Settings under one key prefix, as JSON values that callers cannot change in place. */
class Settings {
  constructor(readonly log: SettingsLog, readonly prefix: string) {}

  names(): string[] {
    return this.log.metaKeys(this.prefix).map((k) => k.slice(this.prefix.length));
  }

  get(name: string): unknown | undefined {
    const value = this.log.meta(this.prefix + name);
    return value === undefined ? undefined : structuredClone(value);
  }

  async put(name: string, value: unknown): Promise<void> {
    // The same value again (a config file's layout at each start) adds no record.
    const old = this.log.meta(this.prefix + name);
    if (old !== undefined && JSON.stringify(old) === JSON.stringify(value)) return;
    await this.log.setMeta(this.prefix + name, JSON.parse(JSON.stringify(value)));
  }

  async delete(name: string): Promise<boolean> {
    if (this.log.meta(this.prefix + name) === undefined) return false;
    await this.log.setMeta(this.prefix + name, null);
    return true;
  }
}

/** A {@linkcode DashboardStore} on the batch log's settings (`dashboard:<name>`). */
export class LogDashboardStore implements DashboardStore {
  readonly #settings: Settings;

  /** @param log Where settings are saved. */
  constructor(log: SettingsLog) {
    this.#settings = new Settings(log, "dashboard:");
  }

  /** Dashboard names, sorted. */
  list(): Promise<string[]> {
    return Promise.resolve(this.#settings.names());
  }

  /** One dashboard's layout, or undefined. */
  get(name: string): Promise<unknown | undefined> {
    return Promise.resolve(this.#settings.get(name));
  }

  /** Creates or replaces a dashboard once the log has it. */
  put(name: string, layout: unknown): Promise<void> {
    return this.#settings.put(name, layout);
  }

  /** Deletes a dashboard once the log has it; false when there was none. */
  delete(name: string): Promise<boolean> {
    return this.#settings.delete(name);
  }
}

/** A {@linkcode LayoutStore} on the batch log's settings (`layout:<table>`). */
export class LogLayoutStore implements LayoutStore {
  readonly #settings: Settings;

  /** @param log Where settings are saved. */
  constructor(log: SettingsLog) {
    this.#settings = new Settings(log, "layout:");
  }

  /** The table's default layout, or undefined. */
  get(table: string): Promise<unknown | undefined> {
    return Promise.resolve(this.#settings.get(table));
  }

  /** Sets the table's default layout once the log has it. */
  put(table: string, layout: unknown): Promise<void> {
    return this.#settings.put(table, layout);
  }

  /** Removes the table's default layout once the log has it; false when there was none. */
  delete(table: string): Promise<boolean> {
    return this.#settings.delete(table);
  }
}
