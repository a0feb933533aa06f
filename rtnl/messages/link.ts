/**
 * `RTM_{NEW,DEL,GET,SET}LINK`: `struct ifinfomsg` and its `IFLA_*` attributes, with the
 * kind-dependent `IFLA_INFO_DATA` of veth, bridge, macvlan, ipvlan, vlan and vxlan.
 *
 * @module
 */
import {
  attr,
  attrs,
  be16,
  byKind,
  cstring,
  i32,
  message,
  type MessageInput,
  type MessageOf,
  nested,
  pad,
  string,
  struct,
  u16,
  u32,
  u8,
} from "../../netlink/codec.ts";
import * as c from "../../netlink/constants.ts";
import { ip, mac } from "./types.ts";

/** `struct ifinfomsg`. */
export const ifinfomsg = struct({
  family: u8,
  _pad: pad(1),
  type: u16,
  index: i32,
  flags: u32,
  change: u32,
});

/** `IFLA_INFO_DATA` of a bridge (`IFLA_BR_*`). */
export const BridgeData = attrs({
  forwardDelay: attr(c.IFLA_BR_FORWARD_DELAY, u32),
  helloTime: attr(c.IFLA_BR_HELLO_TIME, u32),
  maxAge: attr(c.IFLA_BR_MAX_AGE, u32),
  ageingTime: attr(c.IFLA_BR_AGEING_TIME, u32),
  stpState: attr(c.IFLA_BR_STP_STATE, u32),
  priority: attr(c.IFLA_BR_PRIORITY, u16),
  vlanFiltering: attr(c.IFLA_BR_VLAN_FILTERING, u8),
  vlanProtocol: attr(c.IFLA_BR_VLAN_PROTOCOL, be16),
  mcastSnooping: attr(c.IFLA_BR_MCAST_SNOOPING, u8),
});

/** `IFLA_INFO_DATA` of a macvlan (`IFLA_MACVLAN_*`). */
export const MacvlanData = attrs({
  mode: attr(c.IFLA_MACVLAN_MODE, u32),
  flags: attr(c.IFLA_MACVLAN_FLAGS, u16),
});

/** `IFLA_INFO_DATA` of an ipvlan (`IFLA_IPVLAN_*`). */
export const IpvlanData = attrs({
  mode: attr(c.IFLA_IPVLAN_MODE, u16),
  flags: attr(c.IFLA_IPVLAN_FLAGS, u16),
});

/** `IFLA_INFO_DATA` of a vlan (`IFLA_VLAN_*`). */
export const VlanData = attrs({
  id: attr(c.IFLA_VLAN_ID, u16),
  protocol: attr(c.IFLA_VLAN_PROTOCOL, be16),
});

/** `IFLA_INFO_DATA` of a vxlan (`IFLA_VXLAN_*`); the UDP port is network byte order. */
export const VxlanData = attrs({
  id: attr(c.IFLA_VXLAN_ID, u32),
  group: attr(c.IFLA_VXLAN_GROUP, ip),
  link: attr(c.IFLA_VXLAN_LINK, u32),
  local: attr(c.IFLA_VXLAN_LOCAL, ip),
  ttl: attr(c.IFLA_VXLAN_TTL, u8),
  tos: attr(c.IFLA_VXLAN_TOS, u8),
  learning: attr(c.IFLA_VXLAN_LEARNING, u8),
  ageing: attr(c.IFLA_VXLAN_AGEING, u32),
  limit: attr(c.IFLA_VXLAN_LIMIT, u32),
  proxy: attr(c.IFLA_VXLAN_PROXY, u8),
  rsc: attr(c.IFLA_VXLAN_RSC, u8),
  l2miss: attr(c.IFLA_VXLAN_L2MISS, u8),
  l3miss: attr(c.IFLA_VXLAN_L3MISS, u8),
  port: attr(c.IFLA_VXLAN_PORT, be16),
  group6: attr(c.IFLA_VXLAN_GROUP6, ip),
  local6: attr(c.IFLA_VXLAN_LOCAL6, ip),
  udpCsum: attr(c.IFLA_VXLAN_UDP_CSUM, u8),
});

// The link attributes but IFLA_LINKINFO, shared by a link and a veth peer (no recursion needed).
const linkAttrDefs = {
  address: attr(c.IFLA_ADDRESS, mac),
  broadcast: attr(c.IFLA_BROADCAST, mac),
  ifname: attr(c.IFLA_IFNAME, cstring),
  mtu: attr(c.IFLA_MTU, u32),
  link: attr(c.IFLA_LINK, u32),
  qdisc: attr(c.IFLA_QDISC, cstring),
  master: attr(c.IFLA_MASTER, u32),
  txqlen: attr(c.IFLA_TXQLEN, u32),
  operstate: attr(c.IFLA_OPERSTATE, u8),
  linkmode: attr(c.IFLA_LINKMODE, u8),
  netnsPid: attr(c.IFLA_NET_NS_PID, u32),
  ifalias: attr(c.IFLA_IFALIAS, cstring),
  group: attr(c.IFLA_GROUP, u32),
  netnsFd: attr(c.IFLA_NET_NS_FD, u32),
  extMask: attr(c.IFLA_EXT_MASK, u32),
  promiscuity: attr(c.IFLA_PROMISCUITY, u32),
  numTxQueues: attr(c.IFLA_NUM_TX_QUEUES, u32),
  numRxQueues: attr(c.IFLA_NUM_RX_QUEUES, u32),
  carrier: attr(c.IFLA_CARRIER, u8),
  carrierChanges: attr(c.IFLA_CARRIER_CHANGES, u32),
  linkNetnsid: attr(c.IFLA_LINK_NETNSID, i32),
  minMtu: attr(c.IFLA_MIN_MTU, u32),
  maxMtu: attr(c.IFLA_MAX_MTU, u32),
  permAddress: attr(c.IFLA_PERM_ADDRESS, mac),
  gsoMaxSize: attr(c.IFLA_GSO_MAX_SIZE, u32),
  gsoMaxSegs: attr(c.IFLA_GSO_MAX_SEGS, u32),
  groMaxSize: attr(c.IFLA_GRO_MAX_SIZE, u32),
  newIfindex: attr(c.IFLA_NEW_IFINDEX, i32),
  targetNetnsid: attr(c.IFLA_TARGET_NETNSID, i32),
};

/** A veth peer's body (`VETH_INFO_PEER`): `ifinfomsg` and link attributes. */
export const PeerMessage = message(ifinfomsg, attrs(linkAttrDefs));

/** `IFLA_INFO_DATA` of a veth. */
export const VethData = attrs({
  peer: attr(c.VETH_INFO_PEER, PeerMessage),
});

/** `IFLA_INFO_SLAVE_DATA` of a bridge port (`IFLA_BRPORT_*`). */
export const BridgePortData = attrs({
  mode: attr(c.IFLA_BRPORT_MODE, u8),
});

/** `IFLA_LINKINFO`: the kind and its kind-specific data. */
export const LinkInfo = attrs({
  kind: attr(c.IFLA_INFO_KIND, string),
  data: attr(
    c.IFLA_INFO_DATA,
    byKind("kind", {
      veth: VethData,
      bridge: BridgeData,
      macvlan: MacvlanData,
      ipvlan: IpvlanData,
      vlan: VlanData,
      vxlan: VxlanData,
    }),
  ),
  slaveKind: attr(c.IFLA_INFO_SLAVE_KIND, string),
  slaveData: attr(c.IFLA_INFO_SLAVE_DATA, byKind("slaveKind", { bridge: BridgePortData })),
});

/** The `IFLA_*` attributes of a link. */
export const LinkAttrs = attrs({
  ...linkAttrDefs,
  linkinfo: attr(c.IFLA_LINKINFO, nested(LinkInfo)),
});

/** A whole link message body: `ifinfomsg` then `IFLA_*` attributes. */
export const LinkMessage = message(ifinfomsg, LinkAttrs);

/**
 * A link message read for {@linkcode toLink}: the same declarations, only the attributes a `Link`
 * holds. The others (statistics, queues, GSO limits, …) are passed over by their headers, never
 * decoded: a link is read in a fraction of the time (lookups, dumps, the echo of a new link).
 */
export const LinkViewMessage = message(
  ifinfomsg,
  attrs({
    address: linkAttrDefs.address,
    ifname: linkAttrDefs.ifname,
    mtu: linkAttrDefs.mtu,
    link: linkAttrDefs.link,
    master: linkAttrDefs.master,
    txqlen: linkAttrDefs.txqlen,
    operstate: linkAttrDefs.operstate,
    ifalias: linkAttrDefs.ifalias,
    linkNetnsid: linkAttrDefs.linkNetnsid,
    linkinfo: LinkAttrs.defs.linkinfo,
  }),
);

/** What {@linkcode LinkViewMessage} decodes to. */
export type LinkViewValue = MessageOf<typeof LinkViewMessage>;

/** A decoded link message. */
export type LinkMessageValue = MessageOf<typeof LinkMessage>;
/** A link message to encode (header fields default to 0). */
export type LinkMessageInput = MessageInput<typeof LinkMessage>;
