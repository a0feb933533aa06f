// Decoders on real kernel output: the dumps and replies captured in tests/fixtures/.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decode, encode } from "../../netlink/codec.ts";
import {
  IFA_F_NODAD,
  IFA_F_PERMANENT,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_DUMP_FILTERED,
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
} from "../../netlink/constants.ts";
import { NetlinkDecodeError, NetlinkError } from "../../netlink/errors.ts";
import { nlmsghdr, parseAck, splitDatagram } from "../../netlink/header.ts";
import type { NetlinkTransport, RawMessage } from "../../netlink/socket.ts";
import { AddrOps } from "../../rtnl/address.ts";
import { LinkOps, toLink } from "../../rtnl/link.ts";
import { AddrMessage } from "../../rtnl/messages/address.ts";
import { LinkMessage, LinkViewMessage } from "../../rtnl/messages/link.ts";
import { RouteMessage } from "../../rtnl/messages/route.ts";
import { RouteOps } from "../../rtnl/route.ts";
import {
  hexLines,
  loadDatagrams,
  loadDumpMessages,
  loadHex,
  type SplitMessage,
  splitMessages,
} from "./_fixtures.ts";
import { RecordingTransport } from "./_recorder.ts";

function raw(messages: SplitMessage[]): RawMessage[] {
  return messages.filter((m) => m.type !== NLMSG_DONE).map((m) => ({
    type: m.type,
    flags: m.flags,
    payload: m.payload,
  }));
}

/** An NLMSG_ERROR taken apart by the library's own pure functions (what the socket runs). */
function parseError(bytes: Uint8Array) {
  const [m] = splitDatagram(bytes, bytes.length);
  assert.equal(m.type, NLMSG_ERROR);
  const ack = parseAck(m.type, m.flags, bytes.subarray(m.start, m.end));
  const echoedHeader = decode(nlmsghdr, ack.echo.subarray(0, 16));
  return { message: m, error: ack.error, echoedHeader, echo: ack.echo, ack };
}

/** The echoed request with seq and pid zeroed, as the request fixtures store it. */
function zeroSeqPid(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  out.fill(0, 8, 16);
  return out;
}

describe("link-show.dump.hex: ip link show", () => {
  const messages = loadDumpMessages("link-show.dump.hex");

  it("splits into 2 datagrams: 4 x RTM_NEWLINK, then NLMSG_DONE", () => {
    const datagrams = loadDatagrams("link-show.dump.hex");
    assert.equal(datagrams.length, 2);
    assert.deepEqual(
      datagrams.map((d) => splitMessages(d).map((m) => m.type)),
      [[RTM_NEWLINK, RTM_NEWLINK, RTM_NEWLINK, RTM_NEWLINK], [NLMSG_DONE]],
    );
    for (const m of messages) assert.equal(m.flags & NLM_F_MULTI, NLM_F_MULTI);
    // Every reply carries the dump's sequence number.
    assert.deepEqual(new Set(messages.map((m) => m.seq)), new Set([1795917128]));
  });

  it("toLink() decodes lo, the veth pair and the bridge", () => {
    const links = messages.filter((m) => m.type === RTM_NEWLINK).map((m) =>
      toLink(decode(LinkMessage, m.payload))
    );
    assert.deepEqual(links.map((l) => [l.index, l.name, l.kind]), [
      [1, "lo", undefined],
      [2, "nsl0b", "veth"],
      [3, "nsl0a", "veth"],
      [4, "nslbr0", "bridge"],
    ]);
    const [lo, nsl0b, nsl0a, br] = links;
    assert.deepEqual(lo, {
      index: 1,
      name: "lo",
      flags: 0x10049, // UP|LOOPBACK|RUNNING|LOWER_UP
      up: true,
      mtu: 65536,
      operstate: "unknown",
      mac: "00:00:00:00:00:00",
      txqlen: 1000,
    });
    assert.deepEqual(nsl0b, {
      index: 2,
      name: "nsl0b",
      kind: "veth",
      flags: 0x1002, // BROADCAST|MULTICAST: left down
      up: false,
      mtu: 1500,
      operstate: "down",
      mac: "02:42:c6:33:64:03",
      parent: 3,
      txqlen: 1000,
    });
    assert.deepEqual(nsl0a, {
      index: 3,
      name: "nsl0a",
      kind: "veth",
      flags: 0x1003, // UP|BROADCAST|MULTICAST, no carrier
      up: true,
      mtu: 1400,
      operstate: "lowerlayerdown",
      mac: "02:42:c6:33:64:02",
      master: 4,
      parent: 2,
      txqlen: 1000,
    });
    assert.equal(br.up, true);
    assert.equal(br.mtu, 1400);
    assert.equal(br.mac, "02:42:c6:33:64:02");
    assert.equal(br.operstate, "down");
    assert.equal(br.master, undefined);
  });

  it("decodes the bridge's IFLA_INFO_DATA and nsl0a's slave kind and hairpin mode", () => {
    const [, , nsl0a, br] = messages.filter((m) => m.type === RTM_NEWLINK).map((m) =>
      decode(LinkMessage, m.payload)
    );
    assert.deepEqual(nsl0a.linkinfo, { kind: "veth", slaveKind: "bridge", slaveData: { mode: 0 } });
    assert.equal(br.linkinfo?.kind, "bridge");
    assert.deepEqual(toLink(br).data, {
      forwardDelay: 1500,
      helloTime: 200,
      maxAge: 2000,
      ageingTime: 30000,
      stpState: 0,
      priority: 32768,
      vlanFiltering: 0,
      mcastSnooping: 1,
    });
  });

  it("reads the same Link through LinkViewMessage as through the full LinkMessage", () => {
    const links = messages.filter((m) => m.type === RTM_NEWLINK);
    assert.ok(links.length >= 4);
    for (const m of links) {
      assert.deepEqual(
        toLink(decode(LinkViewMessage, m.payload)),
        toLink(decode(LinkMessage, m.payload)),
      );
    }
  });

  it("decodes the other IFLA_* attributes the kernel sends", () => {
    const [lo, , nsl0a] = messages.filter((m) => m.type === RTM_NEWLINK).map((m) =>
      decode(LinkMessage, m.payload)
    );
    assert.equal(lo.qdisc, "noqueue");
    assert.equal(nsl0a.broadcast, "ff:ff:ff:ff:ff:ff");
    assert.equal(nsl0a.minMtu, 68);
    assert.equal(nsl0a.maxMtu, 65535);
    assert.equal(nsl0a.carrier, 0);
    assert.equal(nsl0a.promiscuity, 1); // a bridge port
    assert.equal(nsl0a.numTxQueues, 2);
    assert.equal(nsl0a.numRxQueues, 2);
    assert.equal(nsl0a.gsoMaxSize, 65536);
    assert.equal(nsl0a.type, 1); // ARPHRD_ETHER
    assert.equal(nsl0a.group, 0);
  });

  it("LinkOps.list() returns the 4 links from the dump replies", () => {
    const rec = new RecordingTransport({ dumps: { [RTM_GETLINK]: raw(messages) } });
    const links = new LinkOps(rec).list();
    assert.deepEqual(links.map((l) => `${l.index}:${l.name}`), [
      "1:lo",
      "2:nsl0b",
      "3:nsl0a",
      "4:nslbr0",
    ]);
    assert.equal(links[2].master, links[3].index);
  });
});

describe("addr-show-*.dump.hex: ip -4 / -6 addr show", () => {
  it("decodes 127.0.0.1/8 and 198.51.100.2/24 with IFA_LOCAL, label and cacheinfo", () => {
    const msgs = loadDumpMessages("addr-show-4.dump.hex");
    assert.deepEqual(msgs.map((m) => m.type), [RTM_NEWADDR, RTM_NEWADDR, NLMSG_DONE]);
    const v = decode(AddrMessage, msgs[1].payload);
    assert.equal(v.family, 2);
    assert.equal(v.prefixLength, 24);
    assert.equal(v.index, 3);
    assert.equal(v.scope, 0);
    assert.equal(v.local, "198.51.100.2");
    assert.equal(v.address, "198.51.100.2");
    assert.equal(v.label, "nsl0a");
    assert.equal(v.addrFlags, IFA_F_PERMANENT);
    assert.equal(v.cacheinfo?.valid, 0xffffffff); // forever
  });

  it("AddrOps.list() turns the IPv4 dump into addresses", () => {
    const rec = new RecordingTransport({
      dumps: { [RTM_GETADDR]: raw(loadDumpMessages("addr-show-4.dump.hex")) },
    });
    const ops = new AddrOps(rec, new LinkOps(rec));
    assert.deepEqual(ops.list({ family: 4 }), [
      {
        index: 1,
        family: 4,
        cidr: "127.0.0.1/8",
        address: "127.0.0.1",
        prefixLength: 8,
        scope: "host",
        flags: IFA_F_PERMANENT,
        label: "lo",
      },
      {
        index: 3,
        family: 4,
        cidr: "198.51.100.2/24",
        address: "198.51.100.2",
        prefixLength: 24,
        scope: "global",
        flags: IFA_F_PERMANENT,
        label: "nsl0a",
      },
    ]);
    assert.equal(rec.sent[0].bytes[16], 2); // ifa_family AF_INET
  });

  it("AddrOps.list() turns the IPv6 dump (one datagram, DONE included) into addresses", () => {
    assert.equal(loadDatagrams("addr-show-6.dump.hex").length, 1);
    const rec = new RecordingTransport({
      dumps: { [RTM_GETADDR]: raw(loadDumpMessages("addr-show-6.dump.hex")) },
    });
    const ops = new AddrOps(rec, new LinkOps(rec));
    assert.deepEqual(
      ops.list({ family: 6 }).map((a) => [a.index, a.cidr, a.scope, a.flags]),
      [
        [1, "::1/128", "host", IFA_F_PERMANENT],
        [3, "2001:db8::2/64", "global", IFA_F_PERMANENT | IFA_F_NODAD],
      ],
    );
  });

  it("AddrOps.list({ dev }) keeps the addresses of that link only", () => {
    const rec = new RecordingTransport({
      dumps: { [RTM_GETADDR]: raw(loadDumpMessages("addr-show-6.dump.hex")) },
    });
    const ops = new AddrOps(rec, new LinkOps(rec));
    assert.deepEqual(ops.list({ dev: 3 }).map((a) => a.cidr), ["2001:db8::2/64"]);
  });

  it("decodes IFA_PROTO on ::1 (kernel-added address)", () => {
    const [lo] = loadDumpMessages("addr-show-6.dump.hex");
    const v = decode(AddrMessage, lo.payload);
    assert.equal(v.address, "::1");
    assert.equal(v.local, undefined);
    assert.equal(v.proto, 1);
  });
});

describe("route-show-*.dump.hex: ip route show", () => {
  it("decodes the IPv4 prefix route with RTA_TABLE, RTA_PREFSRC and RTNH_F_LINKDOWN", () => {
    const msgs = loadDumpMessages("route-show-4.dump.hex");
    assert.deepEqual(msgs.map((m) => m.type), [RTM_NEWROUTE, NLMSG_DONE]);
    assert.equal(msgs[0].flags, NLM_F_MULTI | NLM_F_DUMP_FILTERED);
    assert.deepEqual(decode(RouteMessage, msgs[0].payload), {
      family: 2,
      dstLength: 24,
      srcLength: 0,
      tos: 0,
      table: 254,
      protocol: 2,
      scope: 253,
      type: 1,
      flags: 0x10, // RTNH_F_LINKDOWN
      tableId: 254,
      dst: "198.51.100.0",
      prefsrc: "198.51.100.2",
      oif: 3,
    });
  });

  it("RouteOps.list() turns the IPv4 dump into routes", () => {
    const rec = new RecordingTransport({
      dumps: { [RTM_GETROUTE]: raw(loadDumpMessages("route-show-4.dump.hex")) },
    });
    const ops = new RouteOps(rec, new LinkOps(rec));
    assert.deepEqual(ops.list({ family: 4 }), [{
      family: 4,
      dst: "198.51.100.0/24",
      table: 254,
      protocol: 2,
      scope: 253,
      type: 1,
      oif: 3,
      prefsrc: "198.51.100.2",
    }]);
  });

  it("RouteOps.list() turns the IPv6 dump into routes, with the metric", () => {
    const rec = new RecordingTransport({
      dumps: { [RTM_GETROUTE]: raw(loadDumpMessages("route-show-6-main.dump.hex")) },
    });
    const ops = new RouteOps(rec, new LinkOps(rec));
    assert.deepEqual(ops.list({ family: 6 }), [{
      family: 6,
      dst: "2001:db8::/64",
      table: 254,
      protocol: 2,
      scope: 0,
      type: 1,
      oif: 3,
      metric: 256,
    }]);
  });

  it("RouteOps.list() drops routes of other tables", () => {
    const rec = new RecordingTransport({
      dumps: { [RTM_GETROUTE]: raw(loadDumpMessages("route-show-4.dump.hex")) },
    });
    const ops = new RouteOps(rec, new LinkOps(rec));
    assert.deepEqual(ops.list({ family: 4, table: 100 }), []);
  });
});

describe("error and ACK replies", () => {
  it("error-eexist.reply.hex decodes to -17 and echoes the whole request", () => {
    const e = parseError(loadHex("error-eexist.reply.hex"));
    assert.equal(e.error, -17);
    assert.equal(e.message.flags, 0);
    assert.deepEqual(e.echoedHeader, {
      len: 92,
      type: RTM_NEWLINK,
      flags: 0x605,
      seq: 1795917133,
      pid: 0,
    });
    // The echo is iproute2's request: the golden fixture, byte for byte.
    assert.deepEqual(hexLines(zeroSeqPid(e.echo)), hexLines(loadHex("link-add-veth.hex")));
    const err = new NetlinkError("RTM_NEWLINK", 'veth "nsl0a"', -e.error);
    assert.equal(err.message, 'RTM_NEWLINK veth "nsl0a": EEXIST (File exists)');
  });

  it("error-enodev.reply.hex decodes to -19 for the RTM_GETLINK name lookup", () => {
    const e = parseError(loadHex("error-enodev.reply.hex"));
    assert.equal(e.error, -19);
    assert.equal(e.echoedHeader.type, RTM_GETLINK);
    const lookup = decode(LinkMessage, e.echo.subarray(16));
    assert.equal(lookup.ifname, "nslnope0");
    assert.equal(lookup.extMask, 9);
    const err = new NetlinkError("RTM_GETLINK", 'link "nslnope0"', -e.error);
    assert.equal(err.message, 'RTM_GETLINK link "nslnope0": ENODEV (No such device)');
    assert.equal(err.code, "ENODEV");
  });

  it("error-extack-mtu.reply.hex decodes to -22 with the extack text", () => {
    const e = parseError(loadHex("error-extack-mtu.reply.hex"));
    assert.equal(e.error, -22);
    assert.equal(e.message.flags, NLM_F_ACK_TLVS);
    assert.equal(e.ack.extack, "mtu greater than device maximum");
    assert.equal(e.ack.extackOffset, undefined);
    // The echoed request is what LinkOps.set(3, { mtu: 70000 }) would send, but for the MTU
    // check: build it with the schema.
    const rec = new RecordingTransport();
    assert.throws(() => new LinkOps(rec).set(3, { mtu: 70000 }), RangeError);
    const err = new NetlinkError("RTM_NEWLINK", "link 3", -e.error, e.ack.extack);
    assert.equal(
      err.message,
      "RTM_NEWLINK link 3: EINVAL (Invalid argument): mtu greater than device maximum",
    );
    assert.equal(err.extack, "mtu greater than device maximum");
  });

  it("error-extack-mtu.reply.hex echoes ip's mtu request", () => {
    const e = parseError(loadHex("error-extack-mtu.reply.hex"));
    const expected = loadHex("link-set-mtu.hex");
    new DataView(expected.buffer).setUint32(36, 70000, true);
    assert.deepEqual(hexLines(zeroSeqPid(e.echo)), hexLines(expected));
  });

  it("ack-link-add-veth.reply.hex is error 0 with a capped echo (header only)", () => {
    const e = parseError(loadHex("ack-link-add-veth.reply.hex"));
    assert.equal(e.error, 0);
    assert.equal(e.message.flags, NLM_F_CAPPED);
    assert.equal(e.message.len, 36);
    assert.equal(e.echo.length, 16);
    assert.equal(e.echoedHeader.len, 92);
    assert.equal(e.echoedHeader.type, RTM_NEWLINK);
  });
});

describe("splitMessages()", () => {
  it("rejects an nlmsg_len that runs past the datagram", () => {
    const bad = loadHex("ack-link-add-veth.reply.hex").slice(0, 30);
    assert.throws(() => splitMessages(bad), /Bad nlmsg_len 36 at offset 0 of 30/);
  });
});

describe("short and malformed replies", () => {
  it("LinkOps.index() refuses a reply shorter than ifinfomsg with NetlinkDecodeError", () => {
    const short: NetlinkTransport = {
      request: () => [{ type: RTM_NEWLINK, flags: 0, payload: new Uint8Array(6) }],
      dump: () => [],
    };
    assert.throws(() => new LinkOps(short).index("eth0"), (e: unknown) => {
      assert.ok(e instanceof NetlinkDecodeError, String(e));
      assert.match(e.message, /RTM_NEWLINK reply for link "eth0" of 6 bytes: ifinfomsg needs 16/);
      return true;
    });
  });

  it("a route with a prefix length but no RTA_DST is refused, not listed as undefined/24", () => {
    const payload = encode(RouteMessage, { family: 2, dstLength: 24, table: 254, type: 1 });
    const rec = new RecordingTransport({
      dumps: { [RTM_GETROUTE]: [{ type: RTM_NEWROUTE, flags: 2, payload }] },
    });
    assert.throws(
      () => new RouteOps(rec, new LinkOps(rec)).list({ family: 4 }),
      (e: unknown) => e instanceof NetlinkDecodeError && /no RTA_DST/.test(e.message),
    );
  });
});
