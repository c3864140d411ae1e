import assert from "node:assert/strict";
import { viewShape } from "../../src/fanout/view_config.ts";
import { readString } from "../../src/engine/envelope.ts";
import { fields, ProtocolError, pushBytes, pushVarintField } from "../../src/protocol/wire.ts";

const text = (s: string) => new TextEncoder().encode(s);

function message(build: (out: number[]) => void): Uint8Array {
  const out: number[] = [];
  build(out);
  return new Uint8Array(out);
}

/** A `ViewConfig` map entry: key 1, value 2. */
const entry = (key: string, value: Uint8Array) =>
  message((o) => {
    pushBytes(o, 1, text(key));
    pushBytes(o, 2, value);
  });

/** A `table_make_view_req` with the given `ViewConfig` fields. */
function makeView(viewId: string, config: (out: number[]) => void): Uint8Array {
  return message((o) => {
    pushBytes(o, 1, text(viewId));
    pushBytes(o, 2, message(config));
  });
}

const columns = (o: number[], ...names: string[]) =>
  pushBytes(
    o,
    3,
    message((c) => pushBytes(c, 2, message((l) => names.forEach((n) => pushBytes(l, 1, text(n)))))),
  );

Deno.test("viewShape() gives one key to requests that differ only in view id and map order", () => {
  const a = viewShape(makeView("v1", (o) => {
    pushBytes(o, 6, entry("x", text('"v" * 2')));
    pushBytes(o, 6, entry("y", text('"v" + 1')));
    pushBytes(o, 7, entry("v", message((l) => pushBytes(l, 1, text("sum")))));
    pushBytes(o, 7, entry("id", message((l) => pushBytes(l, 1, text("count")))));
  }));
  const b = viewShape(makeView("v2", (o) => {
    pushBytes(o, 7, entry("id", message((l) => pushBytes(l, 1, text("count")))));
    pushBytes(o, 6, entry("y", text('"v" + 1')));
    pushBytes(o, 7, entry("v", message((l) => pushBytes(l, 1, text("sum")))));
    pushBytes(o, 6, entry("x", text('"v" * 2')));
  }));
  assert.equal(a.key, b.key);
  // Both become the same bytes for the engine, with the view id asked for.
  const made = a.withViewId("shared-1");
  assert.equal(readString(made, 1), "shared-1");
  assert.deepEqual(made, b.withViewId("shared-1"));
});

Deno.test("viewShape() keeps apart requests whose list fields differ in order", () => {
  const a = viewShape(makeView("v", (o) => columns(o, "a", "b")));
  const b = viewShape(makeView("v", (o) => columns(o, "b", "a")));
  assert.notEqual(a.key, b.key);
  assert.notEqual(
    viewShape(makeView("v", () => {})).key,
    viewShape(message((o) => pushBytes(o, 1, text("v")))).key,
  );
});

Deno.test("viewShape() keeps the order of a map with a repeated key, whose last entry wins", () => {
  const a = viewShape(makeView("v", (o) => {
    pushBytes(o, 6, entry("x", text("2")));
    pushBytes(o, 6, entry("x", text("1")));
  }));
  const b = viewShape(makeView("v", (o) => {
    pushBytes(o, 6, entry("x", text("1")));
    pushBytes(o, 6, entry("x", text("2")));
  }));
  assert.notEqual(a.key, b.key);
});

Deno.test("viewShape() calls only column projections history-free", () => {
  const free = [
    makeView("v", () => {}),
    makeView("v", (o) => columns(o, "a")),
    makeView("v", (o) => {
      columns(o, "a");
      pushVarintField(o, 8, 1);
      pushBytes(o, 7, entry("a", message((l) => pushBytes(l, 1, text("sum")))));
    }),
  ];
  for (const body of free) assert.equal(viewShape(body).historyFree, true);
  const stateful = [
    (o: number[]) => pushBytes(o, 1, text("cat")), // group_by
    (o: number[]) => pushBytes(o, 2, text("cat")), // split_by
    (o: number[]) => pushBytes(o, 4, message((f) => pushBytes(f, 1, text("flag")))), // filter
    (o: number[]) => pushBytes(o, 5, message((s) => pushBytes(s, 1, text("v")))), // sort
    (o: number[]) => pushBytes(o, 6, entry("x", text("1"))), // expressions
    (o: number[]) => pushVarintField(o, 9, 1), // group_by_depth
    (o: number[]) => pushVarintField(o, 42, 1), // a field this module does not know
  ];
  for (const build of stateful) assert.equal(viewShape(makeView("v", build)).historyFree, false);
});

Deno.test("viewShape() refuses bytes it cannot rewrite", () => {
  // Field 2 as a fixed 64-bit value inside the config.
  const body = message((o) => pushBytes(o, 2, [2 << 3 | 1, 0, 0, 0, 0, 0, 0, 0, 0]));
  assert.throws(() => viewShape(body), ProtocolError);
  assert.equal([...fields(body)].length, 1);
});
