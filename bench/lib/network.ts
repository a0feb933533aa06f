/**
 * The bridge network of the in-process benches (`bench/setup.ts`, `bench/teardown.ts`,
 * `bench/spare_netns.ts`): the workload's bridge, subnets and gateways (`workload.ts`).
 *
 * @module
 */
import { type Network, newNetwork, Rtnl } from "../../mod.ts";
import { BRIDGE, GW4, GW6, PREFIX4, PREFIX6 } from "./workload.ts";

/**
 * Makes the workload's bridge {@link BRIDGE} with both gateways unless it is there already.
 *
 * @example
 * ```ts
 * ensureBridge();
 * ```
 */
export function ensureBridge(): void {
  using rt = Rtnl.open();
  if (rt.link.find(BRIDGE) !== undefined) return;
  rt.link.add({ kind: "bridge", name: BRIDGE, up: true });
  const br = rt.link.index(BRIDGE);
  rt.addr.add(br, `${GW4}/${PREFIX4}`);
  rt.addr.add(br, `${GW6}/${PREFIX6}`, { nodad: true });
}

/**
 * A bridge network `name` on the workload's bridge, subnets and gateways (MTU 1500), its state
 * in `stateDir`.
 *
 * @example
 * ```ts
 * const network = await benchNetwork("bench-su", mkdtempSync("/run/nslink-bench-"));
 * ```
 */
export function benchNetwork(name: string, stateDir: string): Promise<Network> {
  return newNetwork("bridge", name, {
    stateDir,
    bridgeName: BRIDGE,
    subnet: `198.51.100.0/${PREFIX4}`,
    gateway: GW4,
    subnetIPv6: `2001:db8:bb::/${PREFIX6}`,
    gatewayIPv6: GW6,
    mtu: 1500,
  });
}
