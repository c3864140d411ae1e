import assert from "node:assert/strict";
import { compareIds, idMillis, isStreamId } from "../../../src/storage/redis/ids.ts";

Deno.test("stream IDs order by milliseconds, then sequence, as numbers rather than text", () => {
  assert.ok(compareIds("9-0", "10-0") < 0);
  assert.ok(compareIds("10-2", "10-10") < 0);
  assert.equal(compareIds("1796232220415-3", "1796232220415-3"), 0);
  assert.ok(compareIds("1796232220416-0", "1796232220415-99") > 0);
  assert.ok(compareIds("0-0", "0-1") < 0);
  assert.equal(idMillis("1796232220415-7"), 1796232220415);
  assert.ok(isStreamId("1-0"));
  assert.ok(!isStreamId("1"));
  assert.ok(!isStreamId("a-b"));
});
