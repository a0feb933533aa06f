/**
 * The `Interface` value of libnetwork: what a network hands out for a container and what a
 * namespace needs to configure it.
 *
 * @module
 */

/**
 * One container interface, with libnetwork's fields in camelCase.
 *
 * @example
 * ```ts
 * import type { Interface } from "./interface.ts";
 * const iface: Interface = {
 *   srcName: "nslc1a2b3c4d", dstName: "eth0", macAddress: "02:42:c6:33:64:02",
 *   address: "198.51.100.2/24", addressIPv6: "2001:db8:1::2/64",
 *   gateway: "198.51.100.1", gatewayIPv6: "2001:db8:1::1", mtu: 1500,
 * };
 * ```
 */
export interface Interface {
  /** The name on the host before it moves into the namespace (the veth's container end). */
  srcName: string;
  /** The name inside the namespace, e.g. `eth0`. */
  dstName: string;
  /** The link-layer address, e.g. `02:42:c6:33:64:02`. */
  macAddress: string;
  /** IPv4 address with prefix, e.g. `198.51.100.2/24`; empty when none. */
  address: string;
  /** IPv6 address with prefix, e.g. `2001:db8:1::2/64`; empty when none. */
  addressIPv6: string;
  /** IPv4 default gateway; empty when none. */
  gateway: string;
  /** IPv6 default gateway; empty when none. */
  gatewayIPv6: string;
  /** MTU. */
  mtu: number;
}

/**
 * Docker's MAC for an IPv4 address: `02:42:` followed by the four address bytes.
 *
 * @example
 * ```ts
 * import { macForIPv4 } from "./interface.ts";
 * macForIPv4("198.51.100.2/24"); // "02:42:c6:33:64:02"
 * ```
 * @param address IPv4 address, with or without prefix.
 * @returns The MAC address.
 */
export function macForIPv4(address: string): string {
  const parts = address.split("/")[0].split(".").map(Number);
  return ["02", "42", ...parts.map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

/**
 * Picks the first name `prefix0`, `prefix1`, … not in use.
 *
 * @example
 * ```ts
 * import { freeName } from "./interface.ts";
 * freeName("eth", (n) => n === "eth0"); // "eth1"
 * ```
 * @param prefix The prefix.
 * @param inUse Tells whether a name is taken.
 * @returns The first free name.
 */
export function freeName(prefix: string, inUse: (name: string) => boolean): string {
  for (let i = 0;; i++) if (!inUse(`${prefix}${i}`)) return `${prefix}${i}`;
}
