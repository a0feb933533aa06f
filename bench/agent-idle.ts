/**
 * The host agent's idle CPU (issue 21): one network (the agent starts on demand, under the same
 * runtime), nothing else happening; prints the CPU time the agent uses per second of wall time,
 * the sum of its threads' run time (/proc/PID/task/TID/schedstat), over `--seconds` (default 10)
 * after a 1 s settle. Prints only (no result file): compare runtimes and commits in one sitting.
 *
 * ```sh
 * bash scripts/in-netns.sh bash scripts/deno.sh run -A bench/agent-idle.ts [--seconds 10]
 * bash scripts/in-netns.sh node_modules/.bin/bun bench/agent-idle.ts
 * ```
 *
 * @module
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { newNetwork } from "../mod.ts";
import { threadsCpuMs } from "./lib/cpu.ts";

const args = process.argv.slice(2);
const i = args.indexOf("--seconds");
const SECONDS = i >= 0 ? Number(args[i + 1]) : 10;
const runtime = "Bun" in globalThis ? "bun" : "deno";

if (!readFileSync("/proc/self/mountinfo", "utf8").includes("nslink-run")) {
  console.error("bench/agent-idle.ts: run it inside scripts/in-netns.sh (a throw-away namespace)");
  process.exit(1);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(`${tmpdir()}/nslbai-`);
const stateDir = `${dir}/state`;
const net = await newNetwork("bridge", "nslbai", {
  stateDir,
  bridgeName: "nslbaib",
  subnet: "198.51.100.0/24",
});
try {
  await net.link("c0");
  const pid = readFileSync(`${stateDir}/agent.pid`, "utf8").split(" ")[0].trim();
  if (!/^\d+$/.test(pid)) throw new Error("bench/agent-idle.ts: no agent runs");
  await sleep(1000);
  const c0 = threadsCpuMs(pid), t0 = Date.now();
  await sleep(SECONDS * 1000);
  const perS = (threadsCpuMs(pid) - c0) / ((Date.now() - t0) / 1000);
  console.log(
    `${runtime} agent idle: ${perS.toFixed(2)} ms CPU per s over ${SECONDS} s ` +
      `(load ${readFileSync("/proc/loadavg", "utf8").split(" ")[0]})`,
  );
} finally {
  await net.unlink("c0").catch(() => {});
  await net.delete();
  rmSync(dir, { recursive: true, force: true });
}
