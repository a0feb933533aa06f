/**
 * `RTM_{NEW,DEL,GET}ROUTE`: `struct rtmsg` and its `RTA_*` attributes.
 *
 * @module
 */
import {
  attr,
  attrs,
  bytes,
  message,
  type MessageInput,
  type MessageOf,
  struct,
  u32,
  u8,
} from "../../netlink/codec.ts";
import * as c from "../../netlink/constants.ts";
import { ip } from "./types.ts";

/** `struct rtmsg`. */
export const rtmsg = struct({
  family: u8,
  dstLength: u8,
  srcLength: u8,
  tos: u8,
  table: u8,
  protocol: u8,
  scope: u8,
  type: u8,
  flags: u32,
});

/** The `RTA_*` attributes. `RTA_TABLE` (32-bit table id) is `tableId`, apart from the header's 8-bit `table`. */
export const RouteAttrs = attrs({
  dst: attr(c.RTA_DST, ip),
  src: attr(c.RTA_SRC, ip),
  iif: attr(c.RTA_IIF, u32),
  oif: attr(c.RTA_OIF, u32),
  gateway: attr(c.RTA_GATEWAY, ip),
  priority: attr(c.RTA_PRIORITY, u32),
  prefsrc: attr(c.RTA_PREFSRC, ip),
  metrics: attr(c.RTA_METRICS, bytes),
  multipath: attr(c.RTA_MULTIPATH, bytes),
  flow: attr(c.RTA_FLOW, u32),
  cacheinfo: attr(c.RTA_CACHEINFO, bytes),
  tableId: attr(c.RTA_TABLE, u32),
  mark: attr(c.RTA_MARK, u32),
  pref: attr(c.RTA_PREF, u8),
  expires: attr(c.RTA_EXPIRES, u32),
});

/** A whole route message body. */
export const RouteMessage = message(rtmsg, RouteAttrs);

/** A decoded route message. */
export type RouteMessageValue = MessageOf<typeof RouteMessage>;
/** A route message to encode. */
export type RouteMessageInput = MessageInput<typeof RouteMessage>;
