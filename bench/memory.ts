/**
 * Memory benchmark: one nslink process sets up and tears down N containers on the fast path
 * (in rounds of 50, on its own bridge network on 203.0.113.0/24 and 2001:db8:cc::/64),
 * then prints its peak RSS (VmHWM). Peak RSS at N=50 and N=500 should be about the same: nothing
 * per container is kept after teardown. With `--gc`, a full collection runs after each round
 * (Deno needs `--v8-flags=--expose-gc`), which separates what is live from what the collector
 * has not yet returned. Root, inside a throw-away namespace (bench/run.sh).
 *
 * Usage: deno run -A [--v8-flags=--expose-gc] bench/memory.ts --n 500 [--gc]
 *        bun bench/memory.ts --n 500 [--gc]
 *
 * @module
 */
import process from "node:process";
import { mkdtempSync, rmSync } from "node:fs";
import { type Namespace, newNetwork, newNetworkNamespace } from "../mod.ts";
import { peakRssKb } from "./lib/peer.ts";

const argv = process.argv.slice(2);
const n = Number(argv[argv.indexOf("--n") + 1] ?? 50) || 50;
const ROUND = 50;
const forceGc = argv.includes("--gc");
function collect(): void {
  if (!forceGc) return;
  const g = globalThis as { gc?: () => void; Bun?: { gc(sync: boolean): void } };
  if (g.Bun) g.Bun.gc(true);
  else if (g.gc) g.gc();
  else throw new Error("--gc needs --v8-flags=--expose-gc under Deno");
}
const suffix = Math.random().toString(16).slice(2, 6);
const stateDir = mkdtempSync("/run/nslink-mem-");
const network = await newNetwork("bridge", `mem-${suffix}`, {
  stateDir,
  bridgeName: `nslmem${suffix}`,
  subnet: "203.0.113.0/24",
  subnetIPv6: "2001:db8:cc::/64",
});
const rssAfterRound: number[] = [];
try {
  for (let done = 0; done < n;) {
    const count = Math.min(ROUND, n - done);
    const round: [string, Namespace][] = [];
    for (let i = 0; i < count; i++) {
      const name = `m${done + i}`;
      const ns = await newNetworkNamespace(`/run/netns/nslmem-${suffix}-${i}`);
      round.push([name, ns]);
      for (const iface of await network.link(name, { namespace: ns })) await ns.addInterface(iface);
    }
    for (const [name, ns] of round) {
      await ns.delete();
      await network.unlink(name);
    }
    done += count;
    collect();
    rssAfterRound.push(peakRssKb() ?? 0);
  }
} finally {
  await network.delete();
  rmSync(stateDir, { recursive: true, force: true });
}
console.log(JSON.stringify({
  runtime: "Bun" in globalThis ? "bun" : "deno",
  n,
  gc: forceGc,
  peakRssKb: peakRssKb(),
  peakRssKbAfterEachRound: rssAfterRound,
}));
