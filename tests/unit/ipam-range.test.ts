/**
 * Address ranges inside a subnet (Docker's `--ip-range`, CNI host-local's `rangeStart`/
 * `rangeEnd`): automatic addresses come only from the range, by both allocators (the pure
 * `allocate` and the per-process `AddressBook`); static ones may be anywhere in the subnet.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AddressBook } from "../../network/addressbook.ts";
import { allocate, createPool, IpamExhaustedError, setPoolRange } from "../../model/ipam.ts";
import { getDriver } from "../../drivers/registry.ts";

describe("setPoolRange", () => {
  it("takes a CIDR or START-END inside the subnet", () => {
    assert.deepEqual(
      setPoolRange(createPool("198.51.100.0/24"), "198.51.100.128/25"),
      {
        subnet: "198.51.100.0/24",
        gateway: "198.51.100.1",
        allocated: {},
        rangeStart: "198.51.100.128",
        rangeEnd: "198.51.100.255",
      },
    );
    const p = setPoolRange(createPool("2001:db8:7::/64"), "2001:db8:7::10-2001:db8:7::1f");
    assert.equal(p.rangeStart, "2001:db8:7::10");
    assert.equal(p.rangeEnd, "2001:db8:7::1f");
    assert.equal(
      setPoolRange(createPool("198.51.100.0/24"), "-198.51.100.9").rangeStart,
      "198.51.100.0",
    );
  });

  it("refuses ranges outside the subnet, of the other family, reversed or malformed", () => {
    for (
      const r of ["203.0.113.0/25", "2001:db8::/64", "198.51.100.9-198.51.100.2", "x", "1-2-3"]
    ) {
      assert.throws(() => setPoolRange(createPool("198.51.100.0/24"), r), RangeError, r);
    }
  });
});

describe("allocation within a range", () => {
  it("allocate() hands out only the range, skipping the gateway, then is exhausted", () => {
    const pool = setPoolRange(
      createPool("198.51.100.0/24", "198.51.100.200"),
      "198.51.100.199-198.51.100.201",
    );
    assert.equal(allocate(pool, "a"), "198.51.100.199/24");
    assert.equal(allocate(pool, "b"), "198.51.100.201/24");
    assert.throws(() => allocate(pool, "c"), IpamExhaustedError);
    // A static address outside the range but inside the subnet is fine (Docker's --ip).
    assert.equal(allocate(pool, "d", "198.51.100.7"), "198.51.100.7/24");
  });

  it("AddressBook hands out only the range, and a released address below it is not reused", async () => {
    const pool = setPoolRange(createPool("198.51.100.0/24"), "198.51.100.128/30");
    const taken = new Set<string>();
    const list = () => Promise.resolve([...taken]);
    const reserve = (a: string) => Promise.resolve(taken.has(a) ? false : (taken.add(a), true));
    const book = new AddressBook();
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await book.take(pool, list, reserve));
    assert.deepEqual(got, [
      "198.51.100.128/24",
      "198.51.100.129/24",
      "198.51.100.130/24",
      "198.51.100.131/24",
    ]);
    await assert.rejects(book.take(pool, list, reserve), IpamExhaustedError);
  });
});

describe("bridge driver options", () => {
  it("knows ipRange, ipRangeIPv6, enableIPv6, poolIPv6 (refusals before anything is made)", () => {
    const bridge = getDriver("bridge");
    const ctx = {
      host: {
        addr: { list: () => [] },
        route: { list: () => [] },
        link: { find: () => undefined },
      },
      takenSubnets: [],
      otherConfigs: [],
      allocate: () => "",
    } as unknown as Parameters<typeof bridge.configure>[0];
    const cfg = (o: Record<string, unknown>) => bridge.configure(ctx, "n", "0123456789ab", o);
    const { pools } = cfg({
      subnet: "198.51.100.0/24",
      ipRange: "198.51.100.64/26",
      enableIPv6: true,
      poolIPv6: ["2001:db8:100::/56"],
    });
    assert.equal(pools.v4?.rangeStart, "198.51.100.64");
    assert.equal(pools.v6?.subnet, "2001:db8:100::/64");
    const v6only = cfg({ enableIPv4: false, enableIPv6: true, poolIPv6: ["2001:db8:100::/56"] });
    assert.equal(v6only.pools.v4, undefined);
    assert.equal(v6only.pools.v6?.subnet, "2001:db8:100::/64");
    assert.throws(() => cfg({ enableIPv6: true }), /needs "poolIPv6"/);
    assert.throws(() => cfg({ ipRangeIPv6: "2001:db8::/120" }), /needs a subnet of its family/);
    assert.throws(() => cfg({ enableIPv6: true, poolIPv6: ["198.51.100.0/24"] }), /IPv6 CIDRs/);
  });
});
