/**
 * What the privileged tests of the CNI plugin share (not a test itself): the network
 * configuration they exec the plugin with, and a named namespace for a container, registered
 * for deletion. The file's hooks are {@linkcode setUpNetworkTestFile}'s.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ip } from "./_helpers.ts";

/**
 * A network configuration for the nslink plugin: `network` on 198.51.100.0/24 and
 * 2001:db8:1::/64, CNI 1.0.0, with `extra` fields on top.
 *
 * @param network The network's name.
 * @param extra More fields (they win).
 * @returns The configuration, as a runtime writes it on the plugin's stdin.
 *
 * @example
 * ```ts
 * const r = await cni("ADD", cniConf(`${P}n`, { mtu: 1400 }), { containerId, netns, stateDir });
 * ```
 */
export function cniConf(
  network: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    cniVersion: "1.0.0",
    name: network,
    type: "nslink",
    subnet: "198.51.100.0/24",
    subnetIPv6: "2001:db8:1::/64",
    ...extra,
  };
}

/**
 * Adds a named namespace (`ip netns add`), registered first with `c` for deletion.
 *
 * @param c The test's cleanup registry.
 * @param name The namespace's name (with the file's prefix).
 * @returns Its path, `/run/netns/NAME` (what `CNI_NETNS` names).
 *
 * @example
 * ```ts
 * await withCleanup(async (c) => {
 *   const netns = await addNetns(c, `${P}c1`);
 * });
 * ```
 */
export async function addNetns(c: { netns(n: string): void }, name: string): Promise<string> {
  c.netns(name);
  const r = await ip(["netns", "add", name]);
  assert.equal(r.code, 0, r.stderr);
  return `/run/netns/${name}`;
}
