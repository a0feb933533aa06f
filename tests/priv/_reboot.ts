/**
 * A reboot, simulated, for the reboot tests (not a test itself): each "boot" is a worker
 * process in a new network namespace and a new mount namespace with a fresh tmpfs on /run
 * (runtime state and kernel objects of the previous boot gone) and its own boot id
 * (`NSLINK_BOOT_ID`), sharing only /var/lib/nslink (the definitions; in-netns.sh's tmpfs).
 * Shared by reboot.test.ts, reboot-cni.test.ts and reboot-overlay.test.ts; each names its
 * worker (`_reboot_worker.ts`, `_reboot_cni_worker.ts`, `_reboot_overlay_worker.ts`), which is
 * run as `WORKER PHASE r` and ends with {@linkcode endBoot} (what it saw, as one JSON object on
 * its last line).
 *
 * @module
 */
import assert from "node:assert/strict";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { exec, runId } from "./_helpers.ts";
import { agentPid } from "./_agent_helpers.ts";

/** What a boot's worker saw (its last line of output). */
export type Seen = Record<string, unknown>;

/** Runs one boot of a worker: its phase, with boot id `id` (unique to this run). */
export type Boot = (phase: string, id: string) => Promise<Seen>;

/**
 * Makes the boot runner of a worker: each call runs `worker PHASE r` (under the runtime running
 * the test) in fresh network and mount namespaces with a fresh /run and boot id `RUN-id`,
 * asserts it succeeded and saw that boot id, and returns what it printed last.
 *
 * @example
 * ```ts ignore
 * const { boot, run } = rebooter(new URL("./_reboot_worker.ts", import.meta.url));
 * const one = await boot("create", "1"); // one.boot === `${run}-1`
 * ```
 * @param worker The worker module's URL.
 * @returns The runner, and this run's id (the prefix of every boot id).
 */
export function rebooter(worker: URL): { boot: Boot; run: string } {
  const path = fileURLToPath(worker.href);
  const run = runId();
  const boot: Boot = async (phase, id) => {
    const runtime = "Deno" in globalThis
      ? [process.execPath, "run", "-A", path]
      : [process.execPath, path];
    const r = await exec([
      "env",
      `NSLINK_BOOT_ID=${run}-${id}`,
      "unshare",
      "--net",
      "--mount",
      "--propagation",
      "private",
      "--",
      "bash",
      "-c",
      'mount -t tmpfs -o mode=0755 boot /run && ip link set lo up && exec "$@"',
      "boot",
      ...runtime,
      phase,
      "r",
    ]);
    assert.equal(r.code, 0, `boot ${id} (${phase}) failed:\n${r.stderr}\n${r.stdout}`);
    const seen = JSON.parse(r.stdout.trim().split("\n").pop()!) as Seen;
    assert.equal(seen.boot, `${run}-${id}`);
    return seen;
  };
  return { boot, run };
}

/**
 * A worker's last step (in the boot's process): a reboot ends every process, so the host
 * agents this boot started (by the pid in each state directory it used) are killed, and none
 * outlives the test in this boot's namespace; then what the boot saw is printed as its last line.
 *
 * @example
 * ```ts ignore
 * endBoot({ boot: bootId(), list: listNetworks() });
 * ```
 * @param seen What the boot saw (with `boot`, its boot id).
 * @param stateDirs The state directories the boot used.
 */
export function endBoot(seen: Seen, stateDirs: string[] = ["/run/nslink"]): void {
  for (const dir of stateDirs) {
    const pid = agentPid(dir);
    if (pid !== undefined) process.kill(pid, "SIGKILL");
  }
  console.log(JSON.stringify(seen));
}
