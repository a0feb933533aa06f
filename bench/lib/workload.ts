/**
 * The benchmark workload, shared by the orchestrator and every TypeScript peer.
 *
 * "One container's network": a network namespace, a veth pair whose host end is a port of the
 * bridge {@link BRIDGE} and whose container end is `eth0` inside the namespace (MTU 1500, a
 * Docker-style MAC derived from its IPv4 address, one IPv4 and one IPv6 address, `lo` and `eth0`
 * up, default routes for both families via the bridge).
 *
 * The same naming rules are implemented in `peers/gonl/main.go` and `peers/pyroute2_peer.py`;
 * keep the three in sync.
 *
 * @module
 */

/** The bridge every container is attached to; created once per run by the orchestrator. */
export const BRIDGE = "nslbr0";
/** The bridge's IPv4 address: the containers' IPv4 gateway. */
export const GW4 = "198.51.100.1";
/** The bridge's IPv6 address (added with `nodad`): the containers' IPv6 gateway. */
export const GW6 = "2001:db8:bb::1";
/** IPv4 prefix length of the container subnet 198.51.100.0/24. */
export const PREFIX4 = 24;
/** IPv6 prefix length of the container subnet 2001:db8:bb::/64. */
export const PREFIX6 = 64;
/** Container MTU. */
export const MTU = 1500;
/**
 * A veth pair kept on the bridge for the whole run (both ends stay in the host namespace).
 * netavark 1.4 deletes a bridge on teardown once no other port is attached; this keeps the bridge
 * alive and identical for every peer.
 */
export const KEEPER = "nslkeep0";
/** The other end of {@link KEEPER}. */
export const KEEPER_PEER = "nslkeep1";
/** Upper bound on N: container addresses are .10 .. .209 of one /24. */
export const MAX_N = 200;
/**
 * Upper bound on N without IPv4 (`--ipv6-only`, the scaling sweep): the IPv4 test ranges hold
 * 2 x 254 addresses, so 1,000 containers per process are measured on IPv6 alone.
 */
export const MAX_N_IPV6 = 1000;

/** Index `i` (0-based) to the last IPv4 octet / IPv6 group value. */
export function hostNumber(i: number): number {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_N_IPV6) {
    throw new RangeError(`bad container index ${i}`);
  }
  return 10 + i;
}

/** The container's IPv4 address without prefix: 198.51.100.(10+i). */
export function ipv4(i: number): string {
  if (i >= MAX_N) throw new RangeError(`container ${i} has no IPv4 address (at most ${MAX_N})`);
  return `198.51.100.${hostNumber(i)}`;
}

/**
 * The container's IPv6 address without prefix: `2001:db8:bb::` followed by 10+i written in
 * decimal digits (so container 0 is `2001:db8:bb::10`, container 199 is `2001:db8:bb::209`); the
 * digits are read as hex by the kernel, which is fine: they are unique and below 0xffff.
 */
export function ipv6(i: number): string {
  return `2001:db8:bb::${hostNumber(i)}`;
}

/**
 * Docker-style MAC derived from the IPv4 address: 02:42 followed by the four IPv4 octets; past
 * 245 containers (IPv6-only sweep) the fifth byte counts on (`02:42:c6:33:65:00`, …).
 */
export function mac(i: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  const v = 100 * 256 + hostNumber(i);
  return `02:42:${hex(198)}:${hex(51)}:${hex(v >> 8)}:${hex(v & 255)}`;
}

/** Name of container i's network namespace (under /run/netns) for a peer tag. */
export function nsName(tag: string, i: number): string {
  return `nsl-${tag}-${i}`;
}

/** Name of container i's host-side veth, for peers that choose it (max 15 chars). */
export function hostVeth(tag: string, i: number): string {
  return `v${tag}${i}`;
}

/** Temporary name of the container-side veth before it is renamed to eth0 (classic flows). */
export function tmpVeth(tag: string, i: number): string {
  return `c${tag}${i}`;
}
