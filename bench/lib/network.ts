/**
 * The bridge network of the in-process benches (`bench/setup.ts`, `bench/teardown.ts`,
 * `bench/spare_netns.ts`): the workload's bridge, subnets and gateways (`workload.ts`).
 *
 * @module
 */
import { rmSync } from "node:fs";
import { type Network, newNetwork, Rtnl } from "../../mod.ts";
import { finishResult, type StartedResult } from "./results.ts";
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

/**
 * Ends a per-container profile (`bench/setup.ts`, `bench/teardown.ts`): deletes its network and
 * state directory, then writes the result file with the rounds as samples and each round's µs and
 * CPU µs per container as the summary, and says where.
 *
 * @example
 * ```ts ignore
 * await finishRounds(run, rounds, network, stateDir);
 * ```
 * @param run The started result.
 * @param rounds The rounds measured, each with `round`, `usPerCtr` and `cpuUsPerCtr`.
 * @param network The bench's network.
 * @param stateDir Its state directory.
 */
export async function finishRounds(
  run: StartedResult,
  rounds: Record<string, unknown>[],
  network: Network,
  stateDir: string,
): Promise<void> {
  await network.delete();
  rmSync(stateDir, { recursive: true, force: true });
  const path = finishResult(run, {
    samples: rounds,
    summary: Object.fromEntries(
      rounds.map((r) => [`round${r.round}`, { usPerCtr: r.usPerCtr, cpuUsPerCtr: r.cpuUsPerCtr }]),
    ),
  });
  if (path) console.error(`wrote ${path}`);
}
