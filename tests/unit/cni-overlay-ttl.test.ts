/**
 * The CNI plugin's `ttl` field: the host's lease in an overlay network, in seconds (a short one
 * in tests; the host's agent keeps it alive).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseConf } from "../../cni/config.ts";
import { CniError } from "../../cni/errors.ts";

const BASE = {
  cniVersion: "1.0.0",
  name: "ov1",
  type: "nslink",
  driver: "overlay",
  store: "etcd://198.51.100.1:2379",
  advertise: "198.51.100.11",
};

describe("CNI overlay ttl", () => {
  it("passes a whole number of seconds to the overlay options", () => {
    assert.equal(parseConf({ ...BASE, ttl: 2 }).networkOptions.ttl, 2);
    assert.equal(parseConf(BASE).networkOptions.ttl, undefined);
  });

  it("refuses a ttl that is not a whole number of seconds, or not on an overlay network", () => {
    for (const conf of [{ ...BASE, ttl: "2" }, { ...BASE, ttl: 0 }, { ...BASE, ttl: 1.5 }]) {
      assert.throws(
        () => parseConf(conf),
        (e: unknown) => e instanceof CniError && /"ttl"/.test(e.message),
      );
    }
    assert.throws(
      () => parseConf({ ...BASE, driver: "bridge", ttl: 2 }),
      (e: unknown) => e instanceof CniError && /"ttl"/.test(e.message),
    );
  });
});
