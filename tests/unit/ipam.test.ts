import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  allocate,
  createPool,
  DEFAULT_POOL,
  family,
  IpamExhaustedError,
  pickSubnet,
  prefixLength,
  release,
} from "../../model/ipam.ts";

describe("createPool()", () => {
  it("canonicalizes the subnet and defaults the gateway to the first address", () => {
    assert.deepEqual(createPool("198.51.100.77/24"), {
      subnet: "198.51.100.0/24",
      gateway: "198.51.100.1",
      allocated: {},
    });
    assert.deepEqual(createPool("2001:DB8:1:0::5/64"), {
      subnet: "2001:db8:1::/64",
      gateway: "2001:db8:1::1",
      allocated: {},
    });
  });

  it("keeps a given gateway", () => {
    assert.equal(createPool("198.51.100.0/24", "198.51.100.254").gateway, "198.51.100.254");
    assert.equal(createPool("2001:db8:1::/64", "2001:DB8:1::FE").gateway, "2001:db8:1::fe");
  });

  it("refuses a bad subnet with a TypeError quoting it", () => {
    for (const bad of ["nope", "198.51.100.0", "198.51.100.0/33", "2001:db8::/129", ""]) {
      assert.throws(() => createPool(bad), (err: Error) => {
        assert.ok(err instanceof TypeError, `${bad}: ${err}`);
        assert.ok(err.message.includes(`"${bad}"`), err.message);
        return true;
      });
    }
  });

  it("refuses prefixes too long for a gateway and one address", () => {
    for (const bad of ["198.51.100.0/31", "198.51.100.0/32", "2001:db8::/127", "2001:db8::/128"]) {
      assert.throws(() => createPool(bad), (err: Error) => {
        assert.ok(err instanceof RangeError, `${bad}: ${err}`);
        assert.ok(err.message.includes(`"${bad}"`), err.message);
        return true;
      });
    }
    assert.equal(createPool("198.51.100.0/30").subnet, "198.51.100.0/30");
    assert.equal(createPool("2001:db8::/126").subnet, "2001:db8::/126");
  });

  it("refuses a gateway outside the subnet, or on its network or broadcast address", () => {
    const cases: [string, string][] = [
      ["198.51.100.0/24", "203.0.113.1"],
      ["198.51.100.0/24", "198.51.100.0"],
      ["198.51.100.0/24", "198.51.100.255"],
      ["198.51.100.0/24", "2001:db8::1"],
      ["2001:db8:1::/64", "2001:db8:1::"],
      ["2001:db8:1::/64", "2001:db8:2::1"],
    ];
    for (const [subnet, gateway] of cases) {
      assert.throws(() => createPool(subnet, gateway), (err: Error) => {
        assert.ok(err instanceof RangeError, `${gateway}: ${err}`);
        assert.ok(err.message.includes(`"${gateway}"`), err.message);
        assert.ok(err.message.includes(`"${subnet}"`), err.message);
        return true;
      });
    }
  });

  it("refuses a gateway that is not an address with a TypeError quoting it", () => {
    assert.throws(() => createPool("198.51.100.0/24", "gw"), TypeError);
    assert.throws(() => createPool("198.51.100.0/24", "198.51.100.1/24"), /"198\.51\.100\.1\/24"/);
  });
});

describe("allocate()", () => {
  it("hands out the lowest free address, never the network, gateway or broadcast", () => {
    const pool = createPool("198.51.100.0/29");
    const got = [1, 2, 3, 4, 5].map((i) => allocate(pool, `c${i}`));
    assert.deepEqual(got, [
      "198.51.100.2/29",
      "198.51.100.3/29",
      "198.51.100.4/29",
      "198.51.100.5/29",
      "198.51.100.6/29",
    ]);
    assert.throws(() => allocate(pool, "c6"), IpamExhaustedError);
    for (const reserved of ["198.51.100.0", "198.51.100.1", "198.51.100.7"]) {
      assert.equal(pool.allocated[reserved], undefined);
    }
  });

  it("skips a gateway placed in the middle of the subnet", () => {
    const pool = createPool("198.51.100.0/29", "198.51.100.3");
    const got = [1, 2, 3, 4, 5].map((i) => allocate(pool, `c${i}`));
    assert.deepEqual(got, [
      "198.51.100.1/29",
      "198.51.100.2/29",
      "198.51.100.4/29",
      "198.51.100.5/29",
      "198.51.100.6/29",
    ]);
  });

  it("records the owner and reuses released addresses first", () => {
    const pool = createPool("198.51.100.0/24");
    assert.equal(allocate(pool, "a"), "198.51.100.2/24");
    assert.equal(allocate(pool, "b"), "198.51.100.3/24");
    assert.equal(allocate(pool, "c"), "198.51.100.4/24");
    assert.deepEqual(pool.allocated, {
      "198.51.100.2": "a",
      "198.51.100.3": "b",
      "198.51.100.4": "c",
    });
    release(pool, "198.51.100.3/24");
    assert.equal(allocate(pool, "d"), "198.51.100.3/24");
    release(pool, "198.51.100.2");
    release(pool, "198.51.100.2");
    release(pool, "203.0.113.9");
    release(pool, "2001:db8::2");
    assert.equal(allocate(pool, "e"), "198.51.100.2/24");
    assert.equal(allocate(pool, "f"), "198.51.100.5/24");
  });

  it("refuses an invalid owner or release address", () => {
    const pool = createPool("198.51.100.0/24");
    assert.throws(() => allocate(pool, ""), TypeError);
    assert.throws(() => release(pool, "x.y"), /"x\.y"/);
  });

  it("gives exactly one address from a /30 and then IpamExhaustedError", () => {
    const pool = createPool("198.51.100.0/30");
    assert.equal(allocate(pool, "only"), "198.51.100.2/30");
    assert.throws(() => allocate(pool, "more"), (err: Error) => {
      assert.ok(err instanceof IpamExhaustedError);
      assert.equal(err.name, "IpamExhaustedError");
      assert.equal(err.subnet, "198.51.100.0/30");
      assert.equal(err.message, 'No free address in "198.51.100.0/30"');
      return true;
    });
  });

  it("takes a preferred address or explains why not", () => {
    const pool = createPool("198.51.100.0/24");
    assert.equal(allocate(pool, "a", "198.51.100.10"), "198.51.100.10/24");
    assert.equal(allocate(pool, "b", "198.51.100.11/24"), "198.51.100.11/24");
    assert.throws(() => allocate(pool, "c", "198.51.100.10"), (err: Error) => {
      assert.ok(err.message.includes('"198.51.100.10"'), err.message);
      assert.ok(err.message.includes('"a"'), err.message);
      return true;
    });
    for (const reserved of ["198.51.100.0", "198.51.100.1", "198.51.100.255"]) {
      assert.throws(() => allocate(pool, "c", reserved), RangeError);
    }
    assert.throws(() => allocate(pool, "c", "203.0.113.5"), /outside subnet "198\.51\.100\.0\/24"/);
    assert.throws(() => allocate(pool, "c", "2001:db8::5"), RangeError);
    assert.throws(() => allocate(pool, "c", "198.51.100.12/25"), RangeError);
    assert.throws(() => allocate(pool, "c", "bogus"), /"bogus"/);
    // The scan still starts from the bottom and skips the preferred ones.
    assert.equal(allocate(pool, "d"), "198.51.100.2/24");
    assert.deepEqual(Object.keys(pool.allocated).sort(), [
      "198.51.100.10",
      "198.51.100.11",
      "198.51.100.2",
    ]);
  });

  it("works in an IPv6 /64 without scanning the whole subnet", () => {
    const pool = createPool("2001:db8:1::/64");
    assert.equal(family(pool), 6);
    assert.equal(prefixLength(pool), 64);
    assert.equal(allocate(pool, "a"), "2001:db8:1::2/64");
    assert.equal(allocate(pool, "b"), "2001:db8:1::3/64");
    assert.equal(
      allocate(pool, "c", "2001:db8:1::ffff:ffff:ffff:ffff"),
      "2001:db8:1:0:ffff:ffff:ffff:ffff/64",
    );
    release(pool, "2001:DB8:1::2/64");
    assert.equal(allocate(pool, "d"), "2001:db8:1::2/64");
    assert.equal(pool.allocated["2001:db8:1::2"], "d");
  });

  it("gives two addresses from an IPv6 /126 (no broadcast in IPv6)", () => {
    const pool = createPool("2001:db8::/126");
    assert.equal(allocate(pool, "a"), "2001:db8::2/126");
    assert.equal(allocate(pool, "b"), "2001:db8::3/126");
    assert.throws(() => allocate(pool, "c"), IpamExhaustedError);
    assert.throws(() => allocate(pool, "c", "2001:db8::"), RangeError);
  });

  it("allocates the released and the next free address with thousands allocated in a /16", () => {
    const pool = createPool("10.89.0.0/16");
    assert.equal(family(pool), 4);
    assert.equal(prefixLength(pool), 16);
    for (let i = 0; i < 1000; i++) allocate(pool, `c${i}`);
    assert.equal(allocate(pool, "c1000"), "10.89.3.234/16");
    for (let i = 1001; i < 5000; i++) pool.allocated[`10.89.${i >> 8}.${i & 255}`] = `c${i}`;
    release(pool, "10.89.0.100");
    assert.equal(allocate(pool, "again"), "10.89.0.100/16");
    assert.equal(allocate(pool, "next"), "10.89.19.136/16");
  });

  it("allocates the next free addresses with thousands allocated in an IPv6 /64", () => {
    const pool = createPool("2001:db8:1::/64");
    for (let i = 2; i < 3002; i++) pool.allocated[`2001:db8:1::${i.toString(16)}`] = `c${i}`;
    assert.equal(allocate(pool, "a"), "2001:db8:1::bba/64");
    assert.equal(allocate(pool, "b"), "2001:db8:1::bbb/64");
  });
});

describe("pickSubnet()", () => {
  it("returns the first /24 of the default pool when nothing is taken", () => {
    assert.deepEqual(DEFAULT_POOL, ["10.89.0.0/16"]);
    assert.equal(pickSubnet(DEFAULT_POOL, 24, []), "10.89.0.0/24");
  });

  it("skips blocks overlapping taken subnets and addresses of both families", () => {
    const taken = ["10.89.0.0/24", "10.89.1.200", "2001:db8::/64", "10.89.2.0/23", "fe80::1"];
    assert.equal(pickSubnet(DEFAULT_POOL, 24, taken), "10.89.4.0/24");
    assert.equal(pickSubnet(["2001:db8::/48"], 64, taken), "2001:db8:0:1::/64");
    // A taken supernet covers the whole candidate; the next candidate is used.
    assert.equal(
      pickSubnet(["10.89.0.0/16", "198.51.100.0/24"], 26, ["10.0.0.0/8"]),
      "198.51.100.0/26",
    );
  });

  it("uses a candidate smaller than the size whole", () => {
    assert.equal(pickSubnet(["198.51.100.64/26"], 24, []), "198.51.100.64/26");
    assert.equal(
      pickSubnet(["198.51.100.64/26", "203.0.113.0/28"], 24, ["198.51.100.70"]),
      "203.0.113.0/28",
    );
  });

  it("returns undefined when every block is taken", () => {
    assert.equal(
      pickSubnet(["198.51.100.0/24"], 25, ["198.51.100.1", "198.51.100.129"]),
      undefined,
    );
    assert.equal(pickSubnet([], 24, []), undefined);
    assert.equal(pickSubnet(["255.255.255.0/24"], 24, ["255.255.255.255"]), undefined);
  });

  it("jumps over taken ranges in a huge IPv6 candidate", () => {
    const taken = ["2001:db8::/33", "2001:db8:8000::/34", "2001:db8:c000::/35"];
    assert.equal(pickSubnet(["2001:db8::/32"], 64, taken), "2001:db8:e000::/64");
    assert.equal(pickSubnet(["2001:db8::/32"], 64, ["2001:db8::/32"]), undefined);
  });

  it("refuses bad input, quoting it", () => {
    assert.throws(() => pickSubnet(["nope"], 24, []), /"nope"/);
    assert.throws(() => pickSubnet(DEFAULT_POOL, 24, ["10.89.x"]), /"10\.89\.x"/);
    assert.throws(() => pickSubnet(DEFAULT_POOL, 33, []), RangeError);
    assert.throws(() => pickSubnet(DEFAULT_POOL, 2.5, []), RangeError);
  });
});
