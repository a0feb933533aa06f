/**
 * IPv4 and IPv6 addresses and CIDR prefixes: parsing, formatting (RFC 5952 for IPv6) and the
 * arithmetic that allocation needs. Addresses are kept as `bigint` for arithmetic and as bytes for
 * the wire.
 *
 * @module
 */

/** An address family: 4 or 6. */
export type IPFamily = 4 | 6;

/** A parsed CIDR prefix such as `198.51.100.0/24`. */
export interface Cidr {
  /** 4 or 6. */
  readonly family: IPFamily;
  /** The address as written (host bits kept), as a number. */
  readonly address: bigint;
  /** The prefix length. */
  readonly prefixLength: number;
}

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Parses a dotted-quad IPv4 address.
 *
 * @example
 * ```ts
 * import { parseIPv4 } from "./ip.ts";
 * parseIPv4("198.51.100.1"); // Uint8Array [198, 51, 100, 1]
 * ```
 * @param text The address.
 * @returns Its 4 bytes, or `undefined` when it is not an IPv4 address.
 */
export function parseIPv4(text: string): Uint8Array | undefined {
  const m = V4_RE.exec(text);
  if (!m) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = m[i + 1];
    if (part.length > 1 && part[0] === "0") return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/**
 * Parses an IPv6 address (with `::` and an optional embedded IPv4 tail).
 *
 * @example
 * ```ts
 * import { parseIPv6 } from "./ip.ts";
 * parseIPv6("2001:db8::1")?.length; // 16
 * ```
 * @param text The address.
 * @returns Its 16 bytes, or `undefined` when it is not an IPv6 address.
 */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let head = text;
  let tail4: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    tail4 = parseIPv4(text.slice(lastColon + 1));
    if (!tail4) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string): number[] | undefined => {
    if (s === "") return [];
    const groups = s.split(":");
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parse(halves[0]);
  const right = halves.length === 2 ? parse(halves[1]) : [];
  if (!left || !right) return undefined;
  const groups = halves.length === 2
    ? left.length + right.length > 7
      ? undefined
      : [...left, ...new Array(8 - left.length - right.length).fill(0), ...right]
    : left.length === 8
    ? left
    : undefined;
  if (!groups) return undefined;
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i] >> 8;
    out[i * 2 + 1] = groups[i] & 0xff;
  }
  if (tail4) out.set(tail4, 12);
  return out;
}

/**
 * Parses an IPv4 or IPv6 address.
 *
 * @example
 * ```ts
 * import { parseIP } from "./ip.ts";
 * parseIP("2001:db8::1")?.length; // 16
 * parseIP("nope"); // undefined
 * ```
 * @param text The address.
 * @returns 4 or 16 bytes, or `undefined`.
 */
export function parseIP(text: string): Uint8Array | undefined {
  return text.includes(":") ? parseIPv6(text) : parseIPv4(text);
}

/**
 * Formats 4 or 16 address bytes; IPv6 in RFC 5952 form (lower case, longest zero run as `::`).
 *
 * @example
 * ```ts
 * import { formatIP } from "./ip.ts";
 * formatIP(new Uint8Array([198, 51, 100, 1])); // "198.51.100.1"
 * ```
 * @param bytes The address bytes.
 * @returns The text form.
 */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) {
    throw new RangeError(`An IP address has 4 or 16 bytes, not ${bytes.length}`);
  }
  // IPv4-mapped (::ffff:a.b.c.d) keeps its dotted tail, as RFC 5952 section 5 recommends.
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/**
 * Converts address bytes to a number.
 *
 * @example
 * ```ts
 * import { bytesToBigInt } from "./ip.ts";
 * bytesToBigInt(new Uint8Array([0, 0, 1, 0])); // 256n
 * ```
 * @param bytes Big-endian bytes.
 * @returns The value.
 */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/**
 * Converts a number to address bytes.
 *
 * @example
 * ```ts
 * import { bigIntToBytes } from "./ip.ts";
 * bigIntToBytes(256n, 4); // Uint8Array [0, 0, 1, 0]
 * ```
 * @param value The value.
 * @param length 4 or 16.
 * @returns Big-endian bytes.
 */
export function bigIntToBytes(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

/**
 * Parses `address/prefix`. Throws a `TypeError` quoting the value when it is not a CIDR.
 *
 * @example
 * ```ts
 * import { parseCidr } from "./ip.ts";
 * parseCidr("198.51.100.2/24").prefixLength; // 24
 * ```
 * @param text The CIDR, e.g. `2001:db8::2/64`.
 * @returns The parsed prefix.
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  const bytes = slash > 0 ? parseIP(text.slice(0, slash)) : undefined;
  const plText = slash > 0 ? text.slice(slash + 1) : "";
  const prefixLength = /^\d{1,3}$/.test(plText) ? Number(plText) : NaN;
  if (!bytes || !(prefixLength <= bytes.length * 8)) {
    throw new TypeError(`Invalid CIDR "${text}": expected address/prefix, e.g. "198.51.100.2/24"`);
  }
  return { family: bytes.length === 4 ? 4 : 6, address: bytesToBigInt(bytes), prefixLength };
}

/** The number of bits in an address of this family. @param family 4 or 6. @returns 32 or 128. */
export function familyBits(family: IPFamily): number {
  return family === 4 ? 32 : 128;
}

/**
 * The network address of a prefix (host bits cleared).
 *
 * @example
 * ```ts
 * import { networkOf, parseCidr, formatCidr } from "./ip.ts";
 * formatCidr(networkOf(parseCidr("198.51.100.7/24"))); // "198.51.100.0/24"
 * ```
 * @param c The prefix.
 * @returns The same prefix with its host bits zero.
 */
export function networkOf(c: Cidr): Cidr {
  const host = (1n << BigInt(familyBits(c.family) - c.prefixLength)) - 1n;
  return { family: c.family, address: c.address & ~host, prefixLength: c.prefixLength };
}

/**
 * The last address of a prefix (the IPv4 broadcast address).
 *
 * @example
 * ```ts
 * import { lastOf, parseCidr, formatAddress } from "./ip.ts";
 * formatAddress(4, lastOf(parseCidr("198.51.100.0/24"))); // "198.51.100.255"
 * ```
 * @param c The prefix.
 * @returns The address with all host bits set.
 */
export function lastOf(c: Cidr): bigint {
  const host = (1n << BigInt(familyBits(c.family) - c.prefixLength)) - 1n;
  return (c.address & ~host) | host;
}

/**
 * Whether an address lies inside a prefix.
 *
 * @example
 * ```ts
 * import { contains, parseCidr } from "./ip.ts";
 * contains(parseCidr("198.51.100.0/24"), 4, parseCidr("198.51.100.9/32").address); // true
 * ```
 * @param c The prefix.
 * @param family The address's family.
 * @param address The address.
 * @returns `true` when inside.
 */
export function contains(c: Cidr, family: IPFamily, address: bigint): boolean {
  return family === c.family && address >= networkOf(c).address && address <= lastOf(c);
}

/**
 * Whether two prefixes share any address.
 *
 * @example
 * ```ts
 * import { overlaps, parseCidr } from "./ip.ts";
 * overlaps(parseCidr("198.51.100.0/24"), parseCidr("198.51.100.128/25")); // true
 * ```
 * @param a One prefix.
 * @param b The other.
 * @returns `true` when they overlap.
 */
export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  return networkOf(a).address <= lastOf(b) && networkOf(b).address <= lastOf(a);
}

/**
 * Formats an address number.
 *
 * @example
 * ```ts
 * import { formatAddress } from "./ip.ts";
 * formatAddress(6, 1n); // "::1"
 * ```
 * @param family 4 or 6.
 * @param address The address.
 * @returns Its text form.
 */
export function formatAddress(family: IPFamily, address: bigint): string {
  return formatIP(bigIntToBytes(address, family === 4 ? 4 : 16));
}

/**
 * Formats a prefix as `address/length`.
 *
 * @example
 * ```ts
 * import { formatCidr, parseCidr } from "./ip.ts";
 * formatCidr(parseCidr("2001:db8:0::1/64")); // "2001:db8::1/64"
 * ```
 * @param c The prefix.
 * @returns Its text form.
 */
export function formatCidr(c: Cidr): string {
  return `${formatAddress(c.family, c.address)}/${c.prefixLength}`;
}
