/**
 * `RTM_{NEW,DEL,GET}ADDR`: `struct ifaddrmsg` and its `IFA_*` attributes.
 *
 * @module
 */
import {
  attr,
  attrs,
  cstring,
  message,
  type MessageInput,
  type MessageOf,
  struct,
  u32,
  u8,
} from "../../netlink/codec.ts";
import * as c from "../../netlink/constants.ts";
import { ip } from "./types.ts";

/** `struct ifaddrmsg`. */
export const ifaddrmsg = struct({ family: u8, prefixLength: u8, flags: u8, scope: u8, index: u32 });

/** `struct ifa_cacheinfo`. */
export const ifaCacheinfo = struct({ preferred: u32, valid: u32, created: u32, updated: u32 });

/** The `IFA_*` attributes. `IFA_FLAGS` (32-bit flags) is `addrFlags`, apart from the header's 8-bit `flags`. */
export const AddrAttrs = attrs({
  address: attr(c.IFA_ADDRESS, ip),
  local: attr(c.IFA_LOCAL, ip),
  label: attr(c.IFA_LABEL, cstring),
  broadcast: attr(c.IFA_BROADCAST, ip),
  anycast: attr(c.IFA_ANYCAST, ip),
  cacheinfo: attr(c.IFA_CACHEINFO, ifaCacheinfo),
  multicast: attr(c.IFA_MULTICAST, ip),
  addrFlags: attr(c.IFA_FLAGS, u32),
  rtPriority: attr(c.IFA_RT_PRIORITY, u32),
  proto: attr(c.IFA_PROTO, u8),
});

/** A whole address message body. */
export const AddrMessage = message(ifaddrmsg, AddrAttrs);

/** A decoded address message. */
export type AddrMessageValue = MessageOf<typeof AddrMessage>;
/** An address message to encode. */
export type AddrMessageInput = MessageInput<typeof AddrMessage>;
