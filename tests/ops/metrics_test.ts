import assert from "node:assert/strict";
import { escapeLabelValue, formatValue, Registry } from "../../src/ops/metrics.ts";
import { checkExposition, sampleValue } from "./prometheus_rules.ts";

Deno.test("Registry.render() output passes the format rules and parses back to the values", async () => {
  const r = new Registry();
  const c = r.counter({ name: "t_requests_total", help: "Requests.", labelNames: ["code"] });
  const g = r.gauge({ name: "t_temperature", help: "Temp." });
  const h = r.histogram({
    name: "t_latency_seconds",
    help: "Latency.",
    labelNames: ["op"],
    buckets: [0.1, 1],
  });
  c.inc({ code: "200" });
  c.inc({ code: "200" }, 2);
  c.inc({ code: "500" });
  g.set(undefined, -3.5);
  h.observe({ op: "read" }, 0.05);
  h.observe({ op: "read" }, 0.5);
  h.observe({ op: "read" }, 7);
  const plain = r.histogram({ name: "t_plain_seconds", help: "No labels.", buckets: [1] });
  // A second unlabelled histogram: bucket order is per family.
  r.histogram({ name: "t_other_seconds", help: "No labels.", buckets: [0.5, 2] }).observe(
    undefined,
    1,
  );
  plain.observe(undefined, 0.5);
  plain.observe(undefined, 2);
  const text = await r.render();
  const families = checkExposition(text);
  assert.deepEqual(sampleValue(families, "t_requests_total", { code: "200" }), 3);
  assert.deepEqual(sampleValue(families, "t_requests_total", { code: "500" }), 1);
  assert.deepEqual(sampleValue(families, "t_temperature"), -3.5);
  const hist = families.find((f) => f.name === "t_latency_seconds")!;
  assert.deepEqual(hist.type, "HISTOGRAM");
  assert.deepEqual(hist.metrics[0].buckets, { "0.1": "1", "1": "2", "+Inf": "3" });
  assert.match(text, /^t_latency_seconds_sum\{op="read"\} 7\.55$/m);
  assert.match(text, /^t_latency_seconds_count\{op="read"\} 3$/m);
  assert.match(
    text,
    /^t_plain_seconds_bucket\{le="1"\} 1\nt_plain_seconds_bucket\{le="\+Inf"\} 2\n/m,
  );
  assert.match(text, /^t_plain_seconds_count 2$/m);
});

Deno.test("Registry.render() escapes label values and help text so they parse back unchanged", async () => {
  const r = new Registry();
  const g = r.gauge({ name: "t_rows", help: "Rows \\ per\ntable.", labelNames: ["table"] });
  const nasty = 'a "quoted" \\ back\nslash, {brace}=1';
  g.set({ table: nasty }, 4);
  const text = await r.render();
  const families = checkExposition(text);
  assert.deepEqual(families[0].help, "Rows \\ per\ntable.");
  assert.deepEqual(families[0].metrics[0].labels, { table: nasty });
  assert.deepEqual(escapeLabelValue('"\\\n'), '\\"\\\\\\n');
});

Deno.test("Registry.render() writes HELP and TYPE for families that have no samples yet", async () => {
  const r = new Registry();
  r.counter({ name: "t_empty_total", help: "Nothing yet.", labelNames: ["x"] });
  const text = await r.render();
  assert.deepEqual(text, "# HELP t_empty_total Nothing yet.\n# TYPE t_empty_total counter\n");
  checkExposition(text);
});

Deno.test("formatValue() writes the special values the format defines", () => {
  assert.deepEqual(formatValue(NaN), "NaN");
  assert.deepEqual(formatValue(Infinity), "+Inf");
  assert.deepEqual(formatValue(-Infinity), "-Inf");
  assert.deepEqual(formatValue(1e21), "1e+21");
});

Deno.test("Registry refuses bad names, duplicate families, wrong labels and decreasing counters", () => {
  const r = new Registry();
  assert.throws(() => r.counter({ name: "1bad", help: "" }));
  assert.throws(() => r.counter({ name: "ok", help: "", labelNames: ["__reserved"] }));
  assert.throws(() => r.histogram({ name: "h", help: "", labelNames: ["le"] }));
  assert.throws(() => r.histogram({ name: "h2", help: "", buckets: [1, 1] }));
  const c = r.counter({ name: "t_total", help: "", labelNames: ["a"] });
  assert.throws(() => r.gauge({ name: "t_total", help: "" }));
  assert.throws(() => c.inc({}));
  assert.throws(() => c.inc({ a: "1", b: "2" }));
  assert.throws(() => c.inc({ a: "1" }, -1));
  assert.deepEqual(c.get({ a: "1" }), 0);
});

Deno.test("reading a series that was never touched creates nothing", async () => {
  const r = new Registry();
  const c = r.counter({ name: "t_total", help: "T.", labelNames: ["a"] });
  const h = r.histogram({ name: "t_seconds", help: "T." });
  assert.equal(c.get({ a: "x" }), 0);
  assert.deepEqual(h.get(), { sum: 0, count: 0 });
  assert.equal(
    await r.render(),
    "# HELP t_total T.\n# TYPE t_total counter\n# HELP t_seconds T.\n# TYPE t_seconds histogram\n",
  );
});

Deno.test("Registry.render() keeps other metrics when a collector fails", async () => {
  const r = new Registry();
  const g = r.gauge({ name: "t_fresh", help: "Fresh." });
  r.collect(() => {
    throw new Error("source down");
  });
  r.collect(() => g.set(undefined, 9));
  const families = checkExposition(await r.render());
  assert.deepEqual(sampleValue(families, "t_fresh"), 9);
});

Deno.test("checkExposition() rejects text that breaks the rules", () => {
  assert.throws(() => checkExposition("a 1"), /line feed/);
  assert.throws(() => checkExposition('a{l="x} 1\n'), /not a valid/);
  assert.throws(() => checkExposition("# TYPE a counter\n# TYPE a counter\na 1\n"), /second TYPE/);
  assert.throws(() => checkExposition('a 1\nb 1\na{x="1"} 2\n'), /not contiguous/);
  assert.throws(() => checkExposition("a 1\na 2\n"), /duplicate/);
  assert.throws(
    () =>
      checkExposition(
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      ),
    /cumulative/,
  );
  assert.throws(
    () => checkExposition('# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'),
    /differs from _count/,
  );
  assert.throws(
    () =>
      checkExposition(
        '# TYPE h histogram\nh_bucket{a="1",le="+Inf"} 2\nh_sum{a="1"} 1\nh_count{a="1"} 1\n',
      ),
    /differs from _count/,
  );
  assert.throws(
    () => checkExposition('# TYPE h histogram\nh_bucket{le="2"} 1\nh_bucket{le="1"} 1\n'),
    /not ascending/,
  );
  assert.ok(checkExposition("# TYPE a gauge\na -1\n").length === 1);
});
