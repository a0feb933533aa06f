/**
 * nslink demo: a bridge network on documentation subnets, two containers (network namespaces)
 * linked to it — one through libnetwork's classic path (link, move, rename, configure) and one
 * through the fast path (container end created directly inside its namespace) — pings between
 * them over IPv4 and IPv6, then a full teardown.
 *
 * Run as root: `deno task demo` (inside a throw-away namespace), or directly:
 *   deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env examples/demo.ts
 *   bun examples/demo.ts
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { newNetwork, newNetworkNamespace } from "../mod.ts";

const runtime = "Bun" in globalThis ? "bun" : "deno";
const suffix = Math.random().toString(16).slice(2, 6);
const t0 = performance.now();
const ms = () => `${(performance.now() - t0).toFixed(1)} ms`;

function ping(nsPath: string, address: string): string {
  const out = execFileSync("nsenter", [`--net=${nsPath}`, "ping", "-c1", "-W2", address], {
    encoding: "utf8",
  });
  return out.split("\n").find((l) => l.includes("bytes from")) ?? out.trim();
}

const network = await newNetwork("bridge", `demo-${suffix}`, {
  subnet: "198.51.100.0/24",
  subnetIPv6: "2001:db8:1::/64",
});
console.log(
  `[${ms()}] network "${network.name}" (${network.type}): bridge ${network.config.bridgeName}, ${network.subnet} gw ${network.gateway}, ${network.subnetIPv6} gw ${network.gatewayIPv6}`,
);
const ns1 = await newNetworkNamespace(`/run/netns/demo-c1-${suffix}`);
const ns2 = await newNetworkNamespace(`/run/netns/demo-c2-${suffix}`);
try {
  // Container 1: the libnetwork way: link, then addInterface moves, renames and configures.
  for (const iface of await network.link("c1")) await ns1.addInterface(iface);
  console.log(`[${ms()}] c1 linked (classic path) in ${ns1.path}`);
  // Container 2: the fast path: the container end is born inside the namespace as eth0.
  for (const iface of await network.link("c2", { namespace: ns2 })) await ns2.addInterface(iface);
  console.log(`[${ms()}] c2 linked (fast path) in ${ns2.path}`);

  console.table([
    ...ns1.interfaces.map((i) => ({ container: "c1", ...i })),
    ...ns2.interfaces.map((i) => ({ container: "c2", ...i })),
  ]);

  const [a, b] = [ns1.interfaces[0], ns2.interfaces[0]];
  for (const [from, ns, to] of [["c1", ns1, b], ["c2", ns2, a]] as const) {
    console.log(
      `[${ms()}] ${from} -> ${to.address.split("/")[0]}: ${
        ping(ns.path, to.address.split("/")[0])
      }`,
    );
    console.log(
      `[${ms()}] ${from} -> ${to.addressIPv6.split("/")[0]}: ${
        ping(ns.path, to.addressIPv6.split("/")[0])
      }`,
    );
  }
} finally {
  await ns1.delete();
  await ns2.delete();
  await network.unlink("c1");
  await network.unlink("c2");
  await network.delete();
  console.log(`[${ms()}] torn down: namespaces, veth pairs, bridge and state removed (${runtime})`);
}
