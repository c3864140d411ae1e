/**
 * The file system as the storage layer uses it: a narrow seam, so tests can
 * inject a failing write or a full disk without filling a real one.
 *
 * @module
 */

/** An open file the log appends to. */
export interface LogFile {
  /** Writes some of `bytes` at the current position; returns how many. */
  write(bytes: Uint8Array): Promise<number>;
  /** Flushes the file's data to the device (`fdatasync`). */
  syncData(): Promise<void>;
  /** Cuts the file to `length` bytes. */
  truncate(length: number): Promise<void>;
  /** Moves the position to `offset` from the start. */
  seek(offset: number): Promise<number>;
  /** Closes it. */
  close(): void;
}

/** The file operations storage needs. */
export interface StorageFs {
  /** Opens a file. */
  open(path: string, options: Deno.OpenOptions): Promise<LogFile>;
  /** Reads a whole file. */
  readFile(path: string): Promise<Uint8Array>;
  /** Writes a whole new file and syncs it; an existing file is replaced. */
  writeFileSynced(path: string, bytes: Uint8Array): Promise<void>;
  /** Renames a file. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file. */
  remove(path: string): Promise<void>;
  /** Names of a directory's entries. */
  list(dir: string): Promise<string[]>;
  /** Creates a directory and its parents. */
  mkdir(dir: string): Promise<void>;
  /** Syncs a directory, so a rename or a new file in it survives a crash. */
  syncDir(dir: string): Promise<void>;
}

/** The real file system, through Deno's API. */
export const realFs: StorageFs = {
  async open(path, options) {
    const file = await Deno.open(path, options);
    return {
      write: (bytes) => file.write(bytes),
      syncData: () => file.syncData(),
      truncate: (length) => file.truncate(length),
      seek: (offset) => file.seek(offset, Deno.SeekMode.Start),
      close: () => file.close(),
    };
  },
  readFile: (path) => Deno.readFile(path),
  async writeFileSynced(path, bytes) {
    using file = await Deno.open(path, { write: true, create: true, truncate: true });
    let done = 0;
    while (done < bytes.byteLength) done += await file.write(bytes.subarray(done));
    await file.sync();
  },
  rename: (from, to) => Deno.rename(from, to),
  remove: (path) => Deno.remove(path),
  async list(dir) {
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    return names;
  },
  mkdir: (dir) => Deno.mkdir(dir, { recursive: true }),
  async syncDir(dir) {
    using file = await Deno.open(dir, { read: true });
    await file.sync();
  },
};

/** Whether an error says the device is full. */
export function isDiskFull(err: unknown): boolean {
  return /ENOSPC|No space left|os error 28|disk quota|os error 122/i.test(String(err));
}
