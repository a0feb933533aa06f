/**
 * What keeping nslink's state on a disk costs (issue 21): the fast path's `link` and `unlink`
 * (veth deleted while the namespace lives), ms per container until the calls return, with one
 * network's state directory on a tmpfs (`/run` of the sandbox, as on a real host) and another's
 * on the machine's disk (ext4 here: `bench/.state-disk/`, git-ignored, or `--disk DIR`),
 * interleaved round by round in one process, so that both see the same machine. `NSLINK_AGENT=off`
 * (no agent reacting to the links).
 *
 * Run inside the throw-away namespace (root):
 *   bash scripts/in-netns.sh deno run -A bench/state-disk.ts [--n 50] [--rounds 7] [--disk DIR]
 *   bash scripts/in-netns.sh bun bench/state-disk.ts …
 * Writes a result file (bench/lib/results.ts) with every round's figure, and each round's split
 * by libc function (every call of nslink's FFI layer goes through `loadLibc().symbols`, timed here
 * as bench/setup.ts does): µs per container and calls per container, for link and unlink, on
 * tmpfs and on disk. The clock's own cost (two `performance.now()` per call) is the same on both.
 *
 * @module
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { type Namespace, newNetwork, newNetworkNamespace } from "../mod.ts";
import { type LibcTally, tallyLibcCalls } from "./lib/libc_clock.ts";
import { currentRuntime, finishResult, startResult } from "./lib/results.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    n: { type: "string", default: "50" },
    rounds: { type: "string", default: "7" },
    disk: { type: "string", default: `${ROOT}/bench/.state-disk` },
  },
});
const N = Number(values.n);
const ROUNDS = Number(values.rounds);
process.env.NSLINK_AGENT = "off";
const started = startResult("state-disk", { n: N, rounds: ROUNDS, disk: values.disk });
mkdirSync(values.disk, { recursive: true });
type Where = "tmpfs" | "disk";
const dirs: Record<Where, string> = {
  tmpfs: mkdtempSync("/run/nslbench-state-"),
  disk: mkdtempSync(`${values.disk}/nslbench-state-`),
};
const nets = {
  tmpfs: await newNetwork("bridge", "nslbst", {
    stateDir: dirs.tmpfs,
    subnet: "198.51.100.0/24",
    bridgeName: "nslbst-t",
  }),
  disk: await newNetwork("bridge", "nslbsd", {
    stateDir: dirs.disk,
    subnet: "203.0.113.0/24",
    bridgeName: "nslbst-d",
  }),
};
const rounds: Record<Where, { link: number[]; unlink: number[] }> = {
  tmpfs: { link: [], unlink: [] },
  disk: { link: [], unlink: [] },
};

type Op = "link" | "unlink";
/** One round's libc split: per function, µs and calls per container. */
type Split = Record<string, { us: number; calls: number }>;
// Every libc call goes through loadLibc().symbols: time each under the phase that is running.
let phase: { tally: LibcTally } | undefined;
tallyLibcCalls(() => phase?.tally);
const symbols: Record<Where, Record<Op, Split[]>> = {
  tmpfs: { link: [], unlink: [] },
  disk: { link: [], unlink: [] },
};
/** Runs `f` with the libc calls it makes tallied, and returns the round's split per container. */
async function split(f: () => Promise<void>): Promise<Split> {
  const p = { tally: new Map<string, { ms: number; calls: number }>() };
  phase = p;
  try {
    await f();
  } finally {
    phase = undefined;
  }
  return Object.fromEntries(
    [...p.tally].sort((x, y) => y[1].ms - x[1].ms).map(([k, v]) => [k, {
      us: Math.round(v.ms * 10_000 / N) / 10,
      calls: Math.round(v.calls * 100 / N) / 100,
    }]),
  );
}
try {
  for (let r = 0; r < ROUNDS; r++) {
    const order: Where[] = r % 2 ? ["disk", "tmpfs"] : ["tmpfs", "disk"];
    for (const k of order) {
      const nss: Namespace[] = [];
      for (let i = 0; i < N; i++) nss.push(await newNetworkNamespace(`nslbst-${k}-${i}`));
      let t = 0;
      symbols[k].link.push(
        await split(async () => {
          t = performance.now();
          for (let i = 0; i < N; i++) await nets[k].link(`c${i}`, { namespace: nss[i] });
          rounds[k].link.push(+((performance.now() - t) / N).toFixed(4));
        }),
      );
      symbols[k].unlink.push(
        await split(async () => {
          t = performance.now();
          for (let i = 0; i < N; i++) await nets[k].unlink(`c${i}`);
          rounds[k].unlink.push(+((performance.now() - t) / N).toFixed(4));
        }),
      );
      for (const ns of nss) await ns.delete();
    }
  }
} finally {
  for (const k of ["tmpfs", "disk"] as Where[]) {
    await nets[k].delete();
    rmSync(dirs[k], { recursive: true, force: true });
    rmSync(`${dirs[k]}.config`, { recursive: true, force: true });
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const summary = {
  linkMs: {
    tmpfs: +median(rounds.tmpfs.link).toFixed(3),
    disk: +median(rounds.disk.link).toFixed(3),
  },
  unlinkMs: {
    tmpfs: +median(rounds.tmpfs.unlink).toFixed(3),
    disk: +median(rounds.disk.unlink).toFixed(3),
  },
};
console.log(
  `state on tmpfs vs disk (${currentRuntime()}, N=${N}, ${ROUNDS} interleaved rounds, medians, ms per container):\n` +
    `  link   ${summary.linkMs.tmpfs} vs ${summary.linkMs.disk} (${
      (summary.linkMs.disk / summary.linkMs.tmpfs).toFixed(2)
    }x)\n` +
    `  unlink ${summary.unlinkMs.tmpfs} vs ${summary.unlinkMs.disk} (${
      (summary.unlinkMs.disk / summary.unlinkMs.tmpfs).toFixed(2)
    }x)`,
);
for (const op of ["link", "unlink"] as Op[]) {
  const names = [...new Set([...symbols.tmpfs[op], ...symbols.disk[op]].flatMap(Object.keys))];
  const med = (k: Where, name: string) => median(symbols[k][op].map((r) => r[name]?.us ?? 0));
  const calls = (name: string) => median(symbols.disk[op].map((r) => r[name]?.calls ?? 0));
  console.log(
    `  ${op} libc us/ctr tmpfs -> disk (medians): ` +
      names.sort((a, b) => (med("disk", b) - med("tmpfs", b)) - (med("disk", a) - med("tmpfs", a)))
        .map((n) => `${n} ${med("tmpfs", n)} -> ${med("disk", n)} (x${calls(n)})`).join(", "),
  );
}
const path = finishResult(started, {
  samples: {
    unit: "ms per container, mean of one round",
    rounds,
    symbolsUnit: "per round: µs and calls per container inside each libc function",
    symbols,
  },
  summary,
});
if (path) console.error(`wrote ${path}`);
