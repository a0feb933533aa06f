/**
 * Event monitor latency: how long after a change the monitor's consumer sees its event, with the
 * monitor idle (waiting) before each change. Prints one JSON line and writes a result file
 * (bench/lib/results.ts) with every sample.
 *
 * Usage (root, inside a throw-away namespace):
 *   bash scripts/in-netns.sh deno run -A bench/monitor.ts [--samples 100]
 *   bash scripts/in-netns.sh node_modules/.bin/bun bench/monitor.ts
 *
 * @module
 */
import process from "node:process";
import { Rtnl } from "../mod.ts";
import { finishResult, startResult } from "./lib/results.ts";

const i = process.argv.indexOf("--samples");
const samples = i > 0 ? Number(process.argv[i + 1]) : 100;
const started = startResult("monitor", { samples, idleMs: 30, change: "lo up/down" });
using rt = Rtnl.open();
await using events = rt.monitor({ groups: ["link"] });
const lat: number[] = [];
let seen = 0;
let wake: (() => void) | undefined;
const consumer = (async () => {
  for await (const _ of events) {
    seen++;
    wake?.();
  }
})();
for (let k = 0; k < samples; k++) {
  // Idle long enough for a backing-off waiter to reach its longest sleep.
  await new Promise((r) => setTimeout(r, 30));
  const before = seen;
  const got = new Promise<void>((r) => (wake = r));
  const t0 = performance.now();
  rt.link.set("lo", { up: k % 2 === 1 });
  await got;
  if (seen > before) lat.push(performance.now() - t0);
}
events.close();
await consumer;
const path = finishResult(started, {
  samples: {
    unit: "ms from the change to the consumer's event",
    latencyMs: lat.map((x) => Math.round(x * 1000) / 1000),
  },
});
if (path) console.error(`wrote ${path}`);
lat.sort((a, b) => a - b);
const q = (p: number) => Math.round(lat[Math.floor(p * (lat.length - 1))] * 1000) / 1000;
console.log(JSON.stringify({
  runtime: "Bun" in globalThis ? "bun" : "deno",
  samples,
  medianMs: q(0.5),
  p90Ms: q(0.9),
  maxMs: q(1),
}));
process.exit(0);
