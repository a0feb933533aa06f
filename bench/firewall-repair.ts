/**
 * Firewall self-repair latency (`FirewallRepair`): from spawning `nft flush ruleset` (what
 * Debian's nftables service runs on every reload) to nslink's table re-applied by the duty
 * running in this process, with one bridge network and 100 published ports saved. Prints one
 * JSON line: the latency's median, p90 and max, and how many repairs a burst of 20 flushes in a
 * row took.
 *
 * Usage (root, inside a throw-away namespace: it flushes the ruleset):
 *   bash scripts/in-netns.sh bash scripts/deno.sh run -A bench/firewall-repair.ts [--samples 20]
 *   bash scripts/in-netns.sh node_modules/.bin/bun bench/firewall-repair.ts
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import process from "node:process";
import { FirewallRepair } from "../firewall/repair.ts";
import { newNetwork } from "../network/network.ts";
import { openNetworkNamespace } from "../network/namespace.ts";

const i = process.argv.indexOf("--samples");
const samples = i > 0 ? Number(process.argv[i + 1]) : 20;
const stateDir = mkdtempSync("/tmp/nslink-bench-repair-");
const ns = "nslbenchrep";
spawnSync("ip", ["netns", "add", ns]);
const net = await newNetwork("bridge", "nslbenchrep", {
  stateDir,
  bridgeName: "nslbenchrep",
  subnet: "198.51.100.0/24",
});
let wake: (() => void) | undefined;
const ac = new AbortController();
const duty = new FirewallRepair({ stateDir, onRepair: () => wake?.() });
let done: Promise<void> | undefined;
const lat: number[] = [];
let burstRepairs = 0;
try {
  const namespace = await openNetworkNamespace(`/run/netns/${ns}`);
  const ports = Array.from({ length: 100 }, (_, k) => ({ hostPort: 20000 + k, port: 80 }));
  await net.link("c1", { namespace, ports });
  let first = new Promise<void>((r) => (wake = r));
  done = duty.run(ac.signal);
  await first; // the repair at start
  for (let k = 0; k < samples; k++) {
    await new Promise((r) => setTimeout(r, 50));
    first = new Promise<void>((r) => (wake = r));
    const t0 = performance.now();
    spawn("nft", ["flush", "ruleset"], { stdio: "ignore" });
    await first;
    lat.push(performance.now() - t0);
  }
  const before = duty.repairs;
  spawnSync("sh", ["-c", "i=0; while [ $i -lt 20 ]; do nft flush ruleset; i=$((i+1)); done"]);
  await new Promise((r) => setTimeout(r, 500));
  burstRepairs = duty.repairs - before;
  await net.unlink("c1");
} finally {
  ac.abort();
  await done;
  await net.delete();
  spawnSync("ip", ["netns", "del", ns]);
  rmSync(stateDir, { recursive: true, force: true });
}
lat.sort((a, b) => a - b);
const q = (p: number) => Math.round(lat[Math.floor(p * (lat.length - 1))] * 10) / 10;
console.log(JSON.stringify({
  runtime: "Bun" in globalThis ? "bun" : "deno",
  samples,
  flushToRepairedMs: { median: q(0.5), p90: q(0.9), max: q(1) },
  repairsFor20Flushes: burstRepairs,
}));
process.exit(0);
