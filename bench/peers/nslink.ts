/**
 * Peers `nslink-seed-*` and `nslink-fast-*`: the libnetwork API of nslink, under Deno or Bun.
 *
 * One bridge network adopts the run's bridge `nslbr0` (with its gateway addresses), and each
 * container gets its workload addresses as static IPs.
 * - seed, per container: `newNetworkNamespace`, `network.link(name)` (veth on the host, host end on
 *   the bridge), `ns.addInterface(iface)` (move, rename to eth0, MAC/MTU, addresses, up, routes).
 *   Teardown: `network.unlink(name)` (deletes the host veth), then `ns.delete()`.
 * - fast, per container: `newNetworkNamespace`, `network.link(name, { namespace: ns })` (the
 *   container end is born inside the namespace as eth0 with its MAC and MTU), `ns.addInterface()`
 *   (configure only). Teardown: `ns.delete()` then `network.unlink(name)`, which makes no per-link
 *   delete; the phase ends when the kernel has removed every host veth.
 *
 * Usage: deno run -A bench/peers/nslink.ts --variant seed|fast --runtime deno --n 50 --tag nsd
 *        bun bench/peers/nslink.ts --variant seed|fast --runtime bun --n 50 --tag nsb
 *
 * @module
 */
import process from "node:process";
import { mkdtempSync, rmSync } from "node:fs";
import { type Namespace, newNetwork, newNetworkNamespace, Rtnl } from "../../mod.ts";
import { shortHash } from "../../drivers/bridge.ts";
import {
  awaitVerification,
  emitResult,
  ms,
  parsePeerArgs,
  peakRssKb,
  StepTimer,
} from "../lib/peer.ts";
import { BRIDGE, GW4, GW6, ipv4, ipv6, nsName, PREFIX4, PREFIX6 } from "../lib/workload.ts";

const args = parsePeerArgs(process.argv.slice(2));
const variant = args.extra.variant ?? "fast";
const runtime = args.extra.runtime ?? ("Bun" in globalThis ? "bun" : "deno");
if (variant !== "seed" && variant !== "fast") throw new Error("--variant must be seed or fast");
const steps = new StepTimer(args.steps);

// The scaling sweep leaves IPv4 out (the IPv4 test ranges hold 2 x 254 addresses, not 1,000).
const ipv6Only = args.extra["ipv6-only"] !== undefined;
if (ipv6Only && variant !== "fast") throw new Error("--ipv6-only is for the fast variant");
const stateDir = mkdtempSync("/run/nslink-bench-");
const network = await newNetwork("bridge", `bench-${args.tag}`, {
  stateDir,
  bridgeName: BRIDGE,
  ...(ipv6Only ? { enableIPv4: false } : { subnet: `198.51.100.0/${PREFIX4}`, gateway: GW4 }),
  subnetIPv6: `2001:db8:bb::/${PREFIX6}`,
  gatewayIPv6: GW6,
  mtu: 1500,
});
const namespaces: Namespace[] = [];
// The host ends' names, as the bridge driver makes them, to wait for on the fast path.
const hostEnds: string[] = [];
const fast = variant === "fast";

const t0 = performance.now();
for (let i = 0; i < args.n; i++) {
  const name = `c${i}`;
  const ns = await steps.time(
    "netns",
    () => newNetworkNamespace(`/run/netns/${nsName(args.tag, i)}`),
  );
  namespaces.push(ns);
  const ifaces = await steps.time(
    "link",
    () =>
      network.link(name, {
        ...(ipv6Only ? {} : { address: ipv4(i) }),
        addressIPv6: ipv6(i),
        ...(fast ? { namespace: ns } : {}),
      }),
  );
  hostEnds.push(`nslh${shortHash(`${network.id}/${name}`)}`);
  await steps.time("addInterface", async () => {
    for (const iface of ifaces) await ns.addInterface(iface);
  });
}
const setupMs = performance.now() - t0;

const verified = await awaitVerification();

const t1 = performance.now();
// The fast path's teardown ends when the kernel has removed every host end: a monitor opened
// before the first delete sees each one go (no polling); on an overrun it checks what is left.
const events = fast ? Rtnl.monitor({ groups: ["link"] }) : undefined;
for (let i = 0; i < args.n; i++) {
  const name = `c${i}`;
  if (fast) {
    await steps.time("ns.delete", () => namespaces[i].delete());
    await steps.time("unlink", () => network.unlink(name));
  } else {
    await steps.time("unlink", () => network.unlink(name));
    await steps.time("ns.delete", () => namespaces[i].delete());
  }
}
const callsMs = performance.now() - t1;
if (events) {
  await steps.time("wait-gone", async () => {
    const left = new Set(hostEnds);
    const resync = () => {
      using rt = Rtnl.open();
      for (const name of left) if (rt.link.find(name) === undefined) left.delete(name);
    };
    resync(); // anything gone before the monitor's first read
    if (left.size) {
      for await (const e of events) {
        if (e.type === "overrun") resync();
        else if (e.type === "link" && e.action === "del") left.delete(e.link.name);
        if (left.size === 0) break;
      }
    }
  });
  events.close();
}
const teardownMs = performance.now() - t1;
await network.delete();
rmSync(stateDir, { recursive: true, force: true });

const rssKb = peakRssKb();
const stepsMs = steps.result();
emitResult({
  peer: `nslink-${variant}-${runtime}`,
  n: args.n,
  setupMs: ms(setupMs),
  teardownMs: ms(teardownMs),
  teardownCallsMs: ms(callsMs),
  verified,
  ...(rssKb !== undefined ? { rssKb } : {}),
  ...(stepsMs ? { stepsMs } : {}),
});
