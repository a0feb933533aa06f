// Issue 16: an overlay network is a `Network` whose cross-host part is its `SpanningHooks`
// (beforeLink, beforeUnlink, watch, inUse, leave); `OverlayNetwork` overrides none of
// `Network`'s methods, so link, unlink, delete and deleteIfUnused run the same code as a bridge
// network's.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Network, OverlayNetwork } from "../../mod.ts";

describe("OverlayNetwork and Network (issue 16)", () => {
  it("overrides none of Network's methods", () => {
    const base = new Set(Object.getOwnPropertyNames(Network.prototype));
    const own = [
      ...Object.getOwnPropertyNames(OverlayNetwork.prototype),
      ...Object.getOwnPropertySymbols(OverlayNetwork.prototype).map(String),
    ].filter((n) => n !== "constructor");
    assert.deepEqual(own.filter((n) => base.has(n)), []);
    assert.equal(
      Object.getOwnPropertySymbols(OverlayNetwork.prototype).includes(Symbol.asyncDispose),
      false,
    );
  });
});
