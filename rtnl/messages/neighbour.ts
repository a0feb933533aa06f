/**
 * `RTM_{NEW,DEL,GET}NEIGH`: `struct ndmsg` and its `NDA_*` attributes: the ARP / NDP table, as
 * `ip neigh` shows it (`AF_INET`/`AF_INET6`), and bridge forwarding entries, as `bridge fdb`
 * shows them (`AF_BRIDGE`; on a vxlan device `NDA_DST` is the remote tunnel endpoint).
 *
 * @module
 */
import {
  attr,
  attrs,
  be16,
  i32,
  message,
  type MessageInput,
  type MessageOf,
  pad,
  struct,
  u16,
  u32,
  u8,
} from "../../netlink/codec.ts";
import * as c from "../../netlink/constants.ts";
import { ip, mac } from "./types.ts";

/** `struct ndmsg`. */
export const ndmsg = struct({
  family: u8,
  _pad1: pad(1),
  _pad2: pad(2),
  index: i32,
  state: u16,
  flags: u8,
  type: u8,
});

/** `struct nda_cacheinfo`. */
export const ndaCacheinfo = struct({ confirmed: u32, used: u32, updated: u32, refcnt: u32 });

/** The `NDA_*` attributes. `NDA_PORT` is network byte order. */
export const NeighAttrs = attrs({
  dst: attr(c.NDA_DST, ip),
  lladdr: attr(c.NDA_LLADDR, mac),
  cacheinfo: attr(c.NDA_CACHEINFO, ndaCacheinfo),
  probes: attr(c.NDA_PROBES, u32),
  vlan: attr(c.NDA_VLAN, u16),
  port: attr(c.NDA_PORT, be16),
  vni: attr(c.NDA_VNI, u32),
  ifindex: attr(c.NDA_IFINDEX, u32),
  master: attr(c.NDA_MASTER, u32),
  linkNetnsid: attr(c.NDA_LINK_NETNSID, i32),
  srcVni: attr(c.NDA_SRC_VNI, u32),
  protocol: attr(c.NDA_PROTOCOL, u8),
  nhId: attr(c.NDA_NH_ID, u32),
  flagsExt: attr(c.NDA_FLAGS_EXT, u32),
});

/** A whole neighbour message body. */
export const NeighMessage = message(ndmsg, NeighAttrs);

/** A decoded neighbour message. */
export type NeighMessageValue = MessageOf<typeof NeighMessage>;
/** A neighbour message to encode. */
export type NeighMessageInput = MessageInput<typeof NeighMessage>;
