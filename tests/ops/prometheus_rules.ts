/**
 * A strict checker for the Prometheus text exposition format (0.0.4), used
 * next to a real parser: the parser is lenient, this enforces the rules a
 * scraper relies on.
 *
 * @module
 */

import parse from "parse-prometheus-text-format";

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const VALUE = "(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|NaN|[+-]Inf)";
const SAMPLE = new RegExp(`^(${NAME})(\\{(?:${LABEL}(?:,${LABEL})*)?\\})? (${VALUE})(?: -?\\d+)?$`);
const HELP = new RegExp(`^# HELP (${NAME}) (?:[^\\\\\\n]|\\\\[\\\\n])*$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

/** One parsed family, as the npm parser returns it. */
export interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}

/**
 * Checks every rule below and returns the parsed families.
 *
 * - each line is a HELP, a TYPE or a sample with a valid name, labels and value;
 * - the text ends with a line feed;
 * - HELP and TYPE appear at most once per family, before its samples;
 * - a family's samples are contiguous, and no series repeats;
 * - counters are not negative; histogram buckets are cumulative, end with
 *   `+Inf`, and `+Inf` equals `_count`.
 *
 * @throws {Error} naming the line that breaks a rule.
 */
export function checkExposition(text: string): ParsedFamily[] {
  if (!text.endsWith("\n")) throw new Error("exposition must end with a line feed");
  const typeOf = new Map<string, string>();
  const helped = new Set<string>();
  const closed = new Set<string>();
  const series = new Set<string>();
  const lastBound = new Map<string, number>();
  const infOf = new Map<string, number>();
  const countOf = new Map<string, number>();
  let current = "";
  const familyOf = (name: string) => {
    for (const suffix of ["_bucket", "_sum", "_count"]) {
      const base = name.slice(0, -suffix.length);
      if (name.endsWith(suffix) && typeOf.get(base) === "histogram") return base;
    }
    return name;
  };
  const enter = (family: string, line: string) => {
    if (family !== current) {
      if (closed.has(family)) throw new Error(`family ${family} is not contiguous: ${line}`);
      if (current) closed.add(current);
      current = family;
    }
  };
  for (const line of text.slice(0, -1).split("\n")) {
    let m;
    if ((m = HELP.exec(line))) {
      if (helped.has(m[1])) throw new Error(`second HELP: ${line}`);
      helped.add(m[1]);
      enter(m[1], line);
    } else if ((m = TYPE.exec(line))) {
      if (typeOf.has(m[1])) throw new Error(`second TYPE: ${line}`);
      if (series.has(`family:${m[1]}`)) throw new Error(`TYPE after samples: ${line}`);
      typeOf.set(m[1], m[2]);
      enter(m[1], line);
    } else if ((m = SAMPLE.exec(line))) {
      const family = familyOf(m[1]);
      enter(family, line);
      series.add(`family:${family}`);
      const key = `${m[1]}${m[2] ?? ""}`;
      if (series.has(key)) throw new Error(`duplicate series: ${line}`);
      series.add(key);
      if (m[1] === `${family}_bucket`) {
        const le = /(?:^|[{,])le="([^"]*)"/.exec(m[2] ?? "")?.[1];
        if (le === undefined) throw new Error(`bucket without le: ${line}`);
        const bound = le === "+Inf" ? Infinity : Number(le);
        const others = (m[2] ?? "{}").slice(1, -1).split(/,(?=[a-zA-Z_][a-zA-Z0-9_]*=")/)
          .filter((p) => p !== "" && !p.startsWith('le="'));
        const rest = others.length > 0 ? `{${others.join(",")}}` : "";
        const prev = lastBound.get(`${family}${rest}`);
        if (prev !== undefined && !(bound > prev)) throw new Error(`bounds not ascending: ${line}`);
        lastBound.set(`${family}${rest}`, bound);
        if (bound === Infinity) infOf.set(`${family}${rest}`, Number(m[3]));
      }
      if (m[1] === `${family}_count` && family !== m[1]) {
        countOf.set(`${family}${m[2] ?? ""}`, Number(m[3]));
      }
      if (typeOf.get(family) === "counter" && Number(m[3]) < 0) {
        throw new Error(`negative counter: ${line}`);
      }
    } else {
      throw new Error(`not a valid exposition line: ${JSON.stringify(line)}`);
    }
  }
  const families = parse(text) as ParsedFamily[];
  for (const f of families.filter((f) => f.type === "HISTOGRAM")) {
    for (const s of f.metrics) {
      // Object key order puts integer-like bounds first, so order by bound here;
      // the line pass above checked the order in the text.
      const entries = Object.entries(s.buckets ?? {})
        .map(([le, v]) => [le === "+Inf" ? Infinity : Number(le), Number(v)])
        .sort((a, b) => a[0] - b[0]);
      if (entries.at(-1)?.[0] !== Infinity) throw new Error(`${f.name}: no +Inf bucket`);
      for (let i = 1; i < entries.length; i++) {
        if (entries[i][1] < entries[i - 1][1]) {
          throw new Error(`${f.name}: buckets not cumulative`);
        }
      }
    }
  }
  for (const [key, count] of countOf) {
    if (infOf.get(key) !== count) throw new Error(`+Inf bucket differs from _count: ${key}`);
  }
  for (const key of infOf.keys()) {
    if (!countOf.has(key)) throw new Error(`histogram without _count: ${key}`);
  }
  return families;
}

/** The value of one sample of a parsed family, found by its labels; undefined when absent. */
export function sampleValue(
  families: ParsedFamily[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const family = families.find((f) => f.name === name);
  const want = JSON.stringify(Object.entries(labels).sort());
  const hit = family?.metrics.find((m) =>
    JSON.stringify(Object.entries(m.labels ?? {}).sort()) === want
  );
  if (!hit) return undefined;
  return Number(hit.value ?? hit.count);
}
