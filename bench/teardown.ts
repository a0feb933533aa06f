/**
 * Where the fast path's teardown time goes, per container (issue 21): `ns.delete()` then
 * `network.unlink(name)`, as `bench/peers/nslink.ts` tears down, split into the time inside each
 * libc function (the system calls: the kernel's work), nslink's own JavaScript, and the CPU the
 * process used. The calling thread's time is also split the scheduler's way
 * (`/proc/thread-self/schedstat`): on a CPU, waiting for one (runnable), and asleep (inside a
 * blocking call: `umount2` waits for an expedited RCU grace period, whose kernel thread needs a
 * CPU too), beside the CPU used meanwhile by the process's other threads (the runtime's compiler
 * and GC threads) and by the host agent (another process, reacting to the state's changes): on
 * two CPUs, that work is what makes the calling thread and the grace period wait. The workload is the main bench's (`bench/lib/workload.ts`); no peer is compared
 * here (ratios against Go come from `bench/run.sh`).
 *
 * Run as root, in a throw-away namespace, under each runtime:
 * `bash scripts/in-netns.sh node_modules/.bin/deno run -A bench/teardown.ts --n 50 --rounds 3`
 * and `bash scripts/in-netns.sh node_modules/.bin/bun bench/teardown.ts --n 50 --rounds 3`.
 * Each round sets up N containers (untimed), waits 300 ms, then tears them down timed; round 1
 * includes the first teardown of the process (its code and system calls not yet warm), the others
 * show the steady state. `NSLINK_AGENT=off` runs it without the host agent. Writes
 * `bench/results/teardown-RUNTIME-DATE.json` (see `lib/results.ts`).
 *
 * @module
 */
import process from "node:process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { type Namespace, newNetworkNamespace } from "../mod.ts";
import { loadLibc } from "../ffi/libc.ts";
import { agentPaths } from "../agent/agent.ts";
import { currentRuntime, startResult } from "./lib/results.ts";
import { benchNetwork, ensureBridge, finishRounds } from "./lib/network.ts";
import { ipv4, ipv6 } from "./lib/workload.ts";
import { perContainer } from "./lib/libc_clock.ts";

type Fn = (...args: unknown[]) => unknown;
const symbolCounters: { ms: number; calls: number }[] = [];

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const N = arg("n", 50);
const ROUNDS = arg("rounds", 3);

// Every libc call goes through loadLibc().symbols: time each while `timing` is on. One wrapper
// per symbol, made once (as bench/lib/libc_clock.ts does): a Proxy returning a new closure per
// call cost more than the calls it timed, and gave Bun's compiler threads work of their own.
const bySymbol = new Map<string, { ms: number; calls: number }>();
let libcMs = 0;
let timing = false;
{
  const lib = loadLibc() as unknown as { symbols: Record<string, Fn> };
  const timed: Record<string, Fn> = {};
  for (const [name, f] of Object.entries(lib.symbols)) {
    // errno is read right after a call; poll runs on a pool thread (the wait is not the JS thread's).
    if (name === "__errno_location" || name === "poll") {
      timed[name] = f;
      continue;
    }
    const s = { ms: 0, calls: 0 };
    timed[name] = (...args: unknown[]) => {
      if (!timing) return f(...args);
      const t0 = performance.now();
      try {
        return f(...args);
      } finally {
        const d = performance.now() - t0;
        libcMs += d;
        if (s.calls++ === 0) bySymbol.set(name, s);
        s.ms += d;
      }
    };
    // Cleared between rounds: a symbol's counters start again from zero.
    symbolCounters.push(s);
  }
  lib.symbols = timed;
}

/** A thread's scheduler statistics (`/proc/…/schedstat`): ns on a CPU, ns runnable, slices. */
const schedstat = (path: string) => readFileSync(path, "utf8").split(" ").map(Number);

/**
 * The CPU nanoseconds of the process's threads other than the calling one and of the state
 * directory's host agent, from the scheduler's statistics. Read outside the calling thread's
 * own snapshots (`/proc/thread-self/schedstat`), so that reading them is not counted as its time.
 */
function otherCpu(): { others: number; agent: number } {
  const read = schedstat;
  const selfTid = readlinkSync("/proc/thread-self").split("/").pop();
  let others = 0;
  for (const tid of readdirSync("/proc/self/task")) {
    if (tid === selfTid) continue;
    try {
      others += read(`/proc/self/task/${tid}/schedstat`)[0];
    } catch { /* ended meanwhile */ }
  }
  let agent = 0;
  try {
    const pid = readFileSync(agentPaths(stateDir).pid, "utf8").trim().split(" ")[0];
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      agent += read(`/proc/${pid}/task/${tid}/schedstat`)[0];
    }
  } catch { /* no agent (NSLINK_AGENT=off), or it ended */ }
  return { others, agent };
}

ensureBridge();
const stateDir = mkdtempSync("/run/nslink-bench-");
const network = await benchNetwork("bench-td", stateDir);

const us = (ms: number) => Math.round(ms * 10_000 / N) / 10;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};
const run = startResult("teardown", {
  n: N,
  rounds: ROUNDS,
  agent: process.env.NSLINK_AGENT ?? "on",
});
const rounds: Record<string, unknown>[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const nss: Namespace[] = [];
  for (let i = 0; i < N; i++) {
    const ns = await newNetworkNamespace(`/run/netns/nsl-td-${i}`);
    nss.push(ns);
    const ifaces = await network.link(`c${i}`, {
      address: ipv4(i),
      addressIPv6: ipv6(i),
      namespace: ns,
    });
    for (const iface of ifaces) await ns.addInterface(iface);
  }
  await new Promise((ok) => setTimeout(ok, 300));
  bySymbol.clear();
  for (const s of symbolCounters) s.ms = s.calls = 0;
  libcMs = 0;
  const del: number[] = [];
  const unl: number[] = [];
  const delLibc: number[] = [];
  const unlLibc: number[] = [];
  timing = true;
  const other0 = otherCpu();
  const self0 = schedstat("/proc/thread-self/schedstat");
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const l0 = libcMs;
    const a = performance.now();
    await nss[i].delete();
    const b = performance.now();
    const l1 = libcMs;
    await network.unlink(`c${i}`);
    const c = performance.now();
    del.push(b - a);
    unl.push(c - b);
    delLibc.push(l1 - l0);
    unlLibc.push(libcMs - l1);
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const self1 = schedstat("/proc/thread-self/schedstat");
  const other1 = otherCpu();
  timing = false;
  const nsUs = (ns: number) => Math.round(ns / N / 100) / 10;
  const onCpuNs = self1[0] - self0[0];
  const runnableNs = self1[1] - self0[1];
  const thread = {
    cpuUsPerCtr: nsUs(onCpuNs),
    runnableUsPerCtr: nsUs(runnableNs),
    asleepUsPerCtr: nsUs(Math.max(0, wall * 1e6 - onCpuNs - runnableNs)),
  };
  const otherThreadsCpuUsPerCtr = nsUs(other1.others - other0.others);
  const agentCpuUsPerCtr = nsUs(Math.max(0, other1.agent - other0.agent));
  const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
  const symbols = perContainer(bySymbol, N);
  const round = {
    round: r + 1,
    usPerCtr: us(wall),
    cpuUsPerCtr: Math.round((cpu.user + cpu.system) / N * 10) / 10,
    libcUsPerCtr: us(libcMs),
    callsPerCtr: sum([...bySymbol.values()].map((v) => v.calls)) / N,
    nsDelete: {
      usPerCtr: us(sum(del)),
      medianUs: us(median(del) * N),
      libcUsPerCtr: us(sum(delLibc)),
    },
    unlink: {
      usPerCtr: us(sum(unl)),
      medianUs: us(median(unl) * N),
      libcUsPerCtr: us(sum(unlLibc)),
    },
    first: { nsDeleteUs: us(del[0] * N), unlinkUs: us(unl[0] * N) },
    thread,
    otherThreadsCpuUsPerCtr,
    agentCpuUsPerCtr,
    symbols,
    samplesMs: { nsDelete: del, unlink: unl },
  };
  rounds.push(round);
  console.log(
    `${currentRuntime()} round ${
      r + 1
    }: ${round.usPerCtr} us/ctr (cpu ${round.cpuUsPerCtr}, libc ${round.libcUsPerCtr}, ${round.callsPerCtr} calls); ` +
      `ns.delete ${round.nsDelete.usPerCtr} (median ${round.nsDelete.medianUs}, libc ${round.nsDelete.libcUsPerCtr}), ` +
      `unlink ${round.unlink.usPerCtr} (median ${round.unlink.medianUs}, libc ${round.unlink.libcUsPerCtr}); ` +
      `first container ${round.first.nsDeleteUs} + ${round.first.unlinkUs}`,
  );
  console.log(
    `  calling thread us/ctr: on a CPU ${thread.cpuUsPerCtr}, runnable ${thread.runnableUsPerCtr}, ` +
      `asleep ${thread.asleepUsPerCtr}; meanwhile other threads' CPU ${otherThreadsCpuUsPerCtr}, ` +
      `host agent's CPU ${agentCpuUsPerCtr}`,
  );
  console.log(
    "  libc us/ctr: " +
      Object.entries(symbols).map(([k, v]) => `${k} ${v.usPerCtr} (x${v.callsPerCtr})`).join(", "),
  );
  // The releases settle once the kernel has removed the veths (RELEASE_GRACE_MS): wait, so the
  // next round's addresses are free.
  await new Promise((ok) => setTimeout(ok, 1500));
}
await finishRounds(run, rounds, network, stateDir);
