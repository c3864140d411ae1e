/**
 * Structured logging: one JSON object per line on stdout, filtered by level.
 *
 * @module
 */

/** Log levels in increasing severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
};

/** Where log lines go; tests replace it to capture output. */
export type LogSink = (line: string) => void;

/** A logger bound to a minimum level and a sink. */
export interface Logger {
  /** Logs at `debug`. */
  debug(msg: string, fields?: Record<string, unknown>): void;
  /** Logs at `info`. */
  info(msg: string, fields?: Record<string, unknown>): void;
  /** Logs at `warn`. */
  warn(msg: string, fields?: Record<string, unknown>): void;
  /** Logs at `error`. */
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** True when `value` names a log level. */
export function isLogLevel(value: string): value is LogLevel {
  return value in RANK;
}

const encoder = new TextEncoder();

/** Writes a line to stdout synchronously so lines never interleave. */
export const stdoutSink: LogSink = (line) => {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
};

/**
 * Creates a logger that writes JSON lines `{time, level, msg, ...fields}`.
 *
 * @param level Minimum level written. @default "info"
 * @param sink Line consumer. @default stdoutSink
 */
export function createLogger(
  level: LogLevel = "info",
  sink: LogSink = stdoutSink,
): Logger {
  const min = RANK[level];
  const write = (
    lvl: LogLevel,
    msg: string,
    fields?: Record<string, unknown>,
  ) => {
    if (RANK[lvl] < min) return;
    const entry = {
      time: new Date().toISOString(),
      level: lvl,
      msg,
      ...fields,
    };
    sink(JSON.stringify(entry, replacer));
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
  };
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message };
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** A logger that drops everything, for tests that do not read logs. */
export const silentLogger: Logger = createLogger("error", () => {});
