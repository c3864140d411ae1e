/**
 * Errors that stop start-up on a data directory.
 *
 * @module
 */

/** Start-up cannot use the data directory; the message says what to do. */
export class DataDirError extends Error {
  /** @param detail What is wrong and what to do. */
  constructor(detail: string) {
    super(detail);
    this.name = "DataDirError";
  }
}
