/**
 * Attribute payload codecs shared by the rtnetlink messages: IP addresses and MAC addresses,
 * decoded to and encoded from their text forms.
 *
 * @module
 */
import { type AttrCodec, bytes, mapped } from "../../netlink/codec.ts";
import { formatIP, parseIP } from "../../net/ip.ts";
import { formatMac, parseMac } from "../../net/mac.ts";

/** An IPv4 or IPv6 address as text (4 or 16 bytes on the wire). */
export const ip: AttrCodec<string> = mapped(bytes, formatIP, (text: string) => {
  const b = parseIP(text);
  if (!b) throw new TypeError(`Invalid IP address "${text}"`);
  return b;
});

/** A link-layer address as `aa:bb:cc:dd:ee:ff` (any length decodes; 6 bytes encode). */
export const mac: AttrCodec<string> = mapped(bytes, formatMac, parseMac);
