/**
 * One simulated host of the overlay tests (not a test itself): an nslink process started inside
 * a host's network namespace (`nsenter --net=/run/netns/HOST`, sharing the test's mount
 * namespace, so container namespaces under /run/netns are visible to the test). It reads one
 * JSON command per line on stdin and answers one JSON line per command on stdout:
 *
 *   {"op":"new"|"open","name":N,"options":{…}}   newNetwork("overlay", …) / openNetwork(…)
 *   {"op":"watch","name":N}                       net.watch(), answered once ready
 *   {"op":"stopWatch","name":N}
 *   {"op":"link","name":N,"endpoints":[…]}        for each, concurrently: a namespace at
 *                                                 /run/netns/EP, link (fast path), addInterface
 *   {"op":"unlink","name":N,"endpoint":EP}        ns.delete(), then net.unlink(EP)
 *   {"op":"delete","name":N}                      net.delete()
 *   {"op":"close","name":N}                       net.close() (stop the lease keepalive)
 *   {"op":"dispose","name":N}                     net[Symbol.asyncDispose]() (what `await using` does)
 *   {"op":"conflicts","name":N}                   the host's registration conflicts so far
 *   {"op":"gc"}                                   gc() of this host's state directory
 *   link also takes "address": a static IPv4 address (one endpoint), "ports" to publish, and
 *   "aliases": the endpoints' DNS aliases
 *
 * Answers: {"id":…,"ok":true,…} or {"id":…,"ok":false,"error":message}.
 * Run with `deno run -A` or `bun`.
 */
import { createInterface } from "node:readline";
import process from "node:process";
import { readlinkSync } from "node:fs";
import {
  gc,
  type Interface,
  type Namespace,
  type Network,
  type NetworkWatcher,
  newNetwork,
  newNetworkNamespace,
  openNetwork,
  repairFirewall,
} from "../../mod.ts";

// Each simulated host keeps its own state directory, as a real host does (the hosts share the
// test's mount namespace, so one default /run/nslink would be every host's).
if (!process.env.NSLINK_STATE_DIR) {
  const ns = readlinkSync("/proc/thread-self/ns/net").replace(/\D/g, "");
  process.env.NSLINK_STATE_DIR = `/run/nslink-host-${ns}`;
}

const networks = new Map<string, Network>();
const watchers = new Map<string, NetworkWatcher>();
const namespaces = new Map<string, Namespace>();

function net(name: string): Network {
  const n = networks.get(name);
  if (!n) throw new Error(`no network "${name}" in this process`);
  return n;
}

interface Command {
  id: number;
  op: string;
  name: string;
  options?: Record<string, unknown>;
  endpoints?: string[];
  endpoint?: string;
  type?: string;
  address?: string;
  ports?: { hostPort: number; port: number }[];
  aliases?: string[];
}

async function handle(c: Command): Promise<Record<string, unknown>> {
  switch (c.op) {
    case "new": {
      const n = await newNetwork(c.type ?? "overlay", c.name, c.options ?? {});
      networks.set(c.name, n);
      return { vni: (n as unknown as { vni: number }).vni, netId: n.id, mtu: n.config.mtu };
    }
    case "open": {
      const n = await openNetwork(c.name, c.options ?? {});
      networks.set(c.name, n);
      return { vni: (n as unknown as { vni: number }).vni, netId: n.id };
    }
    case "watch": {
      const w = net(c.name).watch();
      watchers.set(c.name, w);
      await w.ready;
      return { revision: w.revision };
    }
    case "stopWatch": {
      await watchers.get(c.name)?.stop();
      watchers.delete(c.name);
      return {};
    }
    case "link": {
      const n = net(c.name);
      const out: Record<string, Interface> = {};
      await Promise.all((c.endpoints ?? []).map(async (ep) => {
        const ns = await newNetworkNamespace(`/run/netns/${ep}`);
        namespaces.set(ep, ns);
        const [iface] = await n.link(ep, {
          namespace: ns,
          ...(c.address !== undefined ? { address: c.address } : {}),
          ...(c.ports !== undefined ? { ports: c.ports } : {}),
          ...(c.aliases !== undefined ? { aliases: c.aliases } : {}),
        });
        await ns.addInterface(iface);
        out[ep] = iface;
      }));
      return { interfaces: out };
    }
    case "unlink": {
      const ep = c.endpoint!;
      await namespaces.get(ep)?.delete();
      namespaces.delete(ep);
      await net(c.name).unlink(ep);
      return {};
    }
    case "delete": {
      await watchers.get(c.name)?.stop();
      watchers.delete(c.name);
      await net(c.name).delete();
      networks.delete(c.name);
      return {};
    }
    case "repairFirewall": {
      await repairFirewall();
      return {};
    }
    case "close": {
      (net(c.name) as unknown as { close(): void }).close();
      return {};
    }
    case "dispose": {
      await net(c.name)[Symbol.asyncDispose]();
      networks.delete(c.name);
      return {};
    }
    case "gc": {
      return { report: await gc() };
    }
    case "conflicts": {
      const host = (net(c.name) as unknown as { host: { conflicts: unknown[] } }).host;
      return { conflicts: host.conflicts };
    }
    default:
      throw new Error(`unknown op "${c.op}"`);
  }
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (line.trim() === "") return;
  const c = JSON.parse(line) as Command;
  handle(c).then(
    (r) => process.stdout.write(JSON.stringify({ id: c.id, ok: true, ...r }) + "\n"),
    (e) =>
      process.stdout.write(
        JSON.stringify({ id: c.id, ok: false, error: String(e?.message ?? e) }) + "\n",
      ),
  );
});
rl.on("close", async () => {
  for (const w of watchers.values()) await w.stop();
  for (const ns of namespaces.values()) await ns.delete().catch(() => {});
  process.exit(0);
});
process.stdout.write(JSON.stringify({ id: 0, ok: true, ready: true }) + "\n");
