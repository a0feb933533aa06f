/**
 * One host of the overlay benchmark (bench/overlay/main.ts starts it inside a host's network
 * namespace). One JSON command per line on stdin, one JSON answer per line on stdout:
 *
 *   {"op":"new","type":T,"name":N,"options":{…}}  newNetwork(T, N, options)
 *   {"op":"open","name":N,"options":{…}}          openNetwork
 *   {"op":"watch","name":N}                       start a watcher, answer when ready, with the
 *                                                 time it took and this process's CPU and memory
 *   {"op":"stats","name":N}                       CPU, memory, the watcher's revision, how many
 *                                                 remote entries it installed and rejected (with
 *                                                 the first few reasons)
 *   {"op":"link","name":N,"endpoints":[…]}        namespace + link (fast path) + addInterface each
 *   {"op":"benchLink","name":N,"prefix":P,"count":C}  C namespaces made first, then C link()
 *                                                 calls timed one by one; then all undone
 *   {"op":"unlinkAll","name":N}                   every endpoint linked through "link"
 *   {"op":"delete","name":N}
 */
import { createInterface } from "node:readline";
import process from "node:process";
import {
  type Namespace,
  type Network,
  type NetworkWatcher,
  newNetwork,
  newNetworkNamespace,
  openNetwork,
} from "../../mod.ts";
import { OverlayWatcher } from "../../network/overlay_watcher.ts";

const networks = new Map<string, Network>();
const watchers = new Map<string, NetworkWatcher>();
const linked = new Map<string, Map<string, Namespace>>();

/** What the watcher took and skipped (an overlay watcher's; nothing for another kind). */
function progress(w: NetworkWatcher | undefined) {
  if (!(w instanceof OverlayWatcher)) return { revision: w?.revision ?? 0 };
  return {
    revision: w.revision,
    installed: w.installed.size,
    rejected: w.rejected.size,
    rejectedFirst: [...w.rejected].slice(0, 3).map(([k, why]) => `${k}: ${why}`),
  };
}

function usage() {
  const c = process.cpuUsage();
  const m = process.memoryUsage();
  return { cpuMs: (c.user + c.system) / 1000, rss: m.rss, heapUsed: m.heapUsed };
}

interface Command {
  id: number;
  op: string;
  type?: string;
  name: string;
  options?: Record<string, unknown>;
  endpoints?: string[];
  prefix?: string;
  count?: number;
}

async function handle(c: Command): Promise<Record<string, unknown>> {
  const net = () => networks.get(c.name)!;
  switch (c.op) {
    case "new":
      networks.set(c.name, await newNetwork(c.type ?? "overlay", c.name, c.options ?? {}));
      return {};
    case "open":
      networks.set(c.name, await openNetwork(c.name, c.options ?? {}));
      return {};
    case "watch": {
      const before = usage();
      const t = performance.now();
      const w = net().watch();
      watchers.set(c.name, w);
      await w.ready;
      return { ms: performance.now() - t, before, after: usage(), ...progress(w) };
    }
    case "stats":
      return { ...usage(), ...progress(watchers.get(c.name)) };
    case "link": {
      const m = linked.get(c.name) ?? new Map<string, Namespace>();
      linked.set(c.name, m);
      const out: Record<string, unknown> = {};
      for (const ep of c.endpoints ?? []) {
        const ns = await newNetworkNamespace(`/run/netns/${ep}`);
        m.set(ep, ns);
        const [iface] = await net().link(ep, { namespace: ns });
        await ns.addInterface(iface);
        out[ep] = iface;
      }
      return { interfaces: out };
    }
    case "benchLink": {
      const n = net();
      const eps = Array.from({ length: c.count! }, (_, i) => `${c.prefix}${i}`);
      const spaces = await Promise.all(eps.map((e) => newNetworkNamespace(`/run/netns/${e}`)));
      const ms: number[] = [];
      for (let i = 0; i < eps.length; i++) {
        const t = performance.now();
        await n.link(eps[i], { namespace: spaces[i] });
        ms.push(performance.now() - t);
      }
      for (let i = 0; i < eps.length; i++) {
        await spaces[i].delete();
        await n.unlink(eps[i]);
      }
      return { ms };
    }
    case "unlinkAll": {
      for (const [ep, ns] of linked.get(c.name) ?? []) {
        await ns.delete();
        await net().unlink(ep);
      }
      linked.delete(c.name);
      return {};
    }
    case "delete":
      await watchers.get(c.name)?.stop();
      watchers.delete(c.name);
      await net().delete();
      networks.delete(c.name);
      return {};
    default:
      throw new Error(`unknown op "${c.op}"`);
  }
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (line.trim() === "") return;
  const c = JSON.parse(line) as Command;
  handle(c).then(
    (r) => process.stdout.write(JSON.stringify({ ...r, id: c.id, ok: true }) + "\n"),
    (e) =>
      process.stdout.write(
        JSON.stringify({ id: c.id, ok: false, error: String(e?.message ?? e) }) + "\n",
      ),
  );
});
rl.on("close", async () => {
  if (process.env.NSLBENCH_DEBUG) console.error("overlay host: stdin closed, stopping");
  for (const w of watchers.values()) await w.stop();
  for (const m of linked.values()) for (const ns of m.values()) await ns.delete().catch(() => {});
  process.exit(0);
});
process.stdout.write(JSON.stringify({ id: 0, ok: true }) + "\n");
