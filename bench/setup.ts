/**
 * Where the fast path's setup time goes, per container (issue 21): `newNetworkNamespace`,
 * `network.link(name, { namespace })` and `ns.addInterface(iface)`, as `bench/peers/nslink.ts`
 * sets up, each step split into the time inside each libc function (the system calls: the
 * kernel's work) and the rest (the runtime and nslink's own JavaScript), beside the CPU the
 * process used. The workload is the main bench's (`bench/lib/workload.ts`); no peer is compared
 * here (ratios against Go come from `bench/run.sh`).
 *
 * Run as root, in a throw-away namespace, under each runtime:
 * `bash scripts/in-netns.sh node_modules/.bin/deno run -A bench/setup.ts --n 50 --rounds 3`
 * and `bash scripts/in-netns.sh node_modules/.bin/bun bench/setup.ts --n 50 --rounds 3`.
 * Each round sets up N containers timed, then tears them down untimed; round 1 holds the
 * process's first container (its code not yet compiled, its system calls not yet warm) and shows
 * it apart (`first`), the others show the steady state. `NSLINK_AGENT=off` runs it without the
 * host agent. Writes `bench/results/setup-RUNTIME-DATE.json` (see `lib/results.ts`).
 *
 * @module
 */
import process from "node:process";
import { mkdtempSync } from "node:fs";
import { type Interface, type Namespace, newNetworkNamespace } from "../mod.ts";
import { type LibcTally, perContainer, tallyLibcCalls } from "./lib/libc_clock.ts";
import { benchNetwork, ensureBridge, finishRounds } from "./lib/network.ts";
import { currentRuntime, startResult } from "./lib/results.ts";
import { ipv4, ipv6 } from "./lib/workload.ts";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const N = arg("n", 50);
const ROUNDS = arg("rounds", 3);

/** The steps of one container's setup, in order. */
const STEPS = ["netns", "link", "addInterface"] as const;
type Step = typeof STEPS[number];

// Every libc call goes through loadLibc().symbols: time each, per step, while `step` is set.
const bySymbol: Record<Step, LibcTally> = {
  netns: new Map(),
  link: new Map(),
  addInterface: new Map(),
};
let step: Step | undefined;
tallyLibcCalls(() => step === undefined ? undefined : bySymbol[step]);

ensureBridge();
const stateDir = mkdtempSync("/run/nslink-bench-");
const network = await benchNetwork("bench-su", stateDir);

const us = (ms: number) => Math.round(ms * 10_000 / N) / 10;
const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};
const libcMs = (s: Step) => sum([...bySymbol[s].values()].map((v) => v.ms));
const run = startResult("setup", {
  n: N,
  rounds: ROUNDS,
  agent: process.env.NSLINK_AGENT ?? "on",
});
const rounds: Record<string, unknown>[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const s of STEPS) bySymbol[s].clear();
  const samples: Record<Step, number[]> = { netns: [], link: [], addInterface: [] };
  const nss: Namespace[] = [];
  /** Runs one step of one container, timed, its libc calls counted under its name. */
  const timed = async <T>(s: Step, f: () => Promise<T>): Promise<T> => {
    step = s;
    const a = performance.now();
    try {
      return await f();
    } finally {
      samples[s].push(performance.now() - a);
      step = undefined;
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const ns = await timed("netns", () => newNetworkNamespace(`/run/netns/nsl-su-${i}`));
    nss.push(ns);
    const ifaces: Interface[] = await timed(
      "link",
      () => network.link(`c${i}`, { address: ipv4(i), addressIPv6: ipv6(i), namespace: ns }),
    );
    await timed("addInterface", async () => {
      for (const iface of ifaces) await ns.addInterface(iface);
    });
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const steps = Object.fromEntries(STEPS.map((s) => {
    const tally = bySymbol[s];
    return [s, {
      usPerCtr: us(sum(samples[s])),
      medianUs: us(median(samples[s]) * N),
      libcUsPerCtr: us(libcMs(s)),
      callsPerCtr: sum([...tally.values()].map((v) => v.calls)) / N,
      firstUs: us(samples[s][0] * N),
      symbols: perContainer(tally, N),
    }];
  }));
  const round = {
    round: r + 1,
    usPerCtr: us(wall),
    cpuUsPerCtr: Math.round((cpu.user + cpu.system) / N * 10) / 10,
    libcUsPerCtr: us(sum(STEPS.map(libcMs))),
    callsPerCtr: Math.round(sum(STEPS.map((s) => steps[s].callsPerCtr)) * 100) / 100,
    firstUs: us(sum(STEPS.map((s) => samples[s][0])) * N),
    steps,
    samplesMs: samples,
  };
  rounds.push(round);
  console.log(
    `${currentRuntime()} round ${r + 1}: ${round.usPerCtr} us/ctr (cpu ${round.cpuUsPerCtr}, ` +
      `libc ${round.libcUsPerCtr}, ${round.callsPerCtr} calls); ` +
      STEPS.map((s) =>
        `${s} ${steps[s].usPerCtr} (median ${steps[s].medianUs}, libc ${steps[s].libcUsPerCtr}, ` +
        `${steps[s].callsPerCtr} calls)`
      ).join(", ") + `; first container ${round.firstUs}`,
  );
  for (const s of STEPS) {
    console.log(
      `  ${s} libc us/ctr: ` +
        Object.entries(steps[s].symbols).map(([k, v]) => `${k} ${v.usPerCtr} (x${v.callsPerCtr})`)
          .join(", "),
    );
  }
  // Untimed teardown, as the fast path's peer does it; the releases settle once the kernel has
  // removed the veths (RELEASE_GRACE_MS): wait, so the next round's addresses are free.
  for (let i = 0; i < N; i++) {
    await nss[i].delete();
    await network.unlink(`c${i}`);
  }
  await new Promise((ok) => setTimeout(ok, 1500));
}
await finishRounds(run, rounds, network, stateDir);
