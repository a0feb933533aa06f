/**
 * IP address management: a pool of addresses in one subnet that hands out the lowest free
 * address, and the choice of a free subnet for a new network. Pools are plain JSON-serializable
 * objects, so they can be saved as they are in nslink's state files; every function here is pure
 * computation on them (no system calls, no permissions).
 *
 * @module
 */
import {
  bytesToBigInt,
  type Cidr,
  contains,
  familyBits,
  formatAddress,
  formatCidr,
  type IPFamily,
  lastOf,
  networkOf,
  overlaps,
  parseCidr,
  parseIP,
  parseIPv4,
  parseIPv6,
} from "../net/ip.ts";

/** An address pool of one subnet, JSON-serializable (it is saved in state files). */
export interface Pool {
  /** The canonical network CIDR, host bits cleared, e.g. `198.51.100.0/24` or `2001:db8:1::/64`. */
  subnet: string;
  /** The gateway address, without prefix, e.g. `198.51.100.1`. It is never handed out. */
  gateway: string;
  /** Allocated addresses (canonical text, without prefix) mapped to their owner (endpoint name). */
  allocated: Record<string, string>;
  /**
   * Automatic addresses only from here to {@linkcode Pool.rangeEnd} (Docker's `--ip-range`, CNI
   * host-local's `rangeStart`); absent: the whole subnet. A static address may be anywhere in the
   * subnet.
   */
  rangeStart?: string;
  /** The last automatic address (see {@linkcode Pool.rangeStart}). */
  rangeEnd?: string;
}

/** Subnets used when the caller names none: split into `/24` blocks by {@linkcode pickSubnet}. */
export const DEFAULT_POOL: readonly string[] = Object.freeze(["10.89.0.0/16"]);

/** The largest prefix length a pool may have per family: room for a gateway and one address. */
const MAX_PREFIX: Record<IPFamily, number> = { 4: 30, 6: 126 };

/**
 * No address is free in a pool. Catch it to report a full network.
 *
 * @example
 * ```ts
 * import { allocate, createPool, IpamExhaustedError } from "./ipam.ts";
 * const pool = createPool("198.51.100.0/30");
 * allocate(pool, "c1"); // "198.51.100.2/30"
 * try {
 *   allocate(pool, "c2");
 * } catch (err) {
 *   if (err instanceof IpamExhaustedError) err.message; // 'No free address in "198.51.100.0/30"'
 * }
 * ```
 */
export class IpamExhaustedError extends Error {
  /** The pool's subnet, e.g. `198.51.100.0/30`. */
  readonly subnet: string;

  /**
   * Creates the error for a full pool.
   *
   * @param subnet The subnet that has no free address.
   * @param options Standard error options.
   */
  constructor(subnet: string, options?: ErrorOptions) {
    super(`No free address in "${subnet}"`, options);
    this.name = "IpamExhaustedError";
    this.subnet = subnet;
  }
}

/** An address parsed from text that may carry a `/prefix`. */
interface ParsedAddress {
  family: IPFamily;
  address: bigint;
  prefixLength?: number;
}

function parseAddress(text: string, what: string): ParsedAddress {
  if (typeof text !== "string") {
    throw new TypeError(`Invalid ${what} ${String(text)}: expected a string`);
  }
  const slash = text.indexOf("/");
  if (slash >= 0) {
    let c: Cidr;
    try {
      c = parseCidr(text);
    } catch (cause) {
      throw new TypeError(`Invalid ${what} "${text}": expected an IP address`, { cause });
    }
    return { family: c.family, address: c.address, prefixLength: c.prefixLength };
  }
  const bytes = parseIP(text);
  if (!bytes) throw new TypeError(`Invalid ${what} "${text}": expected an IP address`);
  return { family: bytes.length === 4 ? 4 : 6, address: bytesToBigInt(bytes) };
}

function parseSubnet(text: string): Cidr {
  if (typeof text !== "string") {
    throw new TypeError(`Invalid subnet ${String(text)}: expected a CIDR string`);
  }
  return parseCidr(text);
}

/** The parsed subnet and the reserved addresses of a pool. */
interface PoolLayout {
  net: Cidr;
  first: bigint;
  last: bigint;
  gateway: bigint;
  /** Where automatic addresses are taken from (the range, else first..last). */
  autoFirst: bigint;
  autoLast: bigint;
}

/** Parsed layouts by pool text (subnet, gateway, range): a link parses no pool again. */
const layouts = new Map<string, PoolLayout>();

function layout(pool: Pool): PoolLayout {
  const key = `${pool.subnet}|${pool.gateway}|${pool.rangeStart ?? ""}|${pool.rangeEnd ?? ""}`;
  let l = layouts.get(key);
  if (l === undefined) {
    l = parseLayout(pool);
    // Bounded: a process sees few pools; one that churns through many starts afresh.
    if (layouts.size >= 256) layouts.clear();
    layouts.set(key, l);
  }
  return l;
}

function parseLayout(pool: Pool): PoolLayout {
  const net = networkOf(parseSubnet(pool.subnet));
  const gw = parseAddress(pool.gateway, "gateway");
  // IPv4 keeps the broadcast address out; IPv6 has none and may hand out the last address.
  const last = net.family === 4 ? lastOf(net) - 1n : lastOf(net);
  const first = net.address + 1n;
  const start = pool.rangeStart === undefined
    ? first
    : parseAddress(pool.rangeStart, "range").address;
  const end = pool.rangeEnd === undefined ? last : parseAddress(pool.rangeEnd, "range").address;
  return {
    net,
    first,
    last,
    gateway: gw.address,
    autoFirst: start > first ? start : first,
    autoLast: end < last ? end : last,
  };
}

/**
 * Limits a pool's automatic addresses to a range: a CIDR inside its subnet (Docker's
 * `--ip-range`) or `START-END` (CNI host-local's `rangeStart`/`rangeEnd`; either may be empty).
 *
 * @example
 * ```ts
 * import { createPool, setPoolRange } from "./ipam.ts";
 * const pool = setPoolRange(createPool("198.51.100.0/24"), "198.51.100.128/25");
 * pool.rangeStart; // "198.51.100.128"
 * ```
 * @param pool The pool (changed and returned).
 * @param range The range.
 * @returns The pool.
 * @throws {RangeError} When the range is malformed, of the other family, outside the subnet or
 *   empty.
 */
export function setPoolRange(pool: Pool, range: string): Pool {
  const net = networkOf(parseSubnet(pool.subnet));
  const bad = (why: string) =>
    new RangeError(`Invalid range "${range}" of "${pool.subnet}": ${why}`);
  let start: bigint, end: bigint;
  if (typeof range !== "string") throw bad("expected CIDR or START-END");
  if (range.includes("/")) {
    let c: Cidr;
    try {
      c = networkOf(parseCidr(range));
    } catch {
      throw bad("expected CIDR or START-END");
    }
    if (c.family !== net.family) throw bad("another address family");
    start = c.address;
    end = lastOf(c);
  } else {
    const [a, b, ...rest] = range.split("-");
    if (b === undefined || rest.length > 0) throw bad("expected CIDR or START-END");
    const parse = (t: string, fallback: bigint) => {
      if (t === "") return fallback;
      let p;
      try {
        p = parseAddress(t, "range");
      } catch {
        throw bad(`"${t}" is not an address`);
      }
      if (p.family !== net.family || p.prefixLength !== undefined) throw bad(`"${t}" does not fit`);
      return p.address;
    };
    start = parse(a, net.address);
    end = parse(b, lastOf(net));
  }
  if (!contains(net, net.family, start) || !contains(net, net.family, end)) {
    throw bad("outside the subnet");
  }
  if (end < start) throw bad("it ends before it starts");
  pool.rangeStart = formatAddress(net.family, start);
  pool.rangeEnd = formatAddress(net.family, end);
  return pool;
}

const HEX_MEMO_MAX = 1 << 16;

/** Memo of IPv4 keys as numbers by text (a pure function, so it is never stale). */
const v4Memo = new Map<string, number>();

/** A dotted-quad IPv4 address as a number (net/ip.ts parses it), or -1 when the text is not one. */
function ipv4Number(text: string): number {
  let n = v4Memo.get(text);
  if (n === undefined) {
    if (v4Memo.size >= HEX_MEMO_MAX) v4Memo.clear();
    const b = parseIPv4(text);
    n = b ? ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3] : -1;
    v4Memo.set(text, n);
  }
  return n;
}

/** Memo of IPv6 keys as 32 hex digits by text: a pure function, so it is never stale. */
const hexMemo = new Map<string, string | undefined>();

/** An IPv6 address (net/ip.ts parses it) as 32 lower-case hex digits, or `undefined`. */
function ipv6Hex(text: string): string | undefined {
  let hex = hexMemo.get(text);
  if (hex === undefined && !hexMemo.has(text)) {
    if (hexMemo.size >= HEX_MEMO_MAX) hexMemo.clear();
    const b = parseIPv6(text);
    hex = b ? bytesToBigInt(b).toString(16).padStart(32, "0") : undefined;
    hexMemo.set(text, hex);
  }
  return hex;
}

function checkOwner(owner: string): void {
  if (typeof owner !== "string" || owner === "") {
    throw new TypeError(`Invalid owner "${String(owner)}": expected a non-empty string`);
  }
}

/**
 * Creates an empty pool for a subnet. Host bits are cleared (`198.51.100.7/24` becomes
 * `198.51.100.0/24`). IPv4 prefixes must be at most `/30` and IPv6 at most `/126`, so that a
 * gateway and at least one address fit.
 *
 * @example IPv4 pool with the default gateway
 * ```ts
 * import { createPool } from "./ipam.ts";
 * createPool("198.51.100.0/24");
 * // { subnet: "198.51.100.0/24", gateway: "198.51.100.1", allocated: {} }
 * createPool("2001:db8:1::/64", "2001:db8:1::fe").gateway; // "2001:db8:1::fe"
 * ```
 * @param subnet The subnet as a CIDR; a `TypeError` quoting it when it is not one.
 * @param gateway The gateway address (no prefix); by default the first address after the
 *   network address. A `RangeError` when it lies outside the subnet or is the network address
 *   (or the IPv4 broadcast address).
 * @returns A new pool with nothing allocated.
 */
export function createPool(subnet: string, gateway?: string): Pool {
  const net = networkOf(parseSubnet(subnet));
  const max = MAX_PREFIX[net.family];
  if (net.prefixLength > max) {
    throw new RangeError(
      `Invalid subnet "${subnet}": an IPv${net.family} pool needs a prefix of /${max} or shorter`,
    );
  }
  const canonical = formatCidr(net);
  let gw = net.address + 1n;
  if (gateway !== undefined) {
    const g = parseAddress(gateway, "gateway");
    if (g.prefixLength !== undefined) {
      throw new TypeError(`Invalid gateway "${gateway}": expected an address without prefix`);
    }
    if (!contains(net, g.family, g.address)) {
      throw new RangeError(`Gateway "${gateway}" is outside subnet "${canonical}"`);
    }
    if (g.address === net.address) {
      throw new RangeError(`Gateway "${gateway}" is the network address of subnet "${canonical}"`);
    }
    if (net.family === 4 && g.address === lastOf(net)) {
      throw new RangeError(
        `Gateway "${gateway}" is the broadcast address of subnet "${canonical}"`,
      );
    }
    gw = g.address;
  }
  return { subnet: canonical, gateway: formatAddress(net.family, gw), allocated: {} };
}

/**
 * Allocates an address to an owner and records it in the pool. Without `preferred`, the lowest
 * free address is taken, so released addresses are reused first. The network address, the gateway
 * and the IPv4 broadcast address are never handed out. The cost grows with the number of
 * addresses allocated, never with the size of the subnet.
 *
 * @example Lowest free address, then a chosen one
 * ```ts
 * import { allocate, createPool } from "./ipam.ts";
 * const pool = createPool("198.51.100.0/24");
 * allocate(pool, "c1"); // "198.51.100.2/24"
 * allocate(pool, "c2", "198.51.100.10"); // "198.51.100.10/24"
 * pool.allocated; // { "198.51.100.2": "c1", "198.51.100.10": "c2" }
 * ```
 * @param pool The pool; it is modified.
 * @param owner Who holds the address (an endpoint name), non-empty.
 * @param preferred An exact address to take (no prefix, or the pool's own prefix). A
 *   `RangeError` when it is outside the subnet or reserved; an `Error` when it is already taken.
 * @returns The address with the pool's prefix length, e.g. `198.51.100.2/24`.
 * @throws {IpamExhaustedError} When no address is free.
 */
export function allocate(pool: Pool, owner: string, preferred?: string): string {
  checkOwner(owner);
  const { net, first, last, gateway, autoFirst, autoLast } = layout(pool);
  const family = net.family;
  const suffix = `/${net.prefixLength}`;
  if (preferred !== undefined) {
    const p = parseAddress(preferred, "preferred address");
    if (p.prefixLength !== undefined && p.prefixLength !== net.prefixLength) {
      throw new RangeError(
        `Preferred address "${preferred}" has a different prefix than subnet "${pool.subnet}"`,
      );
    }
    if (!contains(net, p.family, p.address)) {
      throw new RangeError(`Preferred address "${preferred}" is outside subnet "${pool.subnet}"`);
    }
    if (p.address < first || p.address > last || p.address === gateway) {
      throw new RangeError(
        `Preferred address "${preferred}" is reserved in subnet "${pool.subnet}" ` +
          `(network, gateway or broadcast address)`,
      );
    }
    const key = formatAddress(family, p.address);
    const holder = pool.allocated[key];
    if (holder !== undefined) {
      throw new Error(`Address "${key}" in "${pool.subnet}" is already allocated to "${holder}"`);
    }
    pool.allocated[key] = owner;
    return key + suffix;
  }
  // Every step of the scans below skips an allocated address or the gateway, so each runs at
  // most (number allocated + 2) times whatever the subnet's size.
  if (family === 4) {
    // IPv4 fits a double exactly: numbers are far cheaper than bigints here.
    const used = new Set<number>([Number(gateway)]);
    for (const key in pool.allocated) {
      const n = ipv4Number(key);
      if (n >= 0) used.add(n);
    }
    for (let a = Number(autoFirst), end = Number(autoLast); a <= end; a++) {
      if (used.has(a)) continue;
      const key = formatAddress(4, BigInt(a));
      pool.allocated[key] = owner;
      return key + suffix;
    }
  } else {
    // IPv6 addresses are compared as 32-digit hex strings, remembered per key text.
    const used = new Set<string>([gateway.toString(16).padStart(32, "0")]);
    for (const key in pool.allocated) {
      const hex = ipv6Hex(key);
      if (hex !== undefined) used.add(hex);
    }
    for (let a = autoFirst; a <= autoLast; a++) {
      if (used.has(a.toString(16).padStart(32, "0"))) continue;
      const key = formatAddress(6, a);
      pool.allocated[key] = owner;
      return key + suffix;
    }
  }
  throw new IpamExhaustedError(pool.subnet);
}

/**
 * Frees an address. Freeing an address that is not allocated (or not in this pool) does nothing.
 *
 * @example
 * ```ts
 * import { allocate, createPool, release } from "./ipam.ts";
 * const pool = createPool("198.51.100.0/24");
 * const addr = allocate(pool, "c1"); // "198.51.100.2/24"
 * release(pool, addr);
 * release(pool, "198.51.100.2"); // idempotent
 * ```
 * @param pool The pool; it is modified.
 * @param address The address, with or without `/prefix`; a `TypeError` when it is not an address.
 */
export function release(pool: Pool, address: string): void {
  const a = parseAddress(address, "address");
  const key = formatAddress(a.family, a.address);
  if (Object.hasOwn(pool.allocated, key)) delete pool.allocated[key];
}

/**
 * The address family of a pool.
 *
 * @example
 * ```ts
 * import { createPool, family } from "./ipam.ts";
 * family(createPool("2001:db8:1::/64")); // 6
 * ```
 * @param pool The pool.
 * @returns 4 or 6.
 */
export function family(pool: Pool): 4 | 6 {
  return parseSubnet(pool.subnet).family;
}

/**
 * The prefix length of a pool's subnet.
 *
 * @example
 * ```ts
 * import { createPool, prefixLength } from "./ipam.ts";
 * prefixLength(createPool("198.51.100.0/24")); // 24
 * ```
 * @param pool The pool.
 * @returns The prefix length, e.g. 24.
 */
export function prefixLength(pool: Pool): number {
  return parseSubnet(pool.subnet).prefixLength;
}

function parseTaken(text: string): Cidr {
  if (typeof text === "string" && text.includes("/")) return parseCidr(text);
  const a = parseAddress(text, "taken address");
  return { family: a.family, address: a.address, prefixLength: familyBits(a.family) };
}

/**
 * Picks a free subnet for a new network. Each candidate is split, in order, into blocks of
 * `/size` (a candidate already smaller than `/size` is used whole), and the first block that
 * overlaps none of `taken` is returned. The search jumps past each taken range, so a large
 * candidate (say an IPv6 `/32` split into `/64`s) costs no more than the number of taken ranges.
 *
 * @example The first free /24 of the default pool
 * ```ts
 * import { DEFAULT_POOL, pickSubnet } from "./ipam.ts";
 * pickSubnet(DEFAULT_POOL, 24, ["10.89.0.0/24", "10.89.1.7"]); // "10.89.2.0/24"
 * pickSubnet(["198.51.100.0/30"], 30, ["198.51.100.1"]); // undefined
 * ```
 * @param candidates CIDRs to carve subnets from, in order of preference.
 * @param size The prefix length of the wanted subnet, e.g. 24.
 * @param taken Subnets and addresses in use (CIDRs or plain addresses, either family; those of
 *   another family than a candidate are ignored for it).
 * @returns The subnet as a canonical CIDR, or `undefined` when every block is taken.
 */
export function pickSubnet(
  candidates: readonly string[],
  size: number,
  taken: readonly string[],
): string | undefined {
  if (!Number.isInteger(size) || size < 0 || size > 128) {
    throw new RangeError(`Invalid subnet size "${size}": expected a prefix length from 0 to 128`);
  }
  const used = taken.map(parseTaken);
  for (const text of candidates) {
    const cand = networkOf(parseSubnet(text));
    const bits = familyBits(cand.family);
    if (size > bits) {
      throw new RangeError(
        `Invalid subnet size "${size}" for candidate "${text}": IPv${cand.family} has ${bits} bits`,
      );
    }
    const blockPrefix = Math.max(size, cand.prefixLength);
    const blockSize = 1n << BigInt(bits - blockPrefix);
    const end = lastOf(cand);
    const mine = used.filter((u) => u.family === cand.family);
    let start = cand.address;
    while (start <= end) {
      const block: Cidr = { family: cand.family, address: start, prefixLength: blockPrefix };
      let next = -1n;
      for (const u of mine) {
        if (overlaps(block, u)) {
          const after = lastOf(u) + 1n;
          if (after > next) next = after;
        }
      }
      if (next < 0n) return formatCidr(block);
      // Jump to the first block boundary past every overlapping taken range.
      start = ((next + blockSize - 1n) / blockSize) * blockSize;
    }
  }
  return undefined;
}
