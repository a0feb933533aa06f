/**
 * The netlink message header (`struct nlmsghdr`) and the error/ACK message (`struct nlmsgerr`
 * plus its extended-ACK attributes), declared once for both directions.
 *
 * @module
 */
import { attr, attrs, cstring, i32, struct, u16, u32 } from "./codec.ts";
import {
  NLMSGERR_ATTR_MISS_NEST,
  NLMSGERR_ATTR_MISS_TYPE,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTM_SETLINK,
} from "./constants.ts";

/** `struct nlmsghdr`: 16 bytes in front of every netlink message. */
export const nlmsghdr = struct({ len: u32, type: u16, flags: u16, seq: u32, pid: u32 });

/** `struct nlmsgerr`'s first field; the original request's header follows it. */
export const nlmsgerrCode = struct({ error: i32 });

/** The extended-ACK attributes after an error (`NETLINK_EXT_ACK`). */
export const ExtAck = attrs({
  msg: attr(NLMSGERR_ATTR_MSG, cstring),
  offset: attr(NLMSGERR_ATTR_OFFS, u32),
  missingType: attr(NLMSGERR_ATTR_MISS_TYPE, u32),
  missingNest: attr(NLMSGERR_ATTR_MISS_NEST, u32),
});

const NAMES: Record<number, string> = {
  [RTM_NEWLINK]: "RTM_NEWLINK",
  [RTM_DELLINK]: "RTM_DELLINK",
  [RTM_GETLINK]: "RTM_GETLINK",
  [RTM_SETLINK]: "RTM_SETLINK",
  [RTM_NEWADDR]: "RTM_NEWADDR",
  [RTM_DELADDR]: "RTM_DELADDR",
  [RTM_GETADDR]: "RTM_GETADDR",
  [RTM_NEWROUTE]: "RTM_NEWROUTE",
  [RTM_DELROUTE]: "RTM_DELROUTE",
  [RTM_GETROUTE]: "RTM_GETROUTE",
};

/**
 * The header name of a message type, for error messages.
 *
 * @example
 * ```ts
 * import { messageTypeName } from "./header.ts";
 * messageTypeName(16); // "RTM_NEWLINK"
 * ```
 * @param type `nlmsg_type`.
 * @returns e.g. `RTM_NEWLINK`, or `nlmsg_type 99` when unknown.
 */
export function messageTypeName(type: number): string {
  return NAMES[type] ?? `nlmsg_type ${type}`;
}
