/**
 * A small Prometheus metrics registry: counters, gauges and histograms with
 * labels, rendered in the text exposition format (version 0.0.4).
 *
 * @module
 */

/** The `Content-Type` of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label names to values. Values are free text; the registry escapes them. */
export type Labels = Record<string, string>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Default histogram buckets, in seconds: 1 ms to 10 s. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** What every metric family declares. */
export interface MetricOptions {
  /** Metric name, e.g. `perspective_ingest_rows_total`. */
  name: string;
  /** One-line description shown as `# HELP`. */
  help: string;
  /** Label names every sample of this family carries. @default [] */
  labelNames?: readonly string[];
}

/** Options for a histogram. */
export interface HistogramOptions extends MetricOptions {
  /** Upper bounds, ascending; `+Inf` is added. @default DEFAULT_BUCKETS */
  buckets?: readonly number[];
}

/** What the registry needs from a metric family to render it. */
export interface Family {
  /** Metric name. */
  readonly name: string;
  /** `# HELP` text. */
  readonly help: string;
  /** `# TYPE`. */
  readonly type: "counter" | "gauge" | "histogram";
  /** Appends the family's sample lines to `out`. */
  render(out: string[]): void;
}

/** Formats a sample value the way Prometheus parsers expect. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function renderLabels(names: readonly string[], values: readonly string[], extra = ""): string {
  const parts = names.map((n, i) => `${n}="${escapeLabelValue(values[i])}"`);
  if (extra) parts.push(extra);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Series of one family, keyed by their label values in declaration order. */
export abstract class LabelledFamily<S> implements Family {
  /** The family's `# TYPE`. */
  abstract readonly type: "counter" | "gauge" | "histogram";
  /** Metric name. */
  readonly name: string;
  /** `# HELP` text. */
  readonly help: string;
  /** Label names, in the order samples carry them. */
  readonly labelNames: readonly string[];
  /** Each series' label values and state, by a key built from the values. */
  protected readonly series = new Map<string, { values: string[]; state: S }>();

  /**
   * Checks the names and creates a family with no series.
   *
   * @throws {Error} for a name or label name the format does not allow.
   */
  constructor(options: MetricOptions) {
    if (!METRIC_NAME.test(options.name)) throw new Error(`bad metric name ${options.name}`);
    for (const l of options.labelNames ?? []) {
      if (!LABEL_NAME.test(l) || l.startsWith("__")) throw new Error(`bad label name ${l}`);
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
  }

  /** A new series' state. */
  protected abstract initial(): S;

  #key(labels: Labels): { key: string; values: string[] } {
    const values = this.labelNames.map((n) => {
      const v = labels[n];
      if (v === undefined) throw new Error(`${this.name}: missing label ${n}`);
      return v;
    });
    if (Object.keys(labels).length !== this.labelNames.length) {
      throw new Error(`${this.name}: expected labels ${this.labelNames.join(", ")}`);
    }
    return { key: JSON.stringify(values), values };
  }

  /** The state of one series, or undefined when it was never touched; creates nothing. */
  protected peek(labels: Labels = {}): S | undefined {
    return this.series.get(this.#key(labels).key)?.state;
  }

  /** The state of one series, created on first use. */
  protected state(labels: Labels = {}): S {
    const { key, values } = this.#key(labels);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { values, state: this.initial() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  /** Drops every series, e.g. before a scrape-time refresh. */
  reset(): void {
    this.series.clear();
  }

  /** Appends the family's sample lines to `out`. */
  abstract render(out: string[]): void;
}

/** A value that only goes up. */
export class Counter extends LabelledFamily<{ v: number }> {
  /** {@inheritDoc LabelledFamily.type} */
  readonly type = "counter" as const;

  /** {@inheritDoc LabelledFamily.initial} */
  protected initial(): { v: number } {
    return { v: 0 };
  }

  /** Adds `amount` (default 1); negative amounts are refused. */
  inc(labels?: Labels, amount = 1): void {
    if (!(amount >= 0)) throw new Error(`${this.name}: counters cannot decrease`);
    this.state(labels).v += amount;
  }

  /** The current value of one series, 0 when it was never touched. */
  get(labels?: Labels): number {
    return this.peek(labels)?.v ?? 0;
  }

  /** {@inheritDoc LabelledFamily.render} */
  render(out: string[]): void {
    for (const { values, state } of this.series.values()) {
      out.push(`${this.name}${renderLabels(this.labelNames, values)} ${formatValue(state.v)}`);
    }
  }
}

/** A value that goes up and down. */
export class Gauge extends LabelledFamily<{ v: number }> {
  /** {@inheritDoc LabelledFamily.type} */
  readonly type = "gauge" as const;

  /** {@inheritDoc LabelledFamily.initial} */
  protected initial(): { v: number } {
    return { v: 0 };
  }

  /** Sets one series. */
  set(labels: Labels | undefined, value: number): void {
    this.state(labels).v = value;
  }

  /** Adds to one series; `amount` may be negative. */
  inc(labels?: Labels, amount = 1): void {
    this.state(labels).v += amount;
  }

  /** Subtracts from one series. */
  dec(labels?: Labels, amount = 1): void {
    this.state(labels).v -= amount;
  }

  /** The current value of one series, 0 when it was never set. */
  get(labels?: Labels): number {
    return this.peek(labels)?.v ?? 0;
  }

  /** {@inheritDoc LabelledFamily.render} */
  render(out: string[]): void {
    for (const { values, state } of this.series.values()) {
      out.push(`${this.name}${renderLabels(this.labelNames, values)} ${formatValue(state.v)}`);
    }
  }
}

/** One histogram series: per-bucket counts, sum and count. */
export interface HistogramState {
  /** Observations at or below each bucket's bound, cumulative. */
  counts: number[];
  /** Sum of observations. */
  sum: number;
  /** Number of observations. */
  count: number;
}

/** Observations counted into cumulative buckets, with their sum and count. */
export class Histogram extends LabelledFamily<HistogramState> {
  /** {@inheritDoc LabelledFamily.type} */
  readonly type = "histogram" as const;
  /** Upper bounds, ascending, without `+Inf`. */
  readonly buckets: readonly number[];

  /**
   * Checks the buckets and creates a histogram with no series.
   *
   * @throws {Error} for a reserved `le` label or buckets that do not ascend.
   */
  constructor(options: HistogramOptions) {
    super(options);
    if (this.labelNames.includes("le")) throw new Error(`${this.name}: "le" is reserved`);
    const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)].filter((b) => b !== Infinity);
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i] > buckets[i - 1])) throw new Error(`${this.name}: buckets must ascend`);
    }
    this.buckets = buckets;
  }

  /** {@inheritDoc LabelledFamily.initial} */
  protected initial(): HistogramState {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }

  /** Records one observation. */
  observe(labels: Labels | undefined, value: number): void {
    const s = this.state(labels);
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]) s.counts[i]++;
    }
    s.sum += value;
    s.count++;
  }

  /** Starts a timer; calling the result observes the elapsed seconds and returns them. */
  startTimer(labels?: Labels): (late?: Labels) => number {
    const t0 = performance.now();
    return (late) => {
      const seconds = (performance.now() - t0) / 1000;
      this.observe({ ...labels, ...late }, seconds);
      return seconds;
    };
  }

  /** Sum and count of one series. */
  get(labels?: Labels): { sum: number; count: number } {
    const s = this.peek(labels);
    return { sum: s?.sum ?? 0, count: s?.count ?? 0 };
  }

  /** {@inheritDoc LabelledFamily.render} */
  render(out: string[]): void {
    for (const { values, state } of this.series.values()) {
      this.buckets.forEach((b, i) => {
        const l = renderLabels(this.labelNames, values, `le="${formatValue(b)}"`);
        out.push(`${this.name}_bucket${l} ${state.counts[i]}`);
      });
      const inf = renderLabels(this.labelNames, values, `le="+Inf"`);
      out.push(`${this.name}_bucket${inf} ${state.count}`);
      const l = renderLabels(this.labelNames, values);
      out.push(`${this.name}_sum${l} ${formatValue(state.sum)}`);
      out.push(`${this.name}_count${l} ${state.count}`);
    }
  }
}

/** Runs before each scrape to refresh gauges read from elsewhere. */
export type Collector = () => void | Promise<void>;

/** Holds metric families and renders them for a scrape. */
export class Registry {
  readonly #families = new Map<string, Family>();
  readonly #collectors: Collector[] = [];

  #add<F extends Family>(family: F): F {
    if (this.#families.has(family.name)) throw new Error(`duplicate metric ${family.name}`);
    this.#families.set(family.name, family);
    return family;
  }

  /** Registers a counter. */
  counter(options: MetricOptions): Counter {
    return this.#add(new Counter(options));
  }

  /** Registers a gauge. */
  gauge(options: MetricOptions): Gauge {
    return this.#add(new Gauge(options));
  }

  /** Registers a histogram. */
  histogram(options: HistogramOptions): Histogram {
    return this.#add(new Histogram(options));
  }

  /** Adds a function that refreshes values at scrape time. */
  collect(collector: Collector): void {
    this.#collectors.push(collector);
  }

  /**
   * Runs the collectors, then renders every family. A collector that fails
   * leaves its gauges as they were rather than failing the whole scrape.
   */
  async render(): Promise<string> {
    await Promise.all(this.#collectors.map(async (c) => {
      try {
        await c();
      } catch {
        // A failed source of values must not hide every other metric.
      }
    }));
    const out: string[] = [];
    for (const f of this.#families.values()) {
      out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
      out.push(`# TYPE ${f.name} ${f.type}`);
      f.render(out);
    }
    return out.join("\n") + "\n";
  }
}
