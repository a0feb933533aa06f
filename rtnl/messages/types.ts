/**
 * Attribute payload codecs shared by the rtnetlink messages: IP addresses and MAC addresses,
 * decoded to and encoded from their text forms.
 *
 * @module
 */
import type { AttrCodec } from "../../netlink/codec.ts";
import { NetlinkDecodeError } from "../../netlink/errors.ts";
import { formatIP, parseIP } from "../../net/ip.ts";
import { formatMac, parseMac } from "../../net/mac.ts";

/**
 * Addresses already parsed for encoding, by text: a network's gateways go into every
 * container's routes, and each container's addresses into more than one request. Bounded
 * (cleared when full). The bytes are only ever copied out.
 */
const encoded = new Map<string, Uint8Array>();

function addressBytes(text: string): Uint8Array {
  let a = encoded.get(text);
  if (a === undefined) {
    a = parseIP(text);
    if (!a || a.length !== (text.includes(":") ? 16 : 4)) {
      throw new TypeError(`Invalid IP address "${text}"`);
    }
    if (encoded.size >= 1024) encoded.clear();
    encoded.set(text, a);
  }
  return a;
}

/** An IPv4 or IPv6 address as text (4 or 16 bytes on the wire). */
export const ip: AttrCodec<string> = {
  sizeOf: (text) => (text.includes(":") ? 16 : 4),
  encodeTo: (b, _dv, off, text) => {
    const a = addressBytes(text);
    b.set(a, off);
    return a.length;
  },
  decodeFrom: (b, _dv, off, len) => {
    if (len !== 4 && len !== 16) {
      throw new NetlinkDecodeError(`an IP address of ${len} bytes (4 or 16 expected)`, off);
    }
    return formatIP(b.subarray(off, off + len));
  },
};

/** A link-layer address as `aa:bb:cc:dd:ee:ff` (any length decodes; 6 bytes encode). */
export const mac: AttrCodec<string> = {
  sizeOf: () => 6,
  encodeTo: (b, _dv, off, text) => {
    b.set(parseMac(text), off);
    return 6;
  },
  decodeFrom: (b, _dv, off, len) => formatMac(b.subarray(off, off + len)),
};
