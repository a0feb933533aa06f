/**
 * Input checks that run before anything reaches the kernel. Each throws a `TypeError` (wrong
 * form) or `RangeError` (out of range) that quotes the value, so a bad request never leaves a
 * half-made kernel object behind.
 *
 * @module
 */
import { type Cidr, parseCidr, parseIP } from "./ip.ts";
import { parseMac } from "./mac.ts";

const IFNAMSIZ = 16;
const utf8 = new TextEncoder();

/**
 * Checks an interface name as the kernel's `dev_valid_name()` does: 1 to 15 bytes, not `.` or
 * `..`, no `/`, `:` or whitespace.
 *
 * @example
 * ```ts
 * import { checkIfName } from "./validate.ts";
 * checkIfName("nsl0a"); // "nsl0a"
 * // checkIfName("a/b") throws TypeError: Invalid interface name "a/b": ...
 * ```
 * @param name The name.
 * @param what What the name is for, in the message.
 * @param options `alias`: also allow `:` (an IPv4 address label such as `eth0:1`).
 * @returns The name.
 */
export function checkIfName(
  name: string,
  what = "interface name",
  options: { alias?: boolean } = {},
): string {
  if (typeof name !== "string") {
    throw new TypeError(`Invalid ${what} "${String(name)}": expected a string`);
  }
  const len = utf8.encode(name).length;
  if (len === 0 || len >= IFNAMSIZ) {
    throw new RangeError(
      `Invalid ${what} "${name}": must be 1 to ${IFNAMSIZ - 1} bytes, is ${len}`,
    );
  }
  if (name === "." || name === ".." || (options.alias ? /[/\s]/ : /[/:\s]/).test(name)) {
    const banned = options.alias ? '"/" or whitespace' : '"/", ":" or whitespace';
    throw new TypeError(`Invalid ${what} "${name}": no ${banned}, and not "." or ".."`);
  }
  return name;
}

/**
 * Checks an MTU: an integer from 68 (the IPv4 minimum) to 65535.
 *
 * @example
 * ```ts
 * import { checkMtu } from "./validate.ts";
 * checkMtu(1500); // 1500
 * ```
 * @param mtu The MTU.
 * @returns The MTU.
 */
export function checkMtu(mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new RangeError(`Invalid MTU "${mtu}": must be an integer from 68 to 65535`);
  }
  return mtu;
}

/**
 * Checks a unicast MAC address `aa:bb:cc:dd:ee:ff`.
 *
 * @example
 * ```ts
 * import { checkMac } from "./validate.ts";
 * checkMac("02:42:c6:33:64:02"); // "02:42:c6:33:64:02"
 * ```
 * @param mac The address.
 * @returns The address in lower case.
 */
export function checkMac(mac: string): string {
  const b = parseMac(mac);
  if (b[0] & 1) {
    throw new TypeError(
      `Invalid MAC address "${mac}": a multicast address cannot be a link's address`,
    );
  }
  if (b.every((x) => x === 0)) throw new TypeError(`Invalid MAC address "${mac}": all zeros`);
  return mac.toLowerCase();
}

/**
 * Checks a CIDR such as `198.51.100.2/24`.
 *
 * @example
 * ```ts
 * import { checkCidr } from "./validate.ts";
 * checkCidr("2001:db8::2/64").family; // 6
 * ```
 * @param cidr The prefix.
 * @returns The parsed prefix.
 */
export function checkCidr(cidr: string): Cidr {
  if (typeof cidr !== "string") {
    throw new TypeError(`Invalid CIDR "${String(cidr)}": expected a string`);
  }
  return parseCidr(cidr);
}

/**
 * Checks an IP address (no prefix).
 *
 * @example
 * ```ts
 * import { checkIP } from "./validate.ts";
 * checkIP("198.51.100.1"); // 4
 * ```
 * @param address The address.
 * @returns Its family, 4 or 6.
 */
export function checkIP(address: string): 4 | 6 {
  const b = typeof address === "string" ? parseIP(address) : undefined;
  if (!b) throw new TypeError(`Invalid IP address "${address}"`);
  return b.length === 4 ? 4 : 6;
}

/**
 * Checks an integer range.
 *
 * @example
 * ```ts
 * import { checkInt } from "./validate.ts";
 * checkInt(10, 1, 4094, "VLAN id"); // 10
 * ```
 * @param v The value.
 * @param min Smallest allowed.
 * @param max Largest allowed.
 * @param what Names the value in the message.
 * @returns The value.
 */
export function checkInt(v: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`Invalid ${what} "${v}": must be an integer from ${min} to ${max}`);
  }
  return v;
}
