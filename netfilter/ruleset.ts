/**
 * nslink's firewall as nf_tables messages: one `inet nslink` table holding four DNAT maps and
 * a few rules per network, compiled from the networks' saved state. Nothing here talks to the
 * kernel; `firewall.ts` commits what this builds.
 *
 * The table (`tests/fixtures/nft/ruleset.nft` is the same thing in nft's syntax):
 * - maps `pub4` (`inet_proto . inet_service : ipv4_addr . inet_service`) for ports published on
 *   every host address, `pub4a` (`inet_proto . ipv4_addr . inet_service : …`) for ports
 *   published on one address, and `pub6`/`pub6a` for IPv6. Publishing a port is one element;
 *   a packet costs one hash lookup per map whatever the number of ports.
 * - `prerouting` and `output` (nat, −100): `fib daddr type local dnat … map @pubX`.
 * - `postrouting` (nat, 100): per network, masquerade of the subnet leaving through another
 *   interface, and of DNATed flows entering the bridge from the host itself (`127.0.0.1` too)
 *   or from the network's own containers (hairpin).
 * - `forward` (filter, 0): an internal network's traffic may not leave its bridge nor enter it
 *   from elsewhere (dropped first); then traffic into a bridge goes through its `in-BRIDGE`
 *   chain (replies, published ports, and same-bridge traffic unless `icc: false`, then drop:
 *   other networks and the outside cannot reach containers directly).
 * - `prerouting` skips the DNAT maps for traffic from internal bridges: published ports do not
 *   exist for their containers.
 * - `input` (filter, 0): from an internal bridge, the host answers only on that bridge's own
 *   addresses (the gateway; broadcast and multicast too), not on its other addresses.
 * - `raw` (filter prerouting, −300): packets for 127/8 from anywhere but `lo` are dropped,
 *   since `route_localnet` is on for published bridges.
 *
 * @module
 */
import { NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL } from "../netlink/constants.ts";
import { type Cidr, familyBits, networkOf, parseCidr, parseIP } from "../net/ip.ts";
import type { NftOp } from "./batch.ts";
import * as C from "./constants.ts";
import {
  accept,
  bitwise,
  cmp,
  concat,
  ct,
  dnat,
  drop,
  type Expr,
  fib,
  ifnameBytes,
  jump,
  lookup,
  masq,
  meta,
  payload,
  portBytes,
  u32Bytes,
  u8Bytes,
  verdict,
} from "./expr.ts";
import { ChainMessage, RuleMessage, SetElemMessage, SetMessage, TableMessage } from "./messages.ts";

/** nslink's table: `inet nslink`. */
export const TABLE = "nslink";
/** The table's family. */
export const FAMILY: number = C.NFPROTO_INET;

/** A transport protocol a port can be published for. */
export type Protocol = "tcp" | "udp" | "sctp";

/** IP protocol numbers by name. */
export const PROTOCOLS: Readonly<Record<Protocol, number>> = {
  tcp: C.IPPROTO_TCP,
  udp: C.IPPROTO_UDP,
  sctp: C.IPPROTO_SCTP,
};

/** One published port as the firewall sees it: resolved numbers and the container's address. */
export interface DnatEntry {
  /** Protocol. */
  protocol: Protocol;
  /** Host address, or `""` for every host address of the family. */
  hostIP: string;
  /** Host port. */
  hostPort: number;
  /** The container's address (same family as the map). */
  address: string;
  /** The container's port. */
  port: number;
}

/** One network as the firewall sees it. */
export interface FirewallNetwork {
  /** The network's name (for errors). */
  name: string;
  /** The bridge. */
  bridge: string;
  /** IPv4 subnet, if any. */
  subnet?: string;
  /** IPv6 subnet, if any. */
  subnetIPv6?: string;
  /** Masquerade traffic leaving the host. */
  masquerade: boolean;
  /** No traffic beyond the bridge, no published ports. */
  internal: boolean;
  /** Containers of the network may talk to each other. */
  icc: boolean;
}

const RTN_LOCAL = 2;
const RTN_BROADCAST = 3;
const RTN_MULTICAST = 5;
const CT_DNAT = 0x20; // IPS_DST_NAT
const CT_ESTABLISHED_RELATED = 0x06; // NF_CT_STATE_BIT(ESTABLISHED) | (RELATED)
const TYPE_INET_PROTO = 12;
const TYPE_INET_SERVICE = 13;
const TYPE_IPV4 = 7;
const TYPE_IPV6 = 8;

interface MapDef {
  name: string;
  id: number;
  v6: boolean;
  withAddress: boolean;
}

/** The DNAT maps, with the set ids nft gives them (elements name the set by both). */
export const MAPS: readonly MapDef[] = [
  { name: "pub4", id: 1, v6: false, withAddress: false },
  { name: "pub4a", id: 2, v6: false, withAddress: true },
  { name: "pub6", id: 3, v6: true, withAddress: false },
  { name: "pub6a", id: 4, v6: true, withAddress: true },
];

const base = (name: string, type: string, hooknum: number, priority: number) => ({
  family: FAMILY,
  table: TABLE,
  name,
  type,
  policy: C.NF_ACCEPT,
  hook: { hooknum, priority },
});

function chainOp(body: Record<string, unknown>): NftOp {
  return {
    type: C.NFT_MSG_NEWCHAIN,
    flags: NLM_F_CREATE,
    codec: ChainMessage,
    body,
    object: `chain inet ${TABLE} ${body.name}`,
  };
}

function ruleOp(chain: string, expressions: Expr[]): NftOp {
  return {
    type: C.NFT_MSG_NEWRULE,
    flags: NLM_F_CREATE | NLM_F_APPEND,
    codec: RuleMessage,
    body: { family: FAMILY, table: TABLE, chain, expressions },
    object: `rule in chain inet ${TABLE} ${chain}`,
  };
}

function mapOp(m: MapDef): NftOp {
  const addrType = m.v6 ? TYPE_IPV6 : TYPE_IPV4;
  const addrLen = m.v6 ? 16 : 4;
  return {
    type: C.NFT_MSG_NEWSET,
    flags: NLM_F_CREATE,
    codec: SetMessage,
    body: {
      family: FAMILY,
      table: TABLE,
      name: m.name,
      flags: C.NFT_SET_MAP,
      keyType: m.withAddress
        ? (((TYPE_INET_PROTO << 6) | addrType) << 6) | TYPE_INET_SERVICE
        : (TYPE_INET_PROTO << 6) | TYPE_INET_SERVICE,
      keyLen: m.withAddress ? 8 + addrLen : 8,
      dataType: (addrType << 6) | TYPE_INET_SERVICE,
      dataLen: addrLen + 4,
      id: m.id,
    },
    object: `map inet ${TABLE} ${m.name}`,
  };
}

const nfproto = (v6: boolean): Expr[] => [
  meta(C.NFT_META_NFPROTO),
  cmp(C.NFT_CMP_EQ, u8Bytes(v6 ? C.NFPROTO_IPV6 : C.NFPROTO_IPV4)),
];

/** `ip saddr CIDR` / `ip6 saddr CIDR` (or daddr), as nft compiles a prefix match. */
function prefixMatch(c: Cidr, dst: boolean): Expr[] {
  const v6 = c.family === 6;
  const offset = v6 ? (dst ? 24 : 8) : (dst ? 16 : 12);
  const bits = familyBits(c.family);
  const len = Math.ceil(c.prefixLength / 8);
  const net = networkOf(c).address;
  const all = new Uint8Array(bits / 8);
  for (let i = 0; i < all.length; i++) {
    all[i] = Number((net >> BigInt(8 * (all.length - 1 - i))) & 0xffn);
  }
  const out = [...nfproto(v6), payload(C.NFT_PAYLOAD_NETWORK_HEADER, offset, len)];
  if (c.prefixLength % 8 !== 0) {
    const mask = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      const b = Math.min(8, Math.max(0, c.prefixLength - 8 * i));
      mask[i] = (0xff << (8 - b)) & 0xff;
    }
    out.push(bitwise(mask, new Uint8Array(len)));
  }
  out.push(cmp(C.NFT_CMP_EQ, all.slice(0, len)));
  return out;
}

const ifname = (key: number, op: number, name: string): Expr[] => [
  meta(key),
  cmp(op, ifnameBytes(name)),
];
const ctDnat = (): Expr[] => [
  ct(C.NFT_CT_STATUS),
  bitwise(u32Bytes(CT_DNAT), u32Bytes(0)),
  cmp(C.NFT_CMP_NEQ, u32Bytes(0)),
];

function dnatRule(m: MapDef): Expr[] {
  const out: Expr[] = [fib(C.NFTA_FIB_F_DADDR), cmp(C.NFT_CMP_EQ, u32Bytes(RTN_LOCAL))];
  const fam = m.v6 ? C.NFPROTO_IPV6 : C.NFPROTO_IPV4;
  if (m.withAddress) out.push(...nfproto(m.v6));
  out.push(meta(C.NFT_META_L4PROTO));
  if (m.withAddress) {
    out.push(
      payload(C.NFT_PAYLOAD_NETWORK_HEADER, m.v6 ? 24 : 16, m.v6 ? 16 : 4, C.NFT_REG32_01),
      payload(C.NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, m.v6 ? C.NFT_REG32_01 + 4 : C.NFT_REG32_02),
    );
  } else {
    out.push(payload(C.NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, C.NFT_REG32_01));
  }
  out.push(
    lookup(m.name, C.NFT_REG_1, C.NFT_REG_1, m.id),
    dnat(fam, C.NFT_REG_1, m.v6 ? C.NFT_REG_2 : C.NFT_REG32_01),
  );
  return out;
}

function inChain(bridge: string): string {
  return `in-${bridge}`;
}

/**
 * The messages that create nslink's whole table for these networks (no elements), in the
 * order `nft -f` sends the same ruleset: table, chains, maps, rules.
 *
 * @example
 * ```ts ignore
 * tableOps([{ name: "web", bridge: "nsl-web", subnet: "198.51.100.0/25", masquerade: true,
 *   internal: false, icc: true }]);
 * ```
 * @param networks The networks, in a stable order.
 * @returns The messages.
 */
export function tableOps(networks: readonly FirewallNetwork[]): NftOp[] {
  const ops: NftOp[] = [{
    type: C.NFT_MSG_NEWTABLE,
    flags: 0,
    codec: TableMessage,
    body: { family: FAMILY, name: TABLE, flags: 0 },
    object: `table inet ${TABLE}`,
  }];
  const chains = [
    base("raw", "filter", C.NF_INET_PRE_ROUTING, -300),
    base("prerouting", "nat", C.NF_INET_PRE_ROUTING, -100),
    base("output", "nat", C.NF_INET_LOCAL_OUT, -100),
    base("postrouting", "nat", C.NF_INET_POST_ROUTING, 100),
    base("forward", "filter", C.NF_INET_FORWARD, 0),
    base("input", "filter", C.NF_INET_LOCAL_IN, 0),
  ];
  for (const n of networks) {
    chains.push({ family: FAMILY, table: TABLE, name: inChain(n.bridge) } as never);
  }
  for (const c of chains) ops.push(chainOp(c));
  for (const m of MAPS) ops.push(mapOp(m));

  ops.push(ruleOp("raw", [
    ...ifname(C.NFT_META_IIFNAME, C.NFT_CMP_NEQ, "lo"),
    ...prefixMatch(parseCidr("127.0.0.0/8"), true),
    drop(),
  ]));
  // Published ports do not exist for an internal network's containers: their packets are
  // never DNATed (to the gateway's address they reach the host itself, see `input`).
  for (const n of networks) {
    if (!n.internal) continue;
    ops.push(ruleOp("prerouting", [
      ...ifname(C.NFT_META_IIFNAME, C.NFT_CMP_EQ, n.bridge),
      verdict(C.NFT_RETURN),
    ]));
  }
  for (const chain of ["prerouting", "output"]) {
    for (const m of [MAPS[1], MAPS[0], MAPS[3], MAPS[2]]) ops.push(ruleOp(chain, dnatRule(m)));
  }
  for (const n of networks) {
    const subnets = [n.subnet, n.subnetIPv6].filter((s): s is string => !!s).map(parseCidr);
    if (n.masquerade && !n.internal) {
      for (const s of subnets) {
        ops.push(ruleOp("postrouting", [
          ...ifname(C.NFT_META_OIFNAME, C.NFT_CMP_NEQ, n.bridge),
          ...prefixMatch(s, false),
          masq(),
        ]));
      }
    }
    if (!n.internal) {
      ops.push(ruleOp("postrouting", [
        ...ifname(C.NFT_META_OIFNAME, C.NFT_CMP_EQ, n.bridge),
        ...ctDnat(),
        fib(C.NFTA_FIB_F_SADDR),
        cmp(C.NFT_CMP_EQ, u32Bytes(RTN_LOCAL)),
        masq(),
      ]));
      for (const s of subnets) {
        ops.push(ruleOp("postrouting", [
          ...ifname(C.NFT_META_OIFNAME, C.NFT_CMP_EQ, n.bridge),
          ...ctDnat(),
          ...prefixMatch(s, false),
          masq(),
        ]));
      }
    }
  }
  // Internal: nothing leaves the bridge and nothing enters it, dropped before any other
  // network's chain can accept it (a published port's chain accepts DNATed flows).
  for (const n of networks) {
    if (!n.internal) continue;
    ops.push(ruleOp("forward", [
      ...ifname(C.NFT_META_IIFNAME, C.NFT_CMP_EQ, n.bridge),
      ...ifname(C.NFT_META_OIFNAME, C.NFT_CMP_NEQ, n.bridge),
      drop(),
    ]));
    ops.push(ruleOp("forward", [
      ...ifname(C.NFT_META_OIFNAME, C.NFT_CMP_EQ, n.bridge),
      ...ifname(C.NFT_META_IIFNAME, C.NFT_CMP_NEQ, n.bridge),
      drop(),
    ]));
  }
  for (const n of networks) {
    ops.push(ruleOp("forward", [
      ...ifname(C.NFT_META_OIFNAME, C.NFT_CMP_EQ, n.bridge),
      jump(inChain(n.bridge)),
    ]));
  }
  // The host from an internal network: only through the bridge's own addresses (the gateway,
  // where host services such as DNS answer, as Docker's internal networks reach the gateway),
  // and broadcast and multicast (ARP aside: neighbour discovery, MLD); the host's other
  // addresses are beyond the bridge. Accept rules for the gateway go before this one.
  for (const n of networks) {
    if (!n.internal) continue;
    const type = fib(C.NFTA_FIB_F_DADDR | C.NFTA_FIB_F_IIF);
    ops.push(ruleOp("input", [
      ...ifname(C.NFT_META_IIFNAME, C.NFT_CMP_EQ, n.bridge),
      type,
      cmp(C.NFT_CMP_NEQ, u32Bytes(RTN_LOCAL)),
      type,
      cmp(C.NFT_CMP_NEQ, u32Bytes(RTN_BROADCAST)),
      type,
      cmp(C.NFT_CMP_NEQ, u32Bytes(RTN_MULTICAST)),
      drop(),
    ]));
  }
  for (const n of networks) {
    const chain = inChain(n.bridge);
    ops.push(ruleOp(chain, [
      ct(C.NFT_CT_STATE),
      bitwise(u32Bytes(CT_ESTABLISHED_RELATED), u32Bytes(0)),
      cmp(C.NFT_CMP_NEQ, u32Bytes(0)),
      accept(),
    ]));
    if (!n.internal) ops.push(ruleOp(chain, [...ctDnat(), accept()]));
    ops.push(ruleOp(chain, [
      ...ifname(C.NFT_META_IIFNAME, C.NFT_CMP_EQ, n.bridge),
      n.icc ? accept() : drop(),
    ]));
    ops.push(ruleOp(chain, [drop()]));
  }
  return ops;
}

/** Deletes nslink's table (fails with ENOENT when it is not there). @returns The message. */
export function deleteTableOp(): NftOp {
  return {
    type: C.NFT_MSG_DELTABLE,
    flags: 0,
    codec: TableMessage,
    body: { family: FAMILY, name: TABLE },
    object: `table inet ${TABLE}`,
  };
}

/**
 * Replaces nslink's table whatever its state (absent, current, stale, half flushed): add it
 * (a no-op when present), delete it, create it again with everything in it, all in the one
 * batch the caller commits. With no networks, only removes it.
 *
 * @example
 * ```ts ignore
 * nft.commit(replaceTableOps(networks, entries));
 * ```
 * @param networks The networks.
 * @param entries Every published port.
 * @returns The messages.
 */
export function replaceTableOps(
  networks: readonly FirewallNetwork[],
  entries: readonly DnatEntry[],
): NftOp[] {
  const reset: NftOp[] = [{
    type: C.NFT_MSG_NEWTABLE,
    flags: 0,
    codec: TableMessage,
    body: { family: FAMILY, name: TABLE, flags: 0 },
    object: `table inet ${TABLE}`,
  }, deleteTableOp()];
  if (networks.length === 0) return reset;
  return [...reset, ...tableOps(networks), ...elementOps(entries, true)];
}

function mapOf(e: DnatEntry): MapDef {
  const v6 = e.address.includes(":");
  const withAddress = e.hostIP !== "";
  return MAPS.find((m) => m.v6 === v6 && m.withAddress === withAddress)!;
}

function addrBytes(text: string, what: string): Uint8Array {
  const b = parseIP(text);
  if (!b) throw new TypeError(`Invalid ${what} "${text}"`);
  return b;
}

/**
 * The map key of a published port (`proto . [hostIP .] hostPort`).
 *
 * @param e The port.
 * @returns The key bytes.
 */
export function entryKey(e: DnatEntry): Uint8Array {
  const proto = u8Bytes(PROTOCOLS[e.protocol]);
  return e.hostIP === ""
    ? concat(proto, portBytes(e.hostPort))
    : concat(proto, addrBytes(e.hostIP, "host address"), portBytes(e.hostPort));
}

/**
 * Elements per `NFT_MSG_NEWSETELEM`: the element list is one attribute, and `nla_len` (16 bits)
 * caps it at 65,535 bytes; an element here is at most ~64 bytes (IPv6 key and data).
 */
const ELEMENTS_PER_MESSAGE = 512;

/**
 * The messages that add (or delete) published ports: one `NFT_MSG_NEWSETELEM` (or DEL) per
 * map touched and per 512 ports (an element list must fit one 64 KiB attribute), whatever
 * the number of ports already published; they go in the caller's one atomic batch. Adds use
 * `NLM_F_EXCL`, so an element someone else put there is an error instead of being silently kept.
 *
 * @example
 * ```ts ignore
 * nft.commit(elementOps([{ protocol: "tcp", hostIP: "", hostPort: 8080,
 *   address: "198.51.100.2", port: 80 }], true));
 * ```
 * @param entries The ports.
 * @param add Add them, or delete them.
 * @param exclusive Refuse elements that already exist (adds only).
 * @returns The messages.
 */
export function elementOps(
  entries: readonly DnatEntry[],
  add: boolean,
  exclusive = false,
): NftOp[] {
  const byMap = new Map<MapDef, DnatEntry[]>();
  for (const e of entries) {
    const m = mapOf(e);
    if (!byMap.has(m)) byMap.set(m, []);
    byMap.get(m)!.push(e);
  }
  const ops: NftOp[] = [];
  for (const m of MAPS) {
    const all = byMap.get(m);
    if (!all) continue;
    for (let i = 0; i < all.length; i += ELEMENTS_PER_MESSAGE) {
      ops.push(elementOp(m, all.slice(i, i + ELEMENTS_PER_MESSAGE), add, exclusive));
    }
  }
  return ops;
}

/** One element message for `list` (at most {@linkcode ELEMENTS_PER_MESSAGE}) of map `m`. */
function elementOp(m: MapDef, list: readonly DnatEntry[], add: boolean, exclusive: boolean): NftOp {
  const elements = list.map((e) =>
    add
      ? {
        key: { value: entryKey(e) },
        data: { value: concat(addrBytes(e.address, "container address"), portBytes(e.port)) },
      }
      : { key: { value: entryKey(e) } }
  );
  const what =
    list.slice(0, 8).map((e) =>
      `${e.protocol} ${e.hostIP.includes(":") ? `[${e.hostIP}]` : e.hostIP || "*"}:${e.hostPort}`
    ).join(", ") + (list.length > 8 ? `, … (${list.length} in all)` : "");
  return {
    type: add ? C.NFT_MSG_NEWSETELEM : C.NFT_MSG_DELSETELEM,
    flags: add ? NLM_F_CREATE | (exclusive ? NLM_F_EXCL : 0) : 0,
    codec: SetElemMessage,
    body: add
      ? { family: FAMILY, table: TABLE, set: m.name, setId: m.id, elements }
      : { family: FAMILY, table: TABLE, set: m.name, elements },
    object: `map inet ${TABLE} ${m.name} element ${what}`,
  };
}
