/**
 * How many deleted namespaces' handles may wait to be closed after a burst of
 * `Namespace.delete()` calls, from the process's limit on open files (issue 21).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { deferredCloseLimit } from "../../network/namespace.ts";

describe("deferredCloseLimit", () => {
  it("is an eighth of the soft limit on open files, between 64 and 256", () => {
    assert.equal(deferredCloseLimit(1024), 128);
    assert.equal(deferredCloseLimit(1600), 200);
    assert.equal(deferredCloseLimit(512), 64);
    assert.equal(deferredCloseLimit(256), 64);
    assert.equal(deferredCloseLimit(20_000), 256);
    assert.equal(deferredCloseLimit(Infinity), 256);
  });

  it("is 64 when the limit is unknown", () => {
    assert.equal(deferredCloseLimit(undefined), 64);
    assert.equal(deferredCloseLimit(NaN), 64);
    assert.equal(deferredCloseLimit(0), 64);
  });
});
