// Input checks: each throws a TypeError or RangeError that quotes the bad value, and the ops run
// them before anything reaches the transport, so invalid input leaves no kernel object behind.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  checkCidr,
  checkIfName,
  checkInt,
  checkIP,
  checkMac,
  checkMtu,
} from "../../net/validate.ts";
import { AddrOps, type AddrOptions } from "../../rtnl/address.ts";
import { type LinkChanges, LinkOps, type LinkSpec } from "../../rtnl/link.ts";
import { RouteOps, type RouteSpec } from "../../rtnl/route.ts";
import { RecordingTransport } from "./_recorder.ts";

type ErrorClass = typeof TypeError | typeof RangeError;

function throwsQuoting(fn: () => unknown, type: ErrorClass, quoted: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${String(e)}`);
    assert.ok(
      e.message.includes(`"${quoted}"`),
      `message should quote "${quoted}": ${e.message}`,
    );
    return true;
  });
}

describe("checkIfName()", () => {
  it("accepts 1 to 15 bytes", () => {
    assert.equal(checkIfName("a"), "a");
    assert.equal(checkIfName("a".repeat(15)), "a".repeat(15));
    assert.equal(checkIfName("eth0.10"), "eth0.10");
    assert.equal(checkIfName("é".repeat(7)), "é".repeat(7)); // 14 bytes
  });

  it("rejects an empty name with a RangeError", () => {
    assert.throws(() => checkIfName(""), {
      name: "RangeError",
      message: 'Invalid interface name "": must be 1 to 15 bytes, is 0',
    });
  });

  it("rejects 16 bytes (IFNAMSIZ counts the NUL)", () => {
    const name = "a".repeat(16);
    assert.throws(() => checkIfName(name), {
      name: "RangeError",
      message: `Invalid interface name "${name}": must be 1 to 15 bytes, is 16`,
    });
  });

  it("counts bytes, not characters", () => {
    throwsQuoting(() => checkIfName("é".repeat(8)), RangeError, "é".repeat(8));
  });

  for (const bad of ["a/b", "a b", "a:b", ".", "..", "a\tb", "a\nb"]) {
    it(`rejects ${JSON.stringify(bad)} with a TypeError quoting it`, () => {
      assert.throws(() => checkIfName(bad), {
        name: "TypeError",
        message: `Invalid interface name "${bad}": no "/", ":" or whitespace, and not "." or ".."`,
      });
    });
  }

  it("names what the name is for", () => {
    assert.throws(() => checkIfName("a/b", "peer name"), /^TypeError: Invalid peer name "a\/b"/);
  });

  it("rejects a non-string with a TypeError", () => {
    assert.throws(() => checkIfName(3 as unknown as string), TypeError);
  });
});

describe("checkMtu()", () => {
  it("accepts 68 to 65535", () => {
    assert.equal(checkMtu(68), 68);
    assert.equal(checkMtu(1500), 1500);
    assert.equal(checkMtu(65535), 65535);
  });

  for (const bad of [67, 65536, 1.5, -1, NaN]) {
    it(`rejects ${bad} with a RangeError quoting it`, () => {
      assert.throws(() => checkMtu(bad), {
        name: "RangeError",
        message: `Invalid MTU "${bad}": must be an integer from 68 to 65535`,
      });
    });
  }
});

describe("checkMac()", () => {
  it("accepts a unicast address and returns it in lower case", () => {
    assert.equal(checkMac("02:42:C6:33:64:02"), "02:42:c6:33:64:02");
  });

  it("rejects a bad form with a TypeError quoting it", () => {
    throwsQuoting(() => checkMac("02:42:c6:33:64"), TypeError, "02:42:c6:33:64");
    throwsQuoting(() => checkMac("zz:42:c6:33:64:02"), TypeError, "zz:42:c6:33:64:02");
  });

  it("rejects a multicast address", () => {
    assert.throws(() => checkMac("01:00:5e:00:00:01"), {
      name: "TypeError",
      message:
        'Invalid MAC address "01:00:5e:00:00:01": a multicast address cannot be a link\'s address',
    });
    throwsQuoting(() => checkMac("ff:ff:ff:ff:ff:ff"), TypeError, "ff:ff:ff:ff:ff:ff");
  });

  it("rejects all zeros", () => {
    assert.throws(() => checkMac("00:00:00:00:00:00"), {
      name: "TypeError",
      message: 'Invalid MAC address "00:00:00:00:00:00": all zeros',
    });
  });
});

describe("checkCidr(), checkIP() and checkInt()", () => {
  it("checkCidr() returns the parsed prefix", () => {
    assert.deepEqual(checkCidr("2001:db8::2/64"), {
      family: 6,
      address: 0x20010db8000000000000000000000002n,
      prefixLength: 64,
    });
  });

  for (const bad of ["198.51.100.2", "198.51.100.2/33", "2001:db8::/129", "nope/24", "::/x"]) {
    it(`checkCidr() rejects "${bad}" with a TypeError quoting it`, () => {
      throwsQuoting(() => checkCidr(bad), TypeError, bad);
    });
  }

  it("checkIP() returns the family", () => {
    assert.equal(checkIP("198.51.100.1"), 4);
    assert.equal(checkIP("2001:db8::1"), 6);
  });

  for (const bad of ["198.51.100.1/24", "198.51.100", "2001:db8:::1", ""]) {
    it(`checkIP() rejects "${bad}" with a TypeError quoting it`, () => {
      assert.throws(() => checkIP(bad), {
        name: "TypeError",
        message: `Invalid IP address "${bad}"`,
      });
    });
  }

  it("checkInt() throws a RangeError naming the value", () => {
    assert.equal(checkInt(10, 1, 4094, "VLAN id"), 10);
    assert.throws(() => checkInt(4095, 1, 4094, "VLAN id"), {
      name: "RangeError",
      message: 'Invalid VLAN id "4095": must be an integer from 1 to 4094',
    });
    assert.throws(() => checkInt(1.5, 1, 4094, "VLAN id"), RangeError);
  });
});

/** The links every recorder knows, so lookups can succeed. */
const LINKS = { lo: 1, nsl0b: 2, nsl0a: 3, nslbr0: 4 };

function setup() {
  const rec = new RecordingTransport({ links: LINKS });
  const link = new LinkOps(rec);
  return { rec, link, addr: new AddrOps(rec, link), route: new RouteOps(rec, link) };
}

/** Runs `fn` and asserts it threw a TypeError/RangeError quoting `quoted`, with nothing sent. */
function rejectsBeforeSending(
  fn: (o: ReturnType<typeof setup>) => unknown,
  type: ErrorClass,
  quoted: string,
): void {
  const o = setup();
  throwsQuoting(() => fn(o), type, quoted);
  assert.deepEqual(o.rec.sent.map((r) => r.type), [], "the transport recorded a request");
}

describe("invalid input leaves no kernel object behind: LinkOps.add()", () => {
  const veth = (over: Partial<LinkSpec>): LinkSpec =>
    ({ kind: "veth", name: "nsl0a", peer: { name: "nsl0b" }, ...over }) as LinkSpec;
  const CASES: [string, LinkSpec, ErrorClass, string][] = [
    ["a name with a slash", veth({ name: "a/b" }), TypeError, "a/b"],
    ["a 16-byte name", veth({ name: "nsl0123456789abc" }), RangeError, "nsl0123456789abc"],
    ["MTU 67", veth({ mtu: 67 }), RangeError, "67"],
    ["a multicast MAC", veth({ mac: "01:00:5e:00:00:01" }), TypeError, "01:00:5e:00:00:01"],
    ["txqlen -1", veth({ txqlen: -1 }), RangeError, "-1"],
    ["a bad peer name", veth({ peer: { name: "." } }), TypeError, "."],
    ["a bad peer MTU", veth({ peer: { name: "nsl0b", mtu: 65536 } }), RangeError, "65536"],
    [
      "a bad peer MAC",
      veth({ peer: { name: "nsl0b", mac: "00:00:00:00:00:00" } }),
      TypeError,
      "00:00:00:00:00:00",
    ],
    ["a bad master name", veth({ master: "br 0" }), TypeError, "br 0"],
    ["master index 0", veth({ master: 0 }), RangeError, "0"],
    ["VLAN id 0", { kind: "vlan", name: "v", parent: 3, id: 0 }, RangeError, "0"],
    ["VLAN id 4095", { kind: "vlan", name: "v", parent: 3, id: 4095 }, RangeError, "4095"],
    ["VNI 2^24", { kind: "vxlan", name: "x", vni: 0x1000000 }, RangeError, "16777216"],
    ["VXLAN port 0", { kind: "vxlan", name: "x", vni: 1, port: 0 }, RangeError, "0"],
    ["a bad VXLAN local", { kind: "vxlan", name: "x", vni: 1, local: "nope" }, TypeError, "nope"],
    [
      "a bad VXLAN group",
      { kind: "vxlan", name: "x", vni: 1, group: "239.1.1" },
      TypeError,
      "239.1.1",
    ],
    ["TTL 256", { kind: "vxlan", name: "x", vni: 1, ttl: 256 }, RangeError, "256"],
    [
      "a bad macvlan mode",
      { kind: "macvlan", name: "m", parent: 3, mode: "hub" } as unknown as LinkSpec,
      TypeError,
      "hub",
    ],
    [
      "a bad ipvlan mode",
      { kind: "ipvlan", name: "i", parent: 3, mode: "l4" } as unknown as LinkSpec,
      TypeError,
      "l4",
    ],
    ["a bad parent name", { kind: "vlan", name: "v", parent: "a:b", id: 10 }, TypeError, "a:b"],
    ["an unknown kind", { kind: "dummy", name: "d" } as unknown as LinkSpec, TypeError, "dummy"],
    ["a bad bridge ageing time", { kind: "bridge", name: "b", ageingTime: -5 }, RangeError, "-5"],
  ];
  for (const [what, spec, type, quoted] of CASES) {
    it(`rejects ${what} before sending anything`, () => {
      rejectsBeforeSending((o) => o.link.add(spec), type, quoted);
    });
  }

  it("rejects a veth without a peer before sending anything", () => {
    const spec = { kind: "veth", name: "nsl0a" } as unknown as LinkSpec;
    rejectsBeforeSending((o) => o.link.add(spec), TypeError, "nsl0a");
  });

  it("rejects a bad VLAN id even when the parent needs a lookup", () => {
    rejectsBeforeSending(
      (o) => o.link.add({ kind: "vlan", name: "v", parent: "nsl0a", id: 5000 }),
      RangeError,
      "5000",
    );
  });

  // A numeric parent index is checked too (LinkOps.index() once passed numbers through).
  for (const parent of [-1]) {
    it(`rejects parent index ${parent} before sending anything`, () => {
      rejectsBeforeSending(
        (o) => o.link.add({ kind: "vlan", name: "v", parent, id: 10 }),
        RangeError,
        String(parent),
      );
    });
  }

  // The netns fd is checked (fdOf() once let -1 go out as IFLA_NET_NS_FD 0xffffffff).
  it("rejects a negative peer netns fd before sending anything", () => {
    rejectsBeforeSending(
      (o) => o.link.add({ kind: "veth", name: "nsl0a", peer: { name: "eth0", netns: -1 } }),
      RangeError,
      "-1",
    );
  });
});

describe("invalid input leaves no kernel object behind: LinkOps.set() and del()", () => {
  const CASES: [string, number | string, LinkChanges, ErrorClass, string][] = [
    ["MTU 65536", 3, { mtu: 65536 }, RangeError, "65536"],
    ["MTU 1.5", 3, { mtu: 1.5 }, RangeError, "1.5"],
    ["an all-zero MAC", 3, { mac: "00:00:00:00:00:00" }, TypeError, "00:00:00:00:00:00"],
    ["a new name with a colon", 3, { name: "a:b" }, TypeError, "a:b"],
    ["a new name of 16 bytes", "nsl0a", { name: "x".repeat(16) }, RangeError, "x".repeat(16)],
    ["master 0", 3, { master: 0 }, RangeError, "0"],
    ["a bad master name", 3, { master: ".." }, TypeError, ".."],
    ["txqlen 2^32", 3, { txqlen: 2 ** 32 }, RangeError, String(2 ** 32)],
    ["index 0", 0, { up: true }, RangeError, "0"],
    ["index -3", -3, { up: true }, RangeError, "-3"],
    ["a bad link name", "a b", { up: true }, TypeError, "a b"],
  ];
  for (const [what, ref, changes, type, quoted] of CASES) {
    it(`set() rejects ${what} before sending anything`, () => {
      rejectsBeforeSending((o) => o.link.set(ref, changes), type, quoted);
    });
  }

  // With a rename, set() checks txqlen and the master before it looks the link up
  // (RTM_GETLINK); it once sent the lookup first.
  it("set() rejects a bad txqlen before the rename lookup", () => {
    rejectsBeforeSending(
      (o) => o.link.set("nsl0a", { name: "nsl0c", txqlen: -1 }),
      RangeError,
      "-1",
    );
  });

  // The netns fd is checked here too.
  it("set() rejects a negative netns fd before sending anything", () => {
    rejectsBeforeSending((o) => o.link.set(3, { netns: -1 }), RangeError, "-1");
  });

  it("del() rejects a bad name or index before sending anything", () => {
    rejectsBeforeSending((o) => o.link.del("a/b"), TypeError, "a/b");
    rejectsBeforeSending((o) => o.link.del(0), RangeError, "0");
  });
});

describe("invalid input leaves no kernel object behind: AddrOps.add() and del()", () => {
  const CASES: [string, number | string, string, AddrOptions, ErrorClass, string][] = [
    ["a CIDR without a prefix", 3, "198.51.100.2", {}, TypeError, "198.51.100.2"],
    ["prefix /33", 3, "198.51.100.2/33", {}, TypeError, "198.51.100.2/33"],
    ["prefix /129", 3, "2001:db8::2/129", {}, TypeError, "2001:db8::2/129"],
    ["a bad device name", "a/b", "198.51.100.2/24", {}, TypeError, "a/b"],
    [
      "a 16-byte label",
      3,
      "198.51.100.2/24",
      { label: "nsl0a:123456789a" },
      RangeError,
      "nsl0a:123456789a",
    ],
    [
      "a bad scope",
      3,
      "198.51.100.2/24",
      { scope: "planet" } as unknown as AddrOptions,
      TypeError,
      "planet",
    ],
    ["a bad broadcast", 3, "198.51.100.2/24", { broadcast: "198.51.100" }, TypeError, "198.51.100"],
    // An IPv6 broadcast on an IPv4 address (once sent as a 16-byte IFA_BROADCAST).
    [
      "an IPv6 broadcast on an IPv4 address",
      3,
      "198.51.100.2/24",
      { broadcast: "2001:db8::ff" },
      TypeError,
      "2001:db8::ff",
    ],
    // Numeric devices are checked (LinkOps.index() once passed numbers through).
    ["device index -1", -1, "198.51.100.2/24", {}, RangeError, "-1"],
  ];
  for (const [what, dev, cidr, options, type, quoted] of CASES) {
    it(`add() rejects ${what} before sending anything`, () => {
      rejectsBeforeSending((o) => o.addr.add(dev, cidr, options), type, quoted);
    });
  }

  it("del() rejects a bad CIDR before sending anything", () => {
    rejectsBeforeSending((o) => o.addr.del(3, "198.51.100.2/24x"), TypeError, "198.51.100.2/24x");
  });

  it("add() with an unknown device name sends only the lookup, which fails with ENODEV", () => {
    const o = setup();
    assert.throws(() => o.addr.add("nslnope0", "198.51.100.2/24"), { name: "NetlinkError" });
    assert.equal(o.rec.changes.length, 0);
  });
});

describe("invalid input leaves no kernel object behind: RouteOps.add() and del()", () => {
  const CASES: [string, RouteSpec, ErrorClass, string][] = [
    ["a bad destination", { dst: "203.0.113.0/33", dev: 3 }, TypeError, "203.0.113.0/33"],
    ["a destination without a prefix", { dst: "203.0.113.0", dev: 3 }, TypeError, "203.0.113.0"],
    ["a bad gateway", { gateway: "198.51.100" }, TypeError, "198.51.100"],
    ["mixed families", { dst: "203.0.113.0/24", gateway: "2001:db8::1" }, TypeError, "2001:db8::1"],
    [
      "a source of the other family",
      { dst: "203.0.113.0/24", dev: 3, src: "::1" },
      TypeError,
      "::1",
    ],
    ["table 0", { gateway: "198.51.100.1", table: 0 }, RangeError, "0"],
    ["metric -1", { gateway: "198.51.100.1", metric: -1 }, RangeError, "-1"],
    ["a bad device name", { dst: "203.0.113.0/24", dev: "a b" }, TypeError, "a b"],
    // Numeric devices are checked (1.5 once went out as RTA_OIF 1).
    ["device index 1.5", { dst: "203.0.113.0/24", dev: 1.5 }, RangeError, "1.5"],
  ];
  for (const [what, spec, type, quoted] of CASES) {
    it(`add() rejects ${what} before sending anything`, () => {
      rejectsBeforeSending((o) => o.route.add(spec), type, quoted);
    });
  }

  it("del() rejects a bad gateway before sending anything", () => {
    rejectsBeforeSending(
      (o) => o.route.del({ dst: "203.0.113.0/24", gateway: "nope" }),
      TypeError,
      "nope",
    );
  });
});

describe("checkIfName() for address labels", () => {
  it("allows the alias form with alias: true, and only then", () => {
    assert.equal(checkIfName("eth0:1", "address label", { alias: true }), "eth0:1");
    assert.throws(() => checkIfName("eth0:1"), /Invalid interface name "eth0:1": no "\/", ":"/);
    assert.throws(
      () => checkIfName("eth 0", "address label", { alias: true }),
      /Invalid address label "eth 0": no "\/" or whitespace/,
    );
    assert.throws(
      () => checkIfName("eth0:123456789ab", "address label", { alias: true }),
      RangeError,
    );
  });
});
