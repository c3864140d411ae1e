/**
 * Dictionary-encoded string columns as the engine reads them: within one
 * body, a column's dictionaries form one growing list of distinct values.
 * Deltas, and replacements that repeat the dictionary so far before adding
 * to it, come out right; a replacement with other values, a repeated value
 * or a null value would be stored wrongly, so they are refused.
 *
 * @module
 */

import type { Vector } from "apache-arrow";
import { IngestError } from "./batch.ts";

/**
 * Follows one dictionary-encoded string column over the record batches:
 * each batch's dictionary must hold the previous batch's values, in order,
 * before any new ones, and values must be distinct and not null.
 */
export class DictionaryValues {
  readonly #values: string[] = [];
  readonly #seen = new Set<string>();
  #last?: Vector;

  constructor(readonly name: string, readonly id: number) {}

  /**
   * Checks one batch's column.
   *
   * @throws {IngestError} 422 when the engine would read it wrongly.
   */
  check(column: Vector): void {
    const dictionary = (column.data[0] as { dictionary?: Vector } | undefined)?.dictionary;
    if (!dictionary || dictionary === this.#last) return;
    const known = this.#values.length;
    if (!this.#extends(dictionary)) {
      throw new IngestError(
        422,
        `column ${JSON.stringify(this.name)}: Arrow dictionary replacement (dictionary id ` +
          `${this.id} sent again with other values) is not supported; ` +
          "send one dictionary per column, deltas, or plain Utf8",
      );
    }
    for (let i = known; i < dictionary.length; i++) {
      const value = dictionary.get(i) as string | null;
      if (value === null) {
        throw new IngestError(
          422,
          `column ${JSON.stringify(this.name)}: the Arrow dictionary holds a null value, ` +
            'which the engine stores as ""; mark nulls in the indices instead',
        );
      }
      if (this.#seen.has(value)) {
        throw new IngestError(
          422,
          `column ${JSON.stringify(this.name)}: the Arrow dictionary holds ` +
            `${JSON.stringify(value)} twice, which shifts the values after it in the engine; ` +
            "send distinct dictionary values",
        );
      }
      this.#seen.add(value);
      this.#values.push(value);
    }
    this.#last = dictionary;
  }

  /** Whether `dictionary` starts with the values seen so far. */
  #extends(dictionary: Vector): boolean {
    if (dictionary.length < this.#values.length) return false;
    const last = this.#last;
    // The JS reader appends a delta's chunk to the previous chunks, so
    // shared chunks prove the prefix without comparing it.
    if (last && last.data.every((chunk, i) => dictionary.data[i] === chunk)) return true;
    for (let i = 0; i < this.#values.length; i++) {
      if (dictionary.get(i) !== this.#values[i]) return false;
    }
    return true;
  }
}
