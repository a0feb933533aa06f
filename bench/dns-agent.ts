/**
 * Container names end to end, as users get them: a bridge network made with `newNetwork`, 100
 * containers linked with `link()`, names served by nslink's host agent (started on demand).
 * Measures, with dnsperf 2.10 from a container namespace to the gateway: queries per second for
 * container names; average latency at 1,000 queries/s; the first query after `link()` returns
 * (answered, or how many tries it took: nslink's promise is that the first one answers); and
 * queries lost by a steady 2,000 queries/s while 100 containers link and unlink. Writes a result
 * file (`bench/results/dns-agent-RUNTIME-…json`, bench/lib/results.ts) with every query's latency
 * at 1,000 queries/s (µs, from `dnsperf -v`), as is and with the agent and dnsperf under SCHED_FIFO
 * (skipped with `--no-rt`), and the agent's CPU time per container linked and unlinked (the sum of
 * its threads' run time, /proc/PID/task/TID/schedstat, across 200 links then 200 unlinks with no
 * query, less its idle rate over 2 s after); `bash bench/run-dns.sh` runs it on both runtimes
 * after bench/dns.ts and re-renders docs/benchmarks.md.
 *
 * Run inside the throw-away namespace, as root, under Deno or Bun (the agent runs under the same
 * runtime):
 *
 * ```sh
 * bash scripts/in-netns.sh bash scripts/deno.sh run -A bench/dns-agent.ts [--seconds 5] [--no-rt]
 * bash scripts/in-netns.sh node_modules/.bin/bun bench/dns-agent.ts
 * ```
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import $ from "dax-sh";
import { newNetwork, newNetworkNamespace } from "../mod.ts";
import { finishResult, startResult } from "./lib/results.ts";
import { threadsCpuMs } from "./lib/cpu.ts";

const args = process.argv.slice(2);
const i = args.indexOf("--seconds");
const SECONDS = i >= 0 ? Number(args[i + 1]) : 5;
const GW = "198.51.100.1";
const runtime = "Bun" in globalThis ? "bun" : "deno";

if (!readFileSync("/proc/self/mountinfo", "utf8").includes("nslink-run")) {
  console.error("bench/dns-agent.ts: run it inside scripts/in-netns.sh (a throw-away namespace)");
  process.exit(1);
}

const run = startResult("dns-agent", { names: 100, seconds: SECONDS, latencyRate: 1000 });
const dir = mkdtempSync(`${tmpdir()}/nslbda-`);
const stateDir = `${dir}/state`;
const net = await newNetwork("bridge", "nslbda", {
  stateDir,
  bridgeName: "nslbdab",
  subnet: "198.51.100.0/24",
});
const client = await newNetworkNamespace("/run/netns/nslbdac");

function dnsperf(file: string, extra: string[]): ChildProcess & { out: Promise<string> } {
  const c = spawn("ip", [
    "netns",
    "exec",
    "nslbdac",
    "dnsperf",
    "-s",
    GW,
    "-d",
    file,
    ...extra,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  let text = "";
  c.stdout!.on("data", (d) => (text += d));
  const out = new Promise<string>((r) => c.on("exit", () => r(text)));
  return Object.assign(c, { out });
}
const num = (out: string, re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
/** Each answered query's latency, µs, from dnsperf -v. */
const parseLatencies = (out: string) =>
  out.split("\n").map((l) => /^> \S+ .* ([\d.]+)$/.exec(l)?.[1]).filter((x) => x !== undefined)
    .map((x) => Math.round(Number(x) * 1e6));
/** dnsperf at 1,000 queries/s, -v, itself under SCHED_FIFO. */
async function dnsperfRt(file: string): Promise<string> {
  const r = await $`chrt -f 10 ip netns exec nslbdac dnsperf -s ${GW} -d ${file} -l ${
    String(Math.min(SECONDS, 3))
  } -Q 1000 -v`.noThrow().stdout("piped").stderr("piped");
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The agent's CPU per container: across `n` links then `n` unlinks (no query meanwhile), less
 * what it uses idle (measured over 2 s after), ms per container.
 */
async function agentCpu(pid: string, n: number) {
  await sleep(500);
  const c0 = threadsCpuMs(pid), t0 = Date.now();
  for (let k = 0; k < n; k++) await net.link(`cpu${k}`);
  await sleep(500); // the agent's next sync sees the last one
  const c1 = threadsCpuMs(pid), t1 = Date.now();
  for (let k = 0; k < n; k++) await net.unlink(`cpu${k}`);
  await sleep(500);
  const c2 = threadsCpuMs(pid), t2 = Date.now();
  await sleep(2000);
  const idleMsPerS = (threadsCpuMs(pid) - c2) / ((Date.now() - t2) / 1000);
  return {
    containers: n,
    idleMsPerS,
    linkMsPerContainer: (c1 - c0 - idleMsPerS * (t1 - t0) / 1000) / n,
    unlinkMsPerContainer: (c2 - c1 - idleMsPerS * (t2 - t1) / 1000) / n,
    linkMsPerContainerGross: (c1 - c0) / n,
    unlinkMsPerContainerGross: (c2 - c1) / n,
  };
}

try {
  for (const iface of await net.link("client", { namespace: client })) {
    await client.addInterface(iface);
  }
  for (let n = 0; n < 100; n++) await net.link(`c${n}`);
  writeFileSync(
    `${dir}/names`,
    Array.from({ length: 100 }, (_, n) => `c${n}.dns.nslink A`).join("\n") + "\n",
  );
  const max = await dnsperf(`${dir}/names`, ["-l", String(SECONDS), "-c", "4"]).out;
  const slow = await dnsperf(`${dir}/names`, [
    "-l",
    String(Math.min(SECONDS, 3)),
    "-Q",
    "1000",
    "-v",
  ])
    .out;
  const us = parseLatencies(slow);
  const sorted = [...us].sort((a, b) => a - b);
  const pct = (p: number) =>
    (sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)] ?? NaN) / 1000;
  // The same with the agent (every thread) and dnsperf under SCHED_FIFO: no waiting for a CPU
  // behind other processes (bench/dns.ts does the same for every server).
  const agentPid = readFileSync(`${stateDir}/agent.pid`, "utf8").split(" ")[0].trim();
  let realtime: number[] | undefined;
  if (!args.includes("--no-rt") && /^\d+$/.test(agentPid)) {
    await $`chrt -a -f -p 10 ${agentPid}`.quiet();
    try {
      const fifo = await dnsperfRt(`${dir}/names`);
      realtime = parseLatencies(fifo);
    } finally {
      await $`chrt -a -o -p 0 ${agentPid}`.noThrow().quiet();
    }
  }
  const names = {
    qps: num(max, /Queries per second:\s+([\d.]+)/),
    sent: num(max, /Queries sent:\s+(\d+)/),
    lost: num(max, /Queries lost:\s+(\d+)/),
    avgMs: num(max, /Average Latency \(s\):\s+([\d.]+)/) * 1000,
  };
  console.log(
    `${runtime} agent: names ${names.qps.toFixed(0)} q/s (lost ${names.lost}); at 1000 q/s ` +
      `p50 ${pct(0.5).toFixed(3)} ms, p99 ${pct(0.99).toFixed(3)} ms` +
      (realtime
        ? `; under SCHED_FIFO p99 ${
          ([...realtime].sort((a, b) => a - b)[Math.ceil(realtime.length * 0.99) - 1] / 1000)
            .toFixed(3)
        } ms`
        : ""),
  );

  // The first query after link() returns: answered at once, every time?
  let first = 0;
  const tries = 20;
  for (let n = 0; n < tries; n++) {
    await net.link(`new${n}`);
    const r =
      await $`ip netns exec nslbdac dig @${GW} +tries=1 +timeout=2 +short new${n}.dns.nslink`
        .noThrow().stdout("piped").stderr("piped");
    if (r.stdout.trim() !== "") first++;
    await net.unlink(`new${n}`);
  }
  console.log(`${runtime} agent: first query after link() answered ${first}/${tries} times`);

  // Steady load on a stable name while 100 containers link and unlink.
  writeFileSync(`${dir}/stable`, "c0.dns.nslink A\n");
  const load = dnsperf(`${dir}/stable`, ["-l", "1000", "-Q", "2000"]);
  const t0 = Date.now();
  for (let n = 0; n < 100; n++) await net.link(`churn${n}`);
  for (let n = 0; n < 100; n++) await net.unlink(`churn${n}`);
  const churnMs = Date.now() - t0;
  load.kill("SIGINT");
  const out = await load.out;
  const churn = {
    links: 100,
    unlinks: 100,
    ms: churnMs,
    rate: 2000,
    sent: num(out, /Queries sent:\s+(\d+)/),
    lost: num(out, /Queries lost:\s+(\d+)/),
  };
  console.log(
    `${runtime} agent: while 100 link + 100 unlink (${churnMs} ms): ` +
      `${churn.sent} sent, ${churn.lost} lost`,
  );
  // The agent's CPU per container: 200 links then 200 unlinks (the 100 names unlinked first,
  // so that the /24 has room).
  for (let n = 0; n < 100; n++) await net.unlink(`c${n}`);
  const cpu = /^\d+$/.test(agentPid) ? await agentCpu(agentPid, 200) : undefined;
  if (cpu) {
    console.log(
      `${runtime} agent: CPU per container ${cpu.linkMsPerContainer.toFixed(3)} ms linked, ` +
        `${cpu.unlinkMsPerContainer.toFixed(3)} ms unlinked (idle ${
          cpu.idleMsPerS.toFixed(1)
        } ms/s)`,
    );
  }
  const path = finishResult(run, {
    samples: {
      unit: "latency µs per answered query; qps and avgMs from dnsperf",
      names,
      latency: { rate: 1000, lost: num(slow, /Queries lost:\s+(\d+)/), us },
      ...(realtime ? { latencyRealtime: { rate: 1000, us: realtime } } : {}),
      firstQuery: { answered: first, tries },
      churn,
      ...(cpu ? { agentCpu: cpu } : {}),
    },
    versions: { dnsperf: "2.10" },
  });
  if (path) console.error(`wrote ${path}`);
} finally {
  for (let n = 0; n < 100; n++) await net.unlink(`c${n}`).catch(() => {});
  await client.delete();
  await net.unlink("client");
  await net.delete();
  rmSync(dir, { recursive: true, force: true });
}
