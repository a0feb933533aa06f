/**
 * Peer `cni-bridge`: the reference CNI plugins (Debian `containernetworking-plugins`, in
 * /usr/lib/cni) invoked directly the way a runtime's libcni would: plugin binary, `CNI_*`
 * environment, network config JSON on stdin.
 *
 * Per container: `ip netns add NS`; `loopback` ADD (CNI_IFNAME=lo, brings `lo` up, as runtimes
 * do); `bridge` ADD (CNI_IFNAME=eth0) with host-local IPAM. The requested addresses and MAC are
 * passed as `runtimeConfig.ips` / `runtimeConfig.mac` (host-local honours `ips`, bridge >= 1.1
 * honours `mac`). Teardown: `bridge` DEL, `loopback` DEL, `ip netns del NS`. bridge DEL deletes
 * eth0 inside the namespace, which removes the host end synchronously.
 *
 * Usage: deno run -A bench/peers/cni.ts --n 50 --tag cni [--steps] [--cni-path /usr/lib/cni]
 *   [--data-dir /run/nslbench/cni-ipam]
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
import {
  BRIDGE,
  GW4,
  GW6,
  ipv4,
  ipv6,
  mac,
  MTU,
  nsName,
  PREFIX4,
  PREFIX6,
} from "../lib/workload.ts";

const args = parsePeerArgs(Deno.args);
const cniPath = args.extra["cni-path"] ?? "/usr/lib/cni";
const dataDir = args.extra["data-dir"] ?? "/run/nslbench/cni-ipam";
const steps = new StepTimer(args.steps);

/** The bridge network config for container i (CNI spec 1.0.0). */
function bridgeConf(i: number): string {
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: "nslbench",
    type: "bridge",
    bridge: BRIDGE,
    isGateway: true,
    ipMasq: false,
    mtu: MTU,
    ipam: {
      type: "host-local",
      dataDir,
      ranges: [
        [{ subnet: "198.51.100.0/24", gateway: GW4 }],
        [{ subnet: "2001:db8:bb::/64", gateway: GW6 }],
      ],
      routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }],
    },
    runtimeConfig: { ips: [`${ipv4(i)}/${PREFIX4}`, `${ipv6(i)}/${PREFIX6}`], mac: mac(i) },
  });
}

const loConf = JSON.stringify({ cniVersion: "1.0.0", name: "nslbench-lo", type: "loopback" });

/** Invokes one plugin for container i. */
function plugin(command: "ADD" | "DEL", type: string, ifname: string, i: number, conf: string) {
  const ns = nsName(args.tag, i);
  return run(`${cniPath}/${type}`, [], {
    stdin: conf,
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: ns,
      CNI_NETNS: `/run/netns/${ns}`,
      CNI_IFNAME: ifname,
      CNI_PATH: cniPath,
    },
  });
}

const t0 = performance.now();
for (let i = 0; i < args.n; i++) {
  await steps.time("netns-add", () => run("ip", ["netns", "add", nsName(args.tag, i)]));
  await steps.time("loopback-add", () => plugin("ADD", "loopback", "lo", i, loConf));
  await steps.time("bridge-add", () => plugin("ADD", "bridge", "eth0", i, bridgeConf(i)));
}
const setupMs = performance.now() - t0;

const verified = await awaitVerification();

const t1 = performance.now();
for (let i = 0; i < args.n; i++) {
  await steps.time("bridge-del", () => plugin("DEL", "bridge", "eth0", i, bridgeConf(i)));
  await steps.time("loopback-del", () => plugin("DEL", "loopback", "lo", i, loConf));
  await steps.time("netns-del", () => run("ip", ["netns", "del", nsName(args.tag, i)]));
}
const teardownMs = performance.now() - t1;

emitResult({
  peer: "cni-bridge",
  n: args.n,
  setupMs: ms(setupMs),
  teardownMs: ms(teardownMs),
  verified,
  rssKb: peakRssKb(),
  stepsMs: steps.result(),
});
