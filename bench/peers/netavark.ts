/**
 * Peer `netavark`: Debian's netavark 1.4 (/usr/lib/podman/netavark) run directly, without podman,
 * with the same JSON podman would pipe to it.
 *
 * Per container: `ip netns add NS`; `netavark --config DIR setup /run/netns/NS` with the network
 * JSON on stdin (static IPs and static MAC, bridge `nslbr0`, DNS off, no port mappings).
 * Teardown: `netavark --config DIR teardown /run/netns/NS` with the same JSON, `ip netns del NS`.
 *
 * netavark 1.4 always runs a firewall driver (iptables here; its nftables driver is "not yet
 * available" and there is no `none` driver), so each setup/teardown also edits the throw-away
 * namespace's iptables-nft rules, and it enables IPv4/IPv6 forwarding there. That is part of what
 * netavark costs. It brings `lo` up itself. On the last teardown it deletes the bridge when no other
 * port is attached, which is why the orchestrator keeps a spare veth (`nslkeep0`) on the bridge.
 *
 * Usage: deno run -A bench/peers/netavark.ts --n 50 --tag nva [--steps]
 *   [--netavark /usr/lib/podman/netavark] [--config-dir /run/nslbench/netavark]
 *
 * @module
 */
import {
  awaitVerification,
  emitResult,
  ms,
  parsePeerArgs,
  peakRssKb,
  StepTimer,
} from "../lib/peer.ts";
import { run } from "../lib/spawn.ts";
import { BRIDGE, GW4, GW6, ipv4, ipv6, mac, nsName } from "../lib/workload.ts";

const args = parsePeerArgs(Deno.args);
const netavark = args.extra.netavark ?? "/usr/lib/podman/netavark";
const configDir = args.extra["config-dir"] ?? "/run/nslbench/netavark";
const steps = new StepTimer(args.steps);

await Deno.mkdir(configDir, { recursive: true });

/** The network options JSON (podman's `NetworkOptions`) for container i. */
function networkJson(i: number): string {
  return JSON.stringify({
    container_id: (i + 1).toString(16).padStart(64, "0"),
    container_name: nsName(args.tag, i),
    networks: {
      nslbench: {
        interface_name: "eth0",
        static_ips: [ipv4(i), ipv6(i)],
        static_mac: mac(i),
      },
    },
    network_info: {
      nslbench: {
        name: "nslbench",
        id: "6e736c62656e6368".padEnd(64, "0"),
        driver: "bridge",
        network_interface: BRIDGE,
        subnets: [
          { subnet: "198.51.100.0/24", gateway: GW4 },
          { subnet: "2001:db8:bb::/64", gateway: GW6 },
        ],
        ipv6_enabled: true,
        internal: false,
        dns_enabled: false,
      },
    },
    port_mappings: [],
  });
}

function netavarkCmd(cmd: "setup" | "teardown", i: number) {
  return run(netavark, ["--config", configDir, cmd, `/run/netns/${nsName(args.tag, i)}`], {
    stdin: networkJson(i),
  });
}

const t0 = performance.now();
for (let i = 0; i < args.n; i++) {
  await steps.time("netns-add", () => run("ip", ["netns", "add", nsName(args.tag, i)]));
  await steps.time("netavark-setup", () => netavarkCmd("setup", i));
}
const setupMs = performance.now() - t0;

const verified = await awaitVerification();

const t1 = performance.now();
for (let i = 0; i < args.n; i++) {
  await steps.time("netavark-teardown", () => netavarkCmd("teardown", i));
  await steps.time("netns-del", () => run("ip", ["netns", "del", nsName(args.tag, i)]));
}
const teardownMs = performance.now() - t1;

emitResult({
  peer: "netavark",
  n: args.n,
  setupMs: ms(setupMs),
  teardownMs: ms(teardownMs),
  verified,
  rssKb: peakRssKb(),
  stepsMs: steps.result(),
});
