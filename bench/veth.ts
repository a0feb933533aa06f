/**
 * One veth pair created and deleted, N times: through nslink (one netlink request each way) and
 * through iproute2 (one `ip link add` and one `ip link del` process). Prints medians in ms and
 * writes a result file (bench/lib/results.ts) with every sample. The
 * delete includes the kernel's own wait (~20 ms for a veth), which no tool avoids. Root, inside a
 * throw-away namespace: `scripts/in-netns.sh deno run -A bench/veth.ts` (or `bun bench/veth.ts`).
 *
 * @module
 */
import process from "node:process";
import { execFileSync } from "node:child_process";
import { Rtnl } from "../mod.ts";
import { finishResult, startResult } from "./lib/results.ts";

const argv = process.argv.slice(2);
const n = Number(argv[argv.indexOf("--n") + 1] ?? 30) || 30;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const time = (f: () => void) => {
  const t = performance.now();
  f();
  return performance.now() - t;
};

const started = startResult("veth", { n });
using rt = Rtnl.open();
const r: Record<string, number[]> = { nslinkAdd: [], nslinkDel: [], ipAdd: [], ipDel: [] };
for (let i = 0; i < n; i++) {
  r.nslinkAdd.push(
    time(() => rt.link.add({ kind: "veth", name: "nslva", peer: { name: "nslvb" } })),
  );
  r.nslinkDel.push(time(() => rt.link.del("nslva")));
  r.ipAdd.push(
    time(() =>
      execFileSync("ip", ["link", "add", "nslva", "type", "veth", "peer", "name", "nslvb"])
    ),
  );
  r.ipDel.push(time(() => execFileSync("ip", ["link", "del", "nslva"])));
}
const out = Object.fromEntries(
  Object.entries(r).map(([k, v]) => [k, Math.round(median(v) * 1000) / 1000]),
);
console.log(JSON.stringify({ runtime: "Bun" in globalThis ? "bun" : "deno", n, medianMs: out }));
const path = finishResult(started, {
  samples: {
    unit: "ms per call (nslink) or per process (ip)",
    ...Object.fromEntries(
      Object.entries(r).map(([k, v]) => [k, v.map((x) => Math.round(x * 1000) / 1000)]),
    ),
  },
});
if (path) console.error(`wrote ${path}`);
