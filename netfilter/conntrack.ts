/**
 * Conntrack entries over ctnetlink (`NFNL_SUBSYS_CTNETLINK`): NAT is decided on a flow's first
 * packet, so a UDP flow the kernel saw before its port was published would stay un-NATed until
 * it times out. nslink lists the entries for the port and deletes them (`IPCTNL_MSG_CT_DELETE`),
 * as `conntrack -D -p udp --dport PORT` does.
 *
 * @module
 */
import { decode } from "../netlink/codec.ts";
import { NetlinkError } from "../netlink/errors.ts";
import { nameMessageTypes } from "../netlink/header.ts";
import type { NetlinkSocket } from "../netlink/socket.ts";
import { bytesToBigInt, contains, formatIP, parseCidr, parseIP } from "../net/ip.ts";
import * as C from "./constants.ts";
import { CtMessage } from "./messages.ts";

const CT = (t: number) => (C.NFNL_SUBSYS_CTNETLINK << 8) | t;
nameMessageTypes({
  [CT(C.IPCTNL_MSG_CT_GET)]: "IPCTNL_MSG_CT_GET",
  [CT(C.IPCTNL_MSG_CT_DELETE)]: "IPCTNL_MSG_CT_DELETE",
});

/** Which flows to delete: by protocol, original destination port and, optionally, address. */
export interface ConntrackFilter {
  /** IP protocol number (`IPPROTO_UDP`). */
  protocol: number;
  /** Original destination port (the published host port). */
  dstPort: number;
  /** Original destination address; absent: any. */
  dstIP?: string;
}

/** One conntrack entry's original direction, as listed. */
export interface ConntrackFlow {
  /** Protocol number. */
  protocol: number;
  /** Source address. */
  src: string;
  /** Destination address. */
  dst: string;
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
}

/**
 * Lists conntrack entries (both families) as their original tuples.
 *
 * @example
 * ```ts ignore
 * listFlows(nft.socket).filter((f) => f.dstPort === 5353);
 * ```
 * @param sock A `NETLINK_NETFILTER` socket in the namespace.
 * @returns The flows.
 */
export function listFlows(sock: NetlinkSocket): ConntrackFlow[] {
  const out: ConntrackFlow[] = [];
  for (
    const m of sock.dump(CT(C.IPCTNL_MSG_CT_GET), CtMessage, { family: 0 }, {
      object: "conntrack table",
    })
  ) {
    const ct = decode(CtMessage, m.payload);
    const o = ct.orig;
    const src = o?.ip?.v4src ?? o?.ip?.v6src;
    const dst = o?.ip?.v4dst ?? o?.ip?.v6dst;
    if (!o?.proto || !src || !dst) continue;
    out.push({
      protocol: o.proto.num ?? 0,
      src: formatIP(src),
      dst: formatIP(dst),
      srcPort: o.proto.srcPort ?? 0,
      dstPort: o.proto.dstPort ?? 0,
    });
  }
  return out;
}

/**
 * Deletes the conntrack entries matching a filter; entries that vanish meanwhile are fine.
 *
 * @example
 * ```ts ignore
 * deleteFlows(nft.socket, { protocol: 17, dstPort: 5353 }); // 2
 * ```
 * @param sock A `NETLINK_NETFILTER` socket in the namespace.
 * @param filter Which entries.
 * @returns How many were deleted.
 */
export function deleteFlows(sock: NetlinkSocket, filter: ConntrackFilter): number {
  const want = filter.dstIP ? parseIP(filter.dstIP) : undefined;
  let n = 0;
  for (
    const m of sock.dump(CT(C.IPCTNL_MSG_CT_GET), CtMessage, { family: 0 }, {
      object: "conntrack table",
    })
  ) {
    const ct = decode(CtMessage, m.payload);
    const o = ct.orig;
    if (!o?.proto || o.proto.num !== filter.protocol || o.proto.dstPort !== filter.dstPort) {
      continue;
    }
    const dst = o.ip?.v4dst ?? o.ip?.v6dst;
    if (want && (!dst || dst.length !== want.length || dst.some((b, i) => b !== want[i]))) {
      continue;
    }
    const family = o.ip?.v4dst ? C.NFPROTO_IPV4 : C.NFPROTO_IPV6;
    try {
      sock.request(
        CT(C.IPCTNL_MSG_CT_DELETE),
        0,
        CtMessage,
        { family, orig: o, ...(ct.zone !== undefined ? { zone: ct.zone } : {}) },
        { object: `conntrack flow ${formatIP(dst!)}:${filter.dstPort}` },
      );
      n++;
    } catch (e) {
      if (!(e instanceof NetlinkError && e.code === "ENOENT")) throw e;
    }
  }
  return n;
}

/**
 * Deletes every conntrack entry that involves one of these addresses, in either direction
 * (a container's flows, NATed or not), so that nothing of a removed endpoint lingers. Best
 * effort: an entry the kernel refuses to delete is left to time out.
 *
 * @example
 * ```ts ignore
 * deleteFlowsOf(nft.socket, ["198.51.100.2", "2001:db8:1::2"]);
 * ```
 * @param sock A `NETLINK_NETFILTER` socket in the namespace.
 * @param addresses The addresses (no prefix).
 * @param subnets Also every address in these CIDRs (a deleted network's subnets).
 * @returns How many entries were deleted.
 */
export function deleteFlowsOf(
  sock: NetlinkSocket,
  addresses: readonly string[],
  subnets: readonly string[] = [],
): number {
  const wanted = new Set(addresses.filter((a) => a).map((a) => formatIP(parseIP(a)!)));
  const nets = subnets.map(parseCidr);
  const inNet = (b: Uint8Array) =>
    nets.some((c) =>
      c.family === (b.length === 4 ? 4 : 6) && contains(c, c.family, bytesToBigInt(b))
    );
  if (wanted.size === 0 && nets.length === 0) return 0;
  let n = 0;
  for (
    const m of sock.dump(CT(C.IPCTNL_MSG_CT_GET), CtMessage, { family: 0 }, {
      object: "conntrack table",
    })
  ) {
    const ct = decode(CtMessage, m.payload);
    const raw = [ct.orig, ct.reply].flatMap((t) =>
      [t?.ip?.v4src, t?.ip?.v4dst, t?.ip?.v6src, t?.ip?.v6dst].filter((x): x is Uint8Array =>
        x !== undefined
      )
    );
    if (!ct.orig || !raw.some((b) => wanted.has(formatIP(b)) || inNet(b))) continue;
    const family = ct.orig.ip?.v4src ? C.NFPROTO_IPV4 : C.NFPROTO_IPV6;
    try {
      sock.request(
        CT(C.IPCTNL_MSG_CT_DELETE),
        0,
        CtMessage,
        { family, orig: ct.orig, ...(ct.zone !== undefined ? { zone: ct.zone } : {}) },
        { object: "conntrack flow" },
      );
      n++;
    } catch (e) {
      // Gone meanwhile, or a protocol whose tuple nslink does not declare: best effort, as
      // the entry times out by itself.
      if (!(e instanceof NetlinkError)) throw e;
    }
  }
  return n;
}
