// The declarative codec: round trips for every declared message and link kind, and the edge
// cases of attributes (alignment, flags, unknown ids, truncation).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  align4,
  attr,
  attrs,
  be16,
  be32,
  byKind,
  bytes,
  cstring,
  decode,
  encode,
  flag,
  i32,
  list,
  message,
  nested,
  NLA_F_NESTED,
  NLA_F_NET_BYTEORDER,
  pad,
  string,
  struct,
  u16,
  u32,
  u64,
  u8,
} from "../../netlink/codec.ts";
import { RTM_NEWLINK } from "../../netlink/constants.ts";
import { encodeRequest } from "../../netlink/socket.ts";
import { AddrMessage, type AddrMessageValue } from "../../rtnl/messages/address.ts";
import {
  BridgeData,
  IpvlanData,
  LinkInfo,
  LinkMessage,
  type LinkMessageInput,
  type LinkMessageValue,
  MacvlanData,
  VlanData,
  VxlanData,
} from "../../rtnl/messages/link.ts";
import { RouteMessage, type RouteMessageValue } from "../../rtnl/messages/route.ts";
import { ip } from "../../rtnl/messages/types.ts";

const LINK_HEADER = { family: 0, type: 0, index: 0, flags: 0, change: 0 };

function linkRoundTrip(value: LinkMessageValue): void {
  assert.deepEqual(decode(LinkMessage, encode(LinkMessage, value)), value);
}

describe("round trips: decode(M, encode(M, x)) deep-equals x", () => {
  it("LinkMessage with every plain attribute and all header fields", () => {
    linkRoundTrip({
      family: 17,
      type: 1,
      index: 3,
      flags: 0x1003,
      change: 0xffffffff,
      address: "02:42:c6:33:64:02",
      broadcast: "ff:ff:ff:ff:ff:ff",
      ifname: "nsl0a",
      mtu: 1400,
      link: 2,
      qdisc: "noqueue",
      master: 4,
      txqlen: 1000,
      operstate: 6,
      linkmode: 0,
      netnsPid: 1234,
      ifalias: "uplink to the bridge",
      group: 0,
      netnsFd: 4,
      extMask: 1,
      promiscuity: 1,
      numTxQueues: 2,
      numRxQueues: 2,
      carrier: 1,
      carrierChanges: 7,
      linkNetnsid: -1,
      minMtu: 68,
      maxMtu: 65535,
      permAddress: "02:42:c6:33:64:09",
      gsoMaxSize: 65536,
      gsoMaxSegs: 65535,
      groMaxSize: 65536,
      newIfindex: 9,
      targetNetnsid: -2,
    });
  });

  it("ifinfomsg's negative index survives (i32)", () => {
    linkRoundTrip({ ...LINK_HEADER, index: -1 });
  });

  it("a veth with its nested peer message", () => {
    linkRoundTrip({
      ...LINK_HEADER,
      ifname: "nsl0a",
      linkinfo: {
        kind: "veth",
        data: {
          peer: {
            ...LINK_HEADER,
            index: 0,
            flags: 1,
            ifname: "nsl0b",
            mtu: 9000,
            address: "02:42:c6:33:64:03",
            netnsFd: 7,
          },
        },
      },
    });
  });

  const KINDS: [string, Record<string, unknown>][] = [
    ["bridge", {
      forwardDelay: 1500,
      helloTime: 200,
      maxAge: 2000,
      ageingTime: 30000,
      stpState: 1,
      priority: 32768,
      vlanFiltering: 1,
      vlanProtocol: 0x88a8,
      mcastSnooping: 0,
    }],
    ["macvlan", { mode: 4, flags: 1 }],
    ["ipvlan", { mode: 2, flags: 1 }],
    ["vlan", { id: 4094, protocol: 0x8100 }],
    ["vxlan", {
      id: 0xffffff,
      group: "239.1.1.1",
      link: 3,
      local: "198.51.100.1",
      ttl: 64,
      tos: 1,
      learning: 0,
      ageing: 300,
      limit: 10,
      proxy: 1,
      rsc: 1,
      l2miss: 1,
      l3miss: 1,
      port: 4789,
      group6: "ff05::1",
      local6: "2001:db8::1",
      udpCsum: 1,
    }],
  ];
  for (const [kind, data] of KINDS) {
    it(`a ${kind} with every IFLA_INFO_DATA attribute`, () => {
      const value = { ...LINK_HEADER, ifname: `nsl${kind}0`, linkinfo: { kind, data } };
      linkRoundTrip(value as LinkMessageValue);
    });
  }

  it("a link of a kind with no declared data keeps IFLA_INFO_DATA as bytes", () => {
    const data = new Uint8Array([8, 0, 1, 0, 42, 0, 0, 0]);
    const value = { ...LINK_HEADER, ifname: "nslwg0", linkinfo: { kind: "wireguard", data } };
    const back = decode(LinkMessage, encode(LinkMessage, value));
    assert.ok(back.linkinfo?.data instanceof Uint8Array);
    assert.deepEqual(back, value);
  });

  it("a slave kind next to the kind", () => {
    linkRoundTrip({ ...LINK_HEADER, linkinfo: { kind: "veth", slaveKind: "bridge" } });
  });

  it("AddrMessage with every attribute", () => {
    const value: AddrMessageValue = {
      family: 2,
      prefixLength: 24,
      flags: 0x80,
      scope: 0,
      index: 3,
      local: "198.51.100.2",
      address: "198.51.100.2",
      label: "nsl0a:1",
      broadcast: "198.51.100.255",
      anycast: "198.51.100.7",
      cacheinfo: { preferred: 0xffffffff, valid: 0xffffffff, created: 1, updated: 2 },
      multicast: "224.0.0.1",
      addrFlags: 0x282,
      rtPriority: 100,
      proto: 3,
    };
    assert.deepEqual(decode(AddrMessage, encode(AddrMessage, value)), value);
  });

  it("RouteMessage with every attribute", () => {
    const value: RouteMessageValue = {
      family: 10,
      dstLength: 64,
      srcLength: 0,
      tos: 0,
      table: 0,
      protocol: 4,
      scope: 0,
      type: 1,
      flags: 0x10,
      dst: "2001:db8::",
      src: "2001:db8:1::",
      iif: 2,
      oif: 3,
      gateway: "fe80::1",
      priority: 1024,
      prefsrc: "2001:db8::2",
      metrics: new Uint8Array([8, 0, 2, 0, 0xdc, 0x05, 0, 0]),
      multipath: new Uint8Array([16, 0, 0, 0, 3, 0, 0, 0]),
      flow: 5,
      cacheinfo: new Uint8Array(32),
      tableId: 1000,
      mark: 0xdeadbeef,
      pref: 1,
      expires: 60,
    };
    assert.deepEqual(decode(RouteMessage, encode(RouteMessage, value)), value);
  });

  it("be16 writes network byte order: vxlan port 4789 is 0x12 0xb5", () => {
    const b = encode(VxlanData, { port: 4789 });
    assert.deepEqual([...b], [6, 0, 15, 0, 0x12, 0xb5, 0, 0]);
    assert.deepEqual(decode(VxlanData, b), { port: 4789 });
  });

  it("be32 and u32 differ only in byte order", () => {
    const S = attrs({ be: attr(1, be32), le: attr(2, u32) });
    const b = encode(S, { be: 0x01020304, le: 0x01020304 });
    assert.deepEqual([...b.subarray(4, 8)], [1, 2, 3, 4]);
    assert.deepEqual([...b.subarray(12, 16)], [4, 3, 2, 1]);
    assert.deepEqual(decode(S, b), { be: 0x01020304, le: 0x01020304 });
  });

  it("u64 carries the full 64 bits as a bigint", () => {
    const S = attrs({ big: attr(1, u64), small: attr(2, u64) });
    const value = { big: 0xffff_ffff_ffff_fffen, small: 1n };
    const b = encode(S, value);
    assert.equal(b.length, 24);
    assert.deepEqual([...b.subarray(4, 12)], [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.deepEqual(decode(S, b), value);
  });

  it("a u64 struct field defaults to 0n", () => {
    const S = struct({ a: u8, _pad: pad(7), b: u64 });
    assert.equal(S.size, 16);
    assert.deepEqual(decode(S, encode(S, { a: 1 })), { a: 1, b: 0n });
  });

  it("flag attributes are 4 bytes with no payload, present means true", () => {
    const S = attrs({ on: attr(1, flag), other: attr(2, u8) });
    const b = encode(S, { on: true, other: 5 });
    assert.deepEqual([...b], [4, 0, 1, 0, 5, 0, 2, 0, 5, 0, 0, 0]);
    assert.deepEqual(decode(S, b), { on: true, other: 5 });
    assert.deepEqual(decode(S, encode(S, { other: 5 })), { other: 5 });
  });

  it("i32 keeps negative values (IFLA_LINK_NETNSID -1)", () => {
    const S = attrs({ n: attr(1, i32) });
    assert.deepEqual([...encode(S, { n: -1 })], [8, 0, 1, 0, 0xff, 0xff, 0xff, 0xff]);
    assert.deepEqual(decode(S, encode(S, { n: -1 })), { n: -1 });
  });

  it("cstring carries UTF-8 and its NUL", () => {
    const S = attrs({ s: attr(1, cstring) });
    const text = "héllo ✓ 😀";
    const b = encode(S, { s: text });
    const utf8 = new TextEncoder().encode(text);
    assert.equal(new DataView(b.buffer).getUint16(0, true), 4 + utf8.length + 1);
    assert.deepEqual([...b.subarray(4, 4 + utf8.length)], [...utf8]);
    assert.equal(b[4 + utf8.length], 0);
    assert.deepEqual(decode(S, b), { s: text });
  });

  it("cstring decodes long ASCII and stops at the first NUL", () => {
    const S = attrs({ s: attr(1, cstring) });
    const long = "x".repeat(200);
    assert.deepEqual(decode(S, encode(S, { s: long })), { s: long });
    const b = new Uint8Array([12, 0, 1, 0, 0x61, 0x62, 0, 0x63, 0x64, 0, 0, 0]);
    assert.deepEqual(decode(S, b), { s: "ab" });
  });

  it("string (IFLA_INFO_KIND) is sent without a NUL and decodes with or without one", () => {
    const b = encode(LinkInfo, { kind: "vxlan" });
    assert.deepEqual([...b], [9, 0, 1, 0, 0x76, 0x78, 0x6c, 0x61, 0x6e, 0, 0, 0]);
    // The kernel sends the kind with its NUL ("bridge\0", length 11).
    const kernel = new Uint8Array([11, 0, 1, 0, 0x62, 0x72, 0x69, 0x64, 0x67, 0x65, 0, 0]);
    assert.deepEqual(decode(LinkInfo, kernel), { kind: "bridge" });
  });

  it("odd-length attributes are padded to 4 bytes and the next one stays aligned", () => {
    const S = attrs({ a: attr(1, u8), s: attr(2, cstring), w: attr(3, u16), z: attr(4, u32) });
    const b = encode(S, { a: 0xaa, s: "abc", w: 0xbbcc, z: 0xdd });
    assert.deepEqual([...b], [
      5,
      0,
      1,
      0,
      0xaa,
      0,
      0,
      0, // u8: length 5, 3 bytes of padding
      8,
      0,
      2,
      0,
      0x61,
      0x62,
      0x63,
      0, // "abc\0": length 8, no padding
      6,
      0,
      3,
      0,
      0xcc,
      0xbb,
      0,
      0, // u16: length 6, 2 bytes of padding
      8,
      0,
      4,
      0,
      0xdd,
      0,
      0,
      0,
    ]);
    assert.deepEqual(decode(S, b), { a: 0xaa, s: "abc", w: 0xbbcc, z: 0xdd });
  });

  it("the nlmsg_len of a request counts the padding of its last attribute", () => {
    const b = encodeRequest(RTM_NEWLINK, 5, 0, LinkMessage, { ifname: "nsl0a" });
    // 16 nlmsghdr + 16 ifinfomsg + 10 for "nsl0a\0" padded to 12
    assert.equal(b.length, 44);
    assert.equal(new DataView(b.buffer).getUint32(0, true), 44);
  });
});

describe("encoding", () => {
  it("writes attributes in the order of the value's keys", () => {
    const a = encode(LinkMessage, { mtu: 1400, ifname: "x" });
    const b = encode(LinkMessage, { ifname: "x", mtu: 1400 });
    assert.deepEqual([...a.subarray(16, 20)], [8, 0, 4, 0]);
    assert.deepEqual([...b.subarray(16, 20)], [6, 0, 3, 0]);
    assert.deepEqual(decode(LinkMessage, a), decode(LinkMessage, b));
  });

  it("header fields left out are written as zero", () => {
    const b = encode(LinkMessage, { index: 3 });
    assert.deepEqual([...b], [0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("attributes set to undefined are left out", () => {
    const value: LinkMessageInput = { index: 3, mtu: undefined, ifname: "x" };
    assert.deepEqual(decode(LinkMessage, encode(LinkMessage, value)), {
      ...LINK_HEADER,
      index: 3,
      ifname: "x",
    });
  });

  it("an unknown attribute key throws a TypeError naming the key", () => {
    const bad = { ifname: "x", mtuu: 1400 } as unknown as LinkMessageInput;
    assert.throws(() => encode(LinkMessage, bad), (e: unknown) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^Unknown attribute "mtuu"; declared: address, broadcast, ifname/);
      return true;
    });
  });

  it("an unknown key inside a nest throws too", () => {
    const bad = { linkinfo: { kind: "vlan", data: { vid: 10 } } } as unknown as LinkMessageInput;
    assert.throws(
      () => encode(LinkMessage, bad),
      /Unknown attribute "vid"; declared: id, protocol/,
    );
  });

  it("writes declared flags such as NLA_F_NESTED into the type", () => {
    const S = attrs({ n: attr(1, nested(attrs({ x: attr(1, u8) })), NLA_F_NESTED) });
    const b = encode(S, { n: { x: 7 } });
    assert.equal(new DataView(b.buffer).getUint16(2, true), 0x8001);
    assert.deepEqual(decode(S, b), { n: { x: 7 } });
  });

  it("byKind picks the codec from the sibling whatever the key order", () => {
    const b = encode(LinkInfo, { data: { id: 10 }, kind: "vlan" });
    // IFLA_INFO_DATA first: the decoder waits for IFLA_INFO_KIND.
    assert.equal(new DataView(b.buffer).getUint16(2, true), 2);
    assert.deepEqual(decode(LinkInfo, b), { data: { id: 10 }, kind: "vlan" });
  });

  it("byKind without a kind encodes and decodes raw bytes", () => {
    const data = new Uint8Array([1, 2, 3]);
    const b = encode(LinkInfo, { data });
    assert.deepEqual(decode(LinkInfo, b), { data });
  });

  it("reserves headroom in front when asked", () => {
    const b = encode(u32, 0x01020304, 16);
    assert.equal(b.length, 20);
    assert.deepEqual([...b.subarray(0, 16)], new Array(16).fill(0));
    assert.deepEqual([...b.subarray(16)], [4, 3, 2, 1]);
  });

  it("the ip codec rejects a bad address with a TypeError quoting it", () => {
    assert.throws(
      () => encode(AddrMessage, { local: "198.51.100.300" }),
      { name: "TypeError", message: 'Invalid IP address "198.51.100.300"' },
    );
  });

  it("the mac codec rejects a bad address with a TypeError quoting it", () => {
    assert.throws(
      () => encode(LinkMessage, { address: "02:42:c6:33:64" }),
      (e: unknown) => e instanceof TypeError && e.message.includes('"02:42:c6:33:64"'),
    );
  });

  it("align4() rounds up to 4", () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 8, 9].map(align4), [0, 4, 4, 4, 4, 8, 8, 12]);
  });

  it("cstring reserves room for a lone surrogate as TextEncoder writes it (U+FFFD)", () => {
    // TextEncoder writes a lone high surrogate as U+FFFD (3 bytes) plus the next char.
    // utf8Length() once counted it as 4 bytes and skipped that char: the attribute came out too
    // short, without its NUL, and could overwrite the next attribute.
    const S = attrs({ s: attr(1, cstring), n: attr(2, cstring) });
    const text = "\ud800€".repeat(8);
    const b = encode(S, { s: text, n: "x" });
    const want = new TextEncoder().encode(text).length + 1;
    assert.equal(new DataView(b.buffer).getUint16(0, true), 4 + want);
    assert.deepEqual(decode(S, b), { s: "\ufffd€".repeat(8), n: "x" });
  });
});

describe("declarations", () => {
  it("a duplicate attribute id throws at declaration, naming both keys", () => {
    assert.throws(
      () => attrs({ mtu: attr(4, u32), mtu2: attr(4, u32) }),
      { name: "TypeError", message: 'Attribute id 4 declared twice ("mtu" and "mtu2")' },
    );
  });

  it("attribute ids must be 1 to 0x3fff", () => {
    assert.throws(() => attr(0, u8), { name: "RangeError", message: "Invalid attribute id 0" });
    assert.throws(() => attr(0x4000, u8), RangeError);
    assert.equal(attr(0x3fff, u8).id, 0x3fff);
  });

  it("a header field and an attribute cannot share a name", () => {
    assert.throws(
      () => message(struct({ index: u32 }), attrs({ index: attr(1, u32) })),
      { name: "TypeError", message: '"index" is both a header field and an attribute' },
    );
  });

  it("struct sizes add up in declaration order, padding included", () => {
    const S = struct({ a: u8, _p: pad(1), b: u16, c: i32, d: be16, e: be32 });
    assert.equal(S.size, 14);
    assert.deepEqual(S.names, ["a", "b", "c", "d", "e"]);
  });
});

describe("decoding", () => {
  const S = attrs({ a: attr(1, u32), b: attr(2, u16) });

  it("skips attributes with unknown ids", () => {
    const b = new Uint8Array([
      8,
      0,
      1,
      0,
      1,
      0,
      0,
      0,
      8,
      0,
      0xf0,
      0x3f,
      9,
      9,
      9,
      9, // id 0x3ff0: not declared
      5,
      0,
      0x99,
      0,
      9,
      0,
      0,
      0, // id 0x99: not declared, odd length
      6,
      0,
      2,
      0,
      2,
      0,
      0,
      0,
    ]);
    assert.deepEqual(decode(S, b), { a: 1, b: 2 });
  });

  it("masks NLA_F_NESTED and NLA_F_NET_BYTEORDER off the type", () => {
    const b = new Uint8Array([
      8,
      0,
      1,
      NLA_F_NET_BYTEORDER >> 8,
      1,
      0,
      0,
      0,
      6,
      0,
      2,
      NLA_F_NESTED >> 8,
      2,
      0,
      0,
      0,
    ]);
    assert.deepEqual(decode(S, b), { a: 1, b: 2 });
  });

  it("reads a modern sender's IFLA_LINKINFO with NLA_F_NESTED set", () => {
    const plain = encode(LinkMessage, { linkinfo: { kind: "vlan", data: { id: 10 } } });
    const dv = new DataView(plain.buffer);
    dv.setUint16(16 + 2, dv.getUint16(16 + 2, true) | NLA_F_NESTED, true); // IFLA_LINKINFO
    dv.setUint16(16 + 4 + 8 + 2, 2 | NLA_F_NESTED, true); // IFLA_INFO_DATA after "vlan"
    assert.deepEqual(decode(LinkMessage, plain).linkinfo, { kind: "vlan", data: { id: 10 } });
  });

  it("throws NetlinkDecodeError, with the offset, on a payload shorter than its type", () => {
    const b = new Uint8Array([6, 0, 1, 0, 1, 0, 0, 0]); // u32 with 2 bytes
    assert.throws(() => decode(S, b), {
      name: "NetlinkDecodeError",
      message: "Malformed netlink message at byte 4: attribute payload of 2 bytes, needs 4",
      offset: 4,
    });
  });

  it("throws NetlinkDecodeError on a struct attribute that is too short", () => {
    const b = new Uint8Array([12, 0, 6, 0, 1, 0, 0, 0, 2, 0, 0, 0]); // IFA_CACHEINFO, 8 of 16
    assert.throws(() => decode(AddrMessage, new Uint8Array([...new Uint8Array(8), ...b])), {
      name: "NetlinkDecodeError",
      message: "Malformed netlink message at byte 12: struct of 8 bytes, needs 16",
      offset: 12,
    });
  });

  it("throws NetlinkDecodeError on a message shorter than its header", () => {
    assert.throws(() => decode(LinkMessage, new Uint8Array(12)), {
      name: "NetlinkDecodeError",
      message: "Malformed netlink message at byte 0: message body of 12 bytes, its header needs 16",
    });
  });

  it("throws NetlinkDecodeError on an attribute whose length runs past the end", () => {
    const b = new Uint8Array([8, 0, 1, 0, 1, 0, 0, 0, 12, 0, 2, 0, 2, 0]);
    assert.throws(() => decode(S, b), {
      name: "NetlinkDecodeError",
      message:
        "Malformed netlink message at byte 8: attribute length 12 runs 6 bytes past its container",
      offset: 8,
    });
  });

  it("throws NetlinkDecodeError on an attribute length below 4", () => {
    const b = new Uint8Array([8, 0, 1, 0, 1, 0, 0, 0, 2, 0, 2, 0, 6, 0, 2, 0, 2, 0, 0, 0]);
    assert.throws(() => decode(S, b), {
      name: "NetlinkDecodeError",
      message: "Malformed netlink message at byte 8: attribute length 2 is below 4",
    });
  });

  it("throws NetlinkDecodeError on an IP address of the wrong size", () => {
    const R = attrs({ dst: attr(1, ip) });
    assert.throws(() => decode(R, new Uint8Array([7, 0, 1, 0, 1, 2, 3, 0])), {
      name: "NetlinkDecodeError",
      message: "Malformed netlink message at byte 4: an IP address of 3 bytes (4 or 16 expected)",
    });
  });

  it("refuses to encode an attribute longer than nla_len can hold", () => {
    const B = attrs({ raw: attr(1, bytes) });
    assert.throws(() => encode(B, { raw: new Uint8Array(65532) }), {
      name: "RangeError",
      message: 'Attribute "raw" would be 65536 bytes: more than the 65535 that nla_len can hold',
    });
    assert.equal(encode(B, { raw: new Uint8Array(65531) }).length, 65536);
    const L = list(1, bytes);
    assert.throws(() => encode(L, [new Uint8Array(70000)]), /nla_len/);
  });

  it("respects the byteOffset of a view", () => {
    const inner = encode(S, { a: 7, b: 8 });
    const outer = new Uint8Array(inner.length + 5);
    outer.set(inner, 5);
    assert.deepEqual(decode(S, outer.subarray(5)), { a: 7, b: 8 });
  });

  it("bytes are copied, not views of the receive buffer", () => {
    const B = attrs({ raw: attr(1, bytes) });
    const buf = encode(B, { raw: new Uint8Array([1, 2, 3, 4]) });
    const v = decode(B, buf);
    buf[4] = 99;
    assert.deepEqual(v.raw, new Uint8Array([1, 2, 3, 4]));
  });

  it("decodes the vlan, macvlan, ipvlan and bridge data sets on their own", () => {
    assert.deepEqual(decode(VlanData, encode(VlanData, { id: 10 })), { id: 10 });
    assert.deepEqual(decode(MacvlanData, encode(MacvlanData, { mode: 4 })), { mode: 4 });
    assert.deepEqual(decode(IpvlanData, encode(IpvlanData, { mode: 1 })), { mode: 1 });
    assert.deepEqual(decode(BridgeData, encode(BridgeData, { stpState: 1 })), { stpState: 1 });
  });
});

describe("byKind()", () => {
  const Info = attrs({
    kind: attr(1, string),
    data: attr(2, byKind("kind", { one: attrs({ x: attr(1, u8) }) })),
  });

  it("a kind named like an Object.prototype member is an unknown kind (bytes)", () => {
    const raw = new Uint8Array([5, 0, 1, 0, 1, 0, 0, 0]);
    for (const kind of ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]) {
      const bytes = encode(Info, { kind, data: raw });
      assert.deepEqual(decode(Info, bytes), { kind, data: raw }, kind);
      const link = decode(LinkMessage, encode(LinkMessage, { linkinfo: { kind, data: raw } }));
      assert.deepEqual(link.linkinfo, { kind, data: raw }, kind);
    }
  });

  it("decodes a known kind with its codec and an unknown kind as bytes", () => {
    assert.deepEqual(decode(Info, encode(Info, { kind: "one", data: { x: 1 } })), {
      kind: "one",
      data: { x: 1 },
    });
    const raw = new Uint8Array([5, 0, 1, 0, 1, 0, 0, 0]);
    const back = decode(Info, encode(Info, { kind: "two", data: raw }));
    assert.deepEqual(back, { kind: "two", data: raw });
  });
});
