/**
 * A/B of spare namespaces (issue 21): the fast path per container (`newNetworkNamespace`,
 * `network.link` into it, `addInterface`) with namespaces made on the calling thread, against
 * the same with the spare worker (netns/spare.ts) started before the timer (`spare`), and with
 * the default (`auto`: under Bun the worker starts at the 3rd namespace, inside the timed loop;
 * under Deno that is `inline`). One process per
 * variant; run the variants alternately (see the usage) so that both see the same load.
 *
 * Prints one JSON line: wall ms per container (setup), the `newNetworkNamespace` step's median in
 * µs, the main thread's CPU and the whole process's CPU per container, the worker's start (wall
 * and main-thread CPU until the first spare), and the peak RSS.
 *
 * Usage (root, in the sandbox, agent off):
 *   for r in 1 2 3; do for v in inline spare; do
 *     NSLINK_AGENT=off bash scripts/in-netns.sh bash scripts/deno.sh run -A bench/spare_netns.ts $v 50
 *     NSLINK_AGENT=off bash scripts/in-netns.sh node_modules/.bin/bun bench/spare_netns.ts $v 50
 *   done; done
 *
 * @module
 */
import process from "node:process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type Namespace, newNetworkNamespace } from "../mod.ts";
import { spareNetnsState, startSpareNetns } from "../netns/spare.ts";
import { benchNetwork } from "./lib/network.ts";
import { ipv4, ipv6, nsName } from "./lib/workload.ts";
import { peakRssKb, processCpuMs } from "./lib/peer.ts";

const variant = process.argv[2] ?? "inline";
const n = Number(process.argv[3] ?? 50);
if (variant === "inline") process.env.NSLINK_SPARE_NETNS = "off";

/** CPU time of the calling thread so far, in ms (scheduler statistics, ns resolution). */
function threadCpuMs(): number {
  return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e6;
}

const stateDir = mkdtempSync("/run/nslink-bench-");
const network = await benchNetwork("bench-spare", stateDir);
let start: { wallMs: number; mainCpuMs: number } | undefined;
if (variant === "spare") {
  const w0 = performance.now();
  const c0 = threadCpuMs();
  await startSpareNetns();
  while (!spareNetnsState().ready) await new Promise((ok) => setTimeout(ok, 1));
  start = { wallMs: performance.now() - w0, mainCpuMs: threadCpuMs() - c0 };
}
const namespaces: Namespace[] = [];
const nsSteps: number[] = [];
let misses = 0;
const nsCpu: number[] = [];
/** Each container's setup, for the tail: a spare worker holding a kernel lock could stall it. */
const perCtr: number[] = [];
const t0 = performance.now();
const cpu0 = processCpuMs();
const main0 = threadCpuMs();
for (let i = 0; i < n; i++) {
  if (variant !== "inline" && !spareNetnsState().ready) misses++;
  const s = performance.now();
  const c = threadCpuMs();
  const ns = await newNetworkNamespace(`/run/netns/${nsName("spare", i)}`);
  nsCpu.push(threadCpuMs() - c);
  nsSteps.push(performance.now() - s);
  namespaces.push(ns);
  const ifaces = await network.link(`c${i}`, {
    address: ipv4(i),
    addressIPv6: ipv6(i),
    namespace: ns,
  });
  for (const iface of ifaces) await ns.addInterface(iface);
  perCtr.push(performance.now() - s);
}
const setupMs = performance.now() - t0;
const cpuMs = processCpuMs() - cpu0;
const mainCpuMs = threadCpuMs() - main0;
const spares = spareNetnsState();
for (let i = 0; i < n; i++) {
  await namespaces[i].delete();
  await network.unlink(`c${i}`);
}
await network.delete();
rmSync(stateDir, { recursive: true, force: true });
nsSteps.sort((a, b) => a - b);
nsCpu.sort((a, b) => a - b);
perCtr.sort((a, b) => a - b);
const r = (x: number, d = 3) => Number(x.toFixed(d));
console.log(JSON.stringify({
  runtime: "Bun" in globalThis ? "bun" : "deno",
  variant,
  n,
  setupMsPerCtr: r(setupMs / n),
  netnsMedianUs: r(nsSteps[nsSteps.length >> 1] * 1000, 1),
  netnsMainCpuMedianUs: r(nsCpu[nsCpu.length >> 1] * 1000, 1),
  ctrP95Ms: r(perCtr[Math.floor(perCtr.length * 0.95)]),
  ctrMaxMs: r(perCtr[perCtr.length - 1]),
  mainCpuMsPerCtr: r(mainCpuMs / n),
  processCpuMsPerCtr: r(cpuMs / n),
  ...(start
    ? { workerStartWallMs: r(start.wallMs, 1), workerStartMainCpuMs: r(start.mainCpuMs, 2) }
    : {}),
  sparesReadyAtEnd: spares.ready,
  ...(variant !== "inline" ? { noSpareReady: misses } : {}),
  rssKb: peakRssKb(),
}));
