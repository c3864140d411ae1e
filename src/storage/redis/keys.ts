/**
 * The Redis keys one service's log uses, all under one prefix so several
 * services can share a Redis database.
 *
 * @module
 */

/** Key names for a prefix. */
export interface LogKeys {
  /** The stream of records. */
  stream: string;
  /** The log generation; a new value means the stream was reset. */
  epoch: string;
  /** The last entry number handed out; entries carry consecutive numbers. */
  seq: string;
  /** Snapshot names, newest first. */
  snapshots: string;
  /** Held by the replica taking a snapshot. */
  lock: string;
  /** A snapshot's manifest. */
  snapshot(name: string): string;
  /** One chunk of one table of a snapshot. */
  chunk(name: string, table: number, chunk: number): string;
}

/** The keys under `prefix` (default `perspective`). */
export function logKeys(prefix = "perspective"): LogKeys {
  return {
    stream: `${prefix}:log`,
    epoch: `${prefix}:epoch`,
    seq: `${prefix}:seq`,
    snapshots: `${prefix}:snapshots`,
    lock: `${prefix}:snapshot-lock`,
    snapshot: (name) => `${prefix}:snap:${name}`,
    chunk: (name, table, chunk) => `${prefix}:snap:${name}:${table}:${chunk}`,
  };
}

/**
 * Appends a record if the log is still of generation ARGV[1]: numbers it
 * (INCR) and adds it to the stream in one step, so entry numbers follow
 * stream order without gaps. KEYS: epoch, seq, stream. ARGV: epoch, nonce,
 * record body.
 */
export const APPEND_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('EPOCH the log was reset')
end
local n = redis.call('INCR', KEYS[2])
return redis.call('XADD', KEYS[3], '*', 's', n, 'n', ARGV[2], 'r', ARGV[3])
`;

/** Deletes KEYS[1] when it still holds ARGV[1]: releases a lock this replica holds. */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
