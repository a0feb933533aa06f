/**
 * Peers `nslink-seed-*`, `nslink-fast-*`, `nslink-spare-*` and `nslink-floor-*`: the libnetwork
 * API of nslink (the floor: its lower layers), under Deno or Bun.
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
 * - spare: the fast variant in a process that started the spare-namespace worker
 *   (`startSpareNetns()`) BEFORE the setup timer, as a long-running service would at its start,
 *   and waited for its first spare: `newNetworkNamespace` then mostly mounts a namespace the
 *   worker made ahead. The worker's start (until its first spare) is not in the setup figure; the
 *   result line reports it as `spareStartMs`, and `spareMisses` counts the containers for which no
 *   spare was ready. `setupCpuMs` includes the worker thread's CPU (getrusage of the process).
 *   Teardown as the fast variant; `stopSpareNetns()` at the end, after the timed phases.
 *
 * - floor, per container: the fast path's kernel requests made directly through nslink's lower
 *   layers (`NetNs`, `Rtnl`), as the Go peer makes them — no network, no state, no checks of
 *   the libnetwork API: what the runtime and nslink's netlink layer cost on their own, for
 *   exactly Go's work. Teardown as on the fast path.
 *
 * With `--steps`, `libc:setup` and `libc:teardown-calls` say how much of each phase was spent
 * inside libc (the system calls: the kernel's work), the rest being the runtime's and nslink's.
 *
 * Usage: deno run -A bench/peers/nslink.ts --variant seed|fast|spare|floor --runtime deno --n 50 --tag nsd
 *        bun bench/peers/nslink.ts --variant seed|fast|spare|floor --runtime bun --n 50 --tag nsb
 *
 * @module
 */
import process from "node:process";
import { mkdtempSync, rmSync } from "node:fs";
import {
  type Namespace,
  NetNs,
  newNetwork,
  newNetworkNamespace,
  Rtnl,
  spareNetnsState,
  startSpareNetns,
  stopSpareNetns,
} from "../../mod.ts";
import { LibcClock } from "../lib/libc_clock.ts";
import { shortHash } from "../../drivers/bridge.ts";
import {
  awaitVerification,
  emitResult,
  ms,
  parsePeerArgs,
  peakRssKb,
  processCpuMs,
  StepTimer,
} from "../lib/peer.ts";
import {
  BRIDGE,
  GW4,
  GW6,
  hostVeth,
  ipv4,
  ipv6,
  mac,
  nsName,
  PREFIX4,
  PREFIX6,
} from "../lib/workload.ts";

const args = parsePeerArgs(process.argv.slice(2));
const variant = args.extra.variant ?? "fast";
const runtime = args.extra.runtime ?? ("Bun" in globalThis ? "bun" : "deno");
if (variant !== "seed" && variant !== "fast" && variant !== "spare" && variant !== "floor") {
  throw new Error("--variant must be seed, fast, spare or floor");
}
const steps = new StepTimer(args.steps);
const libc = new LibcClock(args.steps);

// The scaling sweep leaves IPv4 out (the IPv4 test ranges hold 2 x 254 addresses, not 1,000).
const ipv6Only = args.extra["ipv6-only"] !== undefined;
if (ipv6Only && variant === "seed") throw new Error("--ipv6-only is for the fast variants");
// NSLBENCH_STATE_PARENT: where the state directory goes (default /run, the sandbox's tmpfs); a
// directory on the machine's disk measures what the state's file operations cost there.
const stateDir = mkdtempSync(`${process.env.NSLBENCH_STATE_PARENT || "/run"}/nslink-bench-`);
const network = await newNetwork("bridge", `bench-${args.tag}`, {
  stateDir,
  bridgeName: BRIDGE,
  ...(ipv6Only ? { enableIPv4: false } : { subnet: `198.51.100.0/${PREFIX4}`, gateway: GW4 }),
  subnetIPv6: `2001:db8:bb::/${PREFIX6}`,
  gatewayIPv6: GW6,
  mtu: 1500,
});
const namespaces: (Namespace | NetNs)[] = [];
// The host ends' names, as the bridge driver makes them, to wait for on the fast path.
const hostEnds: string[] = [];
const fast = variant !== "seed";
const floor = variant === "floor";
// The floor's host handle, opened before the timer as the Go peer opens its own.
const host = floor ? Rtnl.open() : undefined;
const bridgeIndex = host?.link.index(BRIDGE) ?? 0;

// The spare variant: the worker started, and its first spare ready, before the timer.
const spare = variant === "spare";
let spareStartMs: number | undefined;
if (spare) {
  const w0 = performance.now();
  if (!await startSpareNetns()) {
    throw new Error(`startSpareNetns: the worker does not run (${spareNetnsState().disabled})`);
  }
  while (!spareNetnsState().ready) {
    if (performance.now() - w0 > 10_000) {
      throw new Error("startSpareNetns: no spare namespace ready after 10 s");
    }
    await new Promise((ok) => setTimeout(ok, 1));
  }
  spareStartMs = performance.now() - w0;
}
let spareMisses = 0;

/** One container the floor's way: the namespace, the veth made into it, one batch inside. */
function floorContainer(i: number): void {
  let inside: Rtnl | undefined;
  const ref = { fd: -1, path: "" };
  const ns = NetNs.create(`/run/netns/${nsName(args.tag, i)}`, () => {
    inside = Rtnl.open({ netns: ref, inside: true });
  });
  namespaces.push(ns);
  try {
    const hostEnd = hostVeth(args.tag, i);
    const made = host!.link.add({
      kind: "veth",
      name: hostEnd,
      mtu: 1500,
      up: true,
      master: bridgeIndex,
      peer: { name: "eth0", mtu: 1500, ...(ipv6Only ? {} : { mac: mac(i) }), netns: ns },
    }, { echo: true });
    hostEnds.push(hostEnd);
    const eth0 = made?.parent ?? inside!.link.index("eth0");
    const failed = inside!.batch((b) => {
      if (!ipv6Only) b.addr.add(eth0, `${ipv4(i)}/${PREFIX4}`);
      b.addr.add(eth0, `${ipv6(i)}/${PREFIX6}`, { nodad: true });
      b.link.set("lo", { up: true });
      b.link.set(eth0, { up: true });
      if (!ipv6Only) b.route.add({ gateway: GW4, dev: eth0 });
      b.route.add({ gateway: GW6, dev: eth0 });
    }).find((e) => e !== undefined);
    if (failed) throw failed;
  } finally {
    inside?.close();
  }
}

const t0 = performance.now();
const cpu0 = processCpuMs();
const libc0 = libc.ms;
for (let i = 0; i < args.n; i++) {
  if (floor) {
    await steps.time("container", () => Promise.resolve(floorContainer(i)));
    continue;
  }
  const name = `c${i}`;
  if (spare && !spareNetnsState().ready) spareMisses++;
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
const setupCpuMs = processCpuMs() - cpu0;
const libcSetup = libc.since(libc0);

const verified = await awaitVerification();

const t1 = performance.now();
const libc1 = libc.ms;
for (let i = 0; i < args.n; i++) {
  const name = `c${i}`;
  const ns = namespaces[i];
  if (ns instanceof NetNs) {
    await steps.time("ns.delete", () => Promise.resolve(ns.delete()));
  } else if (fast) {
    await steps.time("ns.delete", () => ns.delete());
    await steps.time("unlink", () => network.unlink(name));
  } else {
    await steps.time("unlink", () => network.unlink(name));
    await steps.time("ns.delete", () => ns.delete());
  }
}
const callsMs = performance.now() - t1;
const libcTeardown = libc.since(libc1);
// The fast path's teardown ends when the kernel has removed every host end. A monitor opened
// now, then one listing of what is left, sees each remaining one go (no polling; on an overrun
// it lists again). Opened only now, so that reading its events is no part of the calls' time.
const events = fast ? Rtnl.monitor({ groups: ["link"] }) : undefined;
if (events) {
  await steps.time("wait-gone", async () => {
    const left = new Set(hostEnds);
    const resync = () => {
      using rt = Rtnl.open();
      for (const name of left) if (rt.link.find(name) === undefined) left.delete(name);
    };
    resync(); // what went before the monitor was open
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

host?.close();
if (spare) await stopSpareNetns();
if (args.steps) {
  steps.totals["libc:setup"] = libcSetup;
  steps.totals["libc:teardown-calls"] = libcTeardown;
}
const rssKb = peakRssKb();
const stepsMs = steps.result();
emitResult({
  peer: `nslink-${variant}-${runtime}`,
  n: args.n,
  setupMs: ms(setupMs),
  teardownMs: ms(teardownMs),
  teardownCallsMs: ms(callsMs),
  setupCpuMs: ms(setupCpuMs),
  verified,
  ...(rssKb !== undefined ? { rssKb } : {}),
  ...(stepsMs ? { stepsMs } : {}),
  ...(spareStartMs !== undefined ? { spareStartMs: ms(spareStartMs), spareMisses } : {}),
});
