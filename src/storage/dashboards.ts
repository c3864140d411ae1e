/**
 * Where dashboard layouts and tables' default viewer layouts are kept. The
 * HTTP routes only see these interfaces, so a durable store (the batch log)
 * can replace the in-memory one without touching them.
 *
 * @module
 */

/** Saved dashboards: a name and its `<perspective-workspace>` layout JSON. */
export interface DashboardStore {
  /** Dashboard names, sorted. */
  list(): Promise<string[]>;
  /** One dashboard's layout, or undefined when none has that name. */
  get(name: string): Promise<unknown | undefined>;
  /** Creates or replaces a dashboard. The layout is already validated. */
  put(name: string, layout: unknown): Promise<void>;
  /** Deletes a dashboard; false when there was none. */
  delete(name: string): Promise<boolean>;
}

/** Tables' default viewer layouts, by table name. */
export interface LayoutStore {
  /** The table's default layout, or undefined. */
  get(table: string): Promise<unknown | undefined>;
  /** Sets the table's default layout. The layout is already validated. */
  put(table: string, layout: unknown): Promise<void>;
  /** Removes the table's default layout; false when there was none. */
  delete(table: string): Promise<boolean>;
}

/**
 * Keeps values as JSON text, so a caller cannot change a stored layout by
 * mutating the object it put or got.
 */
class JsonMap {
  readonly #items = new Map<string, string>();

  keys(): string[] {
    return [...this.#items.keys()].sort();
  }

  get(key: string): unknown | undefined {
    const text = this.#items.get(key);
    return text === undefined ? undefined : JSON.parse(text);
  }

  put(key: string, value: unknown): void {
    this.#items.set(key, JSON.stringify(value));
  }

  delete(key: string): boolean {
    return this.#items.delete(key);
  }
}

/** A {@linkcode DashboardStore} that lives as long as the process. */
export class MemoryDashboardStore implements DashboardStore {
  readonly #items = new JsonMap();

  /** Dashboard names, sorted. */
  list(): Promise<string[]> {
    return Promise.resolve(this.#items.keys());
  }

  /** One dashboard's layout, or undefined. */
  get(name: string): Promise<unknown | undefined> {
    return Promise.resolve(this.#items.get(name));
  }

  /** Creates or replaces a dashboard. */
  put(name: string, layout: unknown): Promise<void> {
    this.#items.put(name, layout);
    return Promise.resolve();
  }

  /** Deletes a dashboard; false when there was none. */
  delete(name: string): Promise<boolean> {
    return Promise.resolve(this.#items.delete(name));
  }
}

/** A {@linkcode LayoutStore} that lives as long as the process. */
export class MemoryLayoutStore implements LayoutStore {
  readonly #items = new JsonMap();

  /** The table's default layout, or undefined. */
  get(table: string): Promise<unknown | undefined> {
    return Promise.resolve(this.#items.get(table));
  }

  /** Sets the table's default layout. */
  put(table: string, layout: unknown): Promise<void> {
    this.#items.put(table, layout);
    return Promise.resolve();
  }

  /** Removes the table's default layout; false when there was none. */
  delete(table: string): Promise<boolean> {
    return Promise.resolve(this.#items.delete(table));
  }
}
