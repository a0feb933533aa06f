/**
 * CPU time of another process, for the suites that measure the host agent from outside it
 * (bench/agent-idle.ts, bench/dns-agent.ts).
 *
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";

/**
 * CPU time used so far by every thread of a process, ms: the sum of its threads' run time in
 * `/proc/PID/task/TID/schedstat` (ns). A thread that ends meanwhile is left out.
 *
 * @param pid The process.
 * @returns Milliseconds.
 *
 * @example
 * ```ts
 * const before = threadsCpuMs(pid);
 * await sleep(10_000);
 * console.log(`${(threadsCpuMs(pid) - before) / 10} ms per s`);
 * ```
 */
export function threadsCpuMs(pid: string | number): number {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
    } catch { /* the thread ended */ }
  }
  return ns / 1e6;
}
