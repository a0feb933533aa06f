/**
 * The host agent as tests see it: which process serves a state directory, and how a test makes
 * sure none survives it (every test that makes networks kills what is left in its after(): the
 * library starts the agent for every network), and how a test that damages nslink's table on
 * purpose keeps it from being repaired ({@linkcode agentOffForTests}).
 *
 * @module
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import process from "node:process";
import { agentPaths } from "../../mod.ts";

function alive(pid: number): boolean {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]/.test(s.slice(s.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
}

/**
 * The pid of the agent serving a state directory, as its `agent.pid` says, if that process
 * lives (a zombie is dead).
 *
 * @param stateDir The state directory.
 * @returns The pid, or `undefined`.
 */
export function agentPid(stateDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(agentPaths(stateDir).pid, "utf8").trim().split(" ")[0]);
    return pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every live `… agent …` process whose environment names the state directory (one that lost
 * the race for the lock included).
 *
 * @param stateDir The state directory.
 * @returns Their pids.
 */
export function agentsOf(stateDir: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").includes("agent")) continue;
      if (!alive(Number(d))) continue;
      const env = readFileSync(`/proc/${d}/environ`, "utf8").split("\0");
      if (env.includes(`NSLINK_STATE_DIR=${stateDir}`)) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

/**
 * Kills (SIGKILL) every agent process of a state directory.
 *
 * @param stateDir The state directory.
 */
export function killAgents(stateDir: string): void {
  for (const pid of new Set([...agentsOf(stateDir), agentPid(stateDir) ?? 0])) {
    if (pid <= 0) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

/**
 * Removes a state directory a test used, with whatever networks it still holds, after killing
 * its agents: the directory itself and its entry in `/run/nslink.dirs` (which lists the
 * directories with bridge networks; `scripts/in-netns.sh` fails a run that leaves one). For a
 * directory whose networks' kernel objects go with the test's namespaces (a simulated host's,
 * a killed process's): its records are all that is left.
 *
 * @param stateDir The state directory.
 */
export function removeStateDir(stateDir: string): void {
  killAgents(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(`/run/nslink.dirs/${encodeURIComponent(stateDir)}`, { force: true });
}

/**
 * Tells the library (and every nslink process this one starts: CLI, CNI plugin, simulated
 * hosts) never to start the host agent on demand (`NSLINK_AGENT=off`), for a test that removes
 * nslink's table on purpose to watch `repairFirewall()`, CNI CHECK or gc see the damage — an
 * agent's firewall repair would put it back at once. Call it in `before()`, and the function it
 * returns in `after()`.
 *
 * @returns What puts the variable back as it was.
 */
export function agentOffForTests(): () => void {
  const was = process.env.NSLINK_AGENT;
  process.env.NSLINK_AGENT = "off";
  return () => {
    if (was === undefined) delete process.env.NSLINK_AGENT;
    else process.env.NSLINK_AGENT = was;
  };
}
