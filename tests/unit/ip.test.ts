// IPv4/IPv6 addresses and prefixes: parsing, RFC 5952 formatting, prefix arithmetic.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  bigIntToBytes,
  bytesToBigInt,
  contains,
  formatAddress,
  formatCidr,
  formatIP,
  lastOf,
  networkOf,
  overlaps,
  parseCidr,
  parseIP,
  parseIPv4,
  parseIPv6,
} from "../../net/ip.ts";
import { formatMac, parseMac } from "../../net/mac.ts";

/** Parses and formats back: the canonical text of an address. */
function canonical(text: string): string | undefined {
  const b = parseIP(text);
  return b && formatIP(b);
}

describe("parseIPv4()", () => {
  it("parses dotted quads", () => {
    assert.deepEqual(parseIPv4("198.51.100.1"), new Uint8Array([198, 51, 100, 1]));
    assert.deepEqual(parseIPv4("0.0.0.0"), new Uint8Array(4));
    assert.deepEqual(parseIPv4("255.255.255.255"), new Uint8Array([255, 255, 255, 255]));
  });

  for (const bad of ["198.051.100.1", "01.2.3.4", "198.51.100.00"]) {
    it(`rejects the leading zero in "${bad}" (octal in inet_aton)`, () => {
      assert.equal(parseIPv4(bad), undefined);
    });
  }

  for (
    const bad of [
      "256.0.0.1",
      "1.2.3",
      "1.2.3.4.5",
      " 1.2.3.4",
      "1.2.3.4 ",
      "1..2.3",
      "a.b.c.d",
      "",
    ]
  ) {
    it(`rejects "${bad}"`, () => assert.equal(parseIPv4(bad), undefined));
  }
});

describe("parseIPv6()", () => {
  it("parses full, compressed and upper-case forms to the same bytes", () => {
    const want = parseIPv6("2001:db8::1");
    assert.equal(want?.length, 16);
    assert.deepEqual(parseIPv6("2001:0db8:0000:0000:0000:0000:0000:0001"), want);
    assert.deepEqual(parseIPv6("2001:DB8:0:0:0:0:0:1"), want);
  });

  it("parses :: alone, at the start and at the end", () => {
    assert.deepEqual(parseIPv6("::"), new Uint8Array(16));
    assert.equal(parseIPv6("::1")?.[15], 1);
    assert.equal(parseIPv6("fe80::")?.[0], 0xfe);
    assert.equal(canonical("1:2:3:4:5:6:7::"), "1:2:3:4:5:6:7:0");
  });

  it("parses an embedded IPv4 tail", () => {
    const b = parseIPv6("::ffff:198.51.100.1");
    assert.deepEqual([...b!.subarray(10)], [0xff, 0xff, 198, 51, 100, 1]);
    assert.deepEqual(
      [...parseIPv6("64:ff9b::198.51.100.1")!.subarray(12)],
      [198, 51, 100, 1],
    );
    assert.deepEqual(
      parseIPv6("1:2:3:4:5:6:198.51.100.1"),
      parseIPv6("1:2:3:4:5:6:c633:6401"),
    );
  });

  for (
    const bad of [
      ":::",
      "1::2::3",
      "12345::",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1:2:3:4::5:6:7:8",
      "g::1",
      ":1::",
      "1:",
      "::ffff:198.51.100.01",
      "::ffff:198.51.100",
      "1.2.3.4::",
      "1:2:3:4:5:6:7:1.2.3.4",
      "fe80::1%eth0",
      "::1/128",
    ]
  ) {
    it(`rejects "${bad}"`, () => assert.equal(parseIPv6(bad), undefined));
  }
});

describe("formatIP() follows RFC 5952", () => {
  const CASES: [string, string][] = [
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"], // 4.1 leading zeros
    ["2001:DB8::A", "2001:db8::a"], // 4.3 lower case
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // 4.2.2 one 0 group is not compressed
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // 4.2.3 equal runs: the first
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // 4.2.3 the longest run
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["fe80:0:0:0:0:0:0:0", "fe80::"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["0:1:0:0:0:0:0:0", "0:1::"],
  ];
  for (const [input, want] of CASES) {
    it(`formats ${input} as ${want}`, () => assert.equal(canonical(input), want));
  }

  it("formats IPv4 dotted", () => {
    assert.equal(formatIP(new Uint8Array([198, 51, 100, 1])), "198.51.100.1");
  });

  it("formats IPv4-mapped addresses in mixed notation (RFC 5952 section 5), as ip prints them", () => {
    // As inet_ntop and `ip` print it (formatIP() once printed "::ffff:c633:6401").
    assert.equal(canonical("::ffff:198.51.100.1"), "::ffff:198.51.100.1");
  });

  it("throws a RangeError on a length that is not 4 or 16", () => {
    assert.throws(() => formatIP(new Uint8Array(6)), {
      name: "RangeError",
      message: "An IP address has 4 or 16 bytes, not 6",
    });
  });
});

describe("parseCidr()", () => {
  it("keeps the host bits as written", () => {
    const c = parseCidr("198.51.100.7/24");
    assert.deepEqual(c, { family: 4, address: 0xc6336407n, prefixLength: 24 });
    assert.equal(formatCidr(c), "198.51.100.7/24");
    assert.equal(formatCidr(parseCidr("2001:0db8:0::2/64")), "2001:db8::2/64");
  });

  it("accepts /0 and the full length", () => {
    assert.equal(parseCidr("0.0.0.0/0").prefixLength, 0);
    assert.equal(parseCidr("198.51.100.1/32").prefixLength, 32);
    assert.equal(parseCidr("::/0").prefixLength, 0);
    assert.equal(parseCidr("::1/128").prefixLength, 128);
  });

  for (
    const bad of [
      "198.51.100.2",
      "198.51.100.2/",
      "/24",
      "198.51.100.2/33",
      "2001:db8::/129",
      "198.51.100.256/24",
      "198.51.100.2/24/1",
      "198.51.100.2/-1",
      "198.51.100.2/2a",
      "x/24",
      "",
    ]
  ) {
    it(`throws a TypeError quoting "${bad}"`, () => {
      assert.throws(() => parseCidr(bad), {
        name: "TypeError",
        message: `Invalid CIDR "${bad}": expected address/prefix, e.g. "198.51.100.2/24"`,
      });
    });
  }
});

describe("prefix arithmetic", () => {
  it("networkOf() clears the host bits", () => {
    assert.equal(formatCidr(networkOf(parseCidr("198.51.100.7/24"))), "198.51.100.0/24");
    assert.equal(formatCidr(networkOf(parseCidr("198.51.100.7/32"))), "198.51.100.7/32");
    assert.equal(formatCidr(networkOf(parseCidr("198.51.100.7/0"))), "0.0.0.0/0");
    assert.equal(formatCidr(networkOf(parseCidr("2001:db8::2/64"))), "2001:db8::/64");
    assert.equal(formatCidr(networkOf(parseCidr("203.0.113.77/26"))), "203.0.113.64/26");
  });

  it("lastOf() sets the host bits (the IPv4 broadcast)", () => {
    assert.equal(formatAddress(4, lastOf(parseCidr("198.51.100.7/24"))), "198.51.100.255");
    assert.equal(formatAddress(4, lastOf(parseCidr("198.51.100.7/32"))), "198.51.100.7");
    assert.equal(formatAddress(4, lastOf(parseCidr("0.0.0.0/0"))), "255.255.255.255");
    assert.equal(formatAddress(4, lastOf(parseCidr("203.0.113.64/26"))), "203.0.113.127");
    assert.equal(
      formatAddress(6, lastOf(parseCidr("2001:db8::/64"))),
      "2001:db8::ffff:ffff:ffff:ffff",
    );
  });

  it("contains() includes both ends and nothing of the other family", () => {
    const net = parseCidr("198.51.100.0/24");
    const at = (s: string) => parseCidr(`${s}/32`).address;
    assert.equal(contains(net, 4, at("198.51.100.0")), true);
    assert.equal(contains(net, 4, at("198.51.100.255")), true);
    assert.equal(contains(net, 4, at("198.51.101.0")), false);
    assert.equal(contains(net, 4, at("198.51.99.255")), false);
    assert.equal(contains(net, 6, parseCidr("::c633:6401/128").address), false);
  });

  it("overlaps() is true for nested and equal prefixes, false for neighbours", () => {
    const p = parseCidr;
    assert.equal(overlaps(p("198.51.100.0/24"), p("198.51.100.128/25")), true);
    assert.equal(overlaps(p("198.51.100.128/25"), p("198.51.100.0/24")), true);
    assert.equal(overlaps(p("198.51.100.0/24"), p("198.51.100.9/24")), true);
    assert.equal(overlaps(p("198.51.100.0/25"), p("198.51.100.128/25")), false);
    assert.equal(overlaps(p("198.51.100.0/24"), p("203.0.113.0/24")), false);
    assert.equal(overlaps(p("0.0.0.0/0"), p("203.0.113.0/24")), true);
    assert.equal(overlaps(p("2001:db8::/32"), p("2001:db8:1::/48")), true);
    assert.equal(overlaps(p("::/0"), p("0.0.0.0/0")), false);
  });

  it("bytesToBigInt() and bigIntToBytes() are inverse, big-endian", () => {
    assert.equal(bytesToBigInt(new Uint8Array([0, 0, 1, 0])), 256n);
    assert.deepEqual(bigIntToBytes(256n, 4), new Uint8Array([0, 0, 1, 0]));
    const v6 = parseIPv6("2001:db8::ff")!;
    assert.deepEqual(bigIntToBytes(bytesToBigInt(v6), 16), v6);
  });
});

describe("MAC addresses", () => {
  it("parseMac() accepts either case; formatMac() writes lower case with zero padding", () => {
    const b = parseMac("02:42:C6:33:64:0A");
    assert.deepEqual(b, new Uint8Array([2, 0x42, 0xc6, 0x33, 0x64, 0x0a]));
    assert.equal(formatMac(b), "02:42:c6:33:64:0a");
    assert.equal(formatMac(new Uint8Array([1, 2, 3, 4])), "01:02:03:04");
  });

  for (
    const bad of [
      "02:42:c6:33:64",
      "02-42-c6-33-64-02",
      "0242.c633.6402",
      "02:42:c6:33:64:0g",
      "2:42:c6:33:64:02",
    ]
  ) {
    it(`parseMac() throws a TypeError quoting "${bad}"`, () => {
      assert.throws(() => parseMac(bad), {
        name: "TypeError",
        message: `Invalid MAC address "${bad}": expected six hex pairs, e.g. "02:42:c6:33:64:02"`,
      });
    });
  }
});
