/**
 * A network made by CNI ADD keeps its "made by ADD" mark across a reboot (in its definition),
 * so the last DEL after the reboot still removes it, as it does within one boot. Each "boot" is
 * `_reboot_cni_worker.ts` in a new network and mount namespace with a fresh tmpfs on /run and
 * its own boot id, sharing /var/lib/nslink (see reboot.test.ts).
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { exec, runId, SKIP_ROOT } from "./_helpers.ts";

const WORKER = fileURLToPath(new URL("./_reboot_cni_worker.ts", import.meta.url).href);
const RUN = runId();

/** Runs one boot: its phase, in fresh namespaces and a fresh /run, with boot id `id`. */
async function boot(phase: string, id: string): Promise<Record<string, unknown>> {
  const runtime = "Deno" in globalThis
    ? [process.execPath, "run", "-A", WORKER]
    : [process.execPath, WORKER];
  const r = await exec([
    "env",
    `NSLINK_BOOT_ID=${RUN}-${id}`,
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
  const seen = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
  assert.equal(seen.boot, `${RUN}-${id}`);
  return seen;
}

describe("reboot: a network made by CNI ADD", { skip: SKIP_ROOT }, () => {
  it(
    "keeps its made-by-ADD mark in its definition: after a reboot the last DEL still removes it",
    { timeout: 120_000 },
    async () => {
      try {
        const one = await boot("add", "1");
        assert.deepEqual(one.list, ["cauto"]);
        assert.equal(one.mark, true, "the definition carries the mark");
        const two = await boot("del", "2");
        assert.deepEqual(two.listBefore, ["cauto"], "listed after the reboot");
        assert.match(String(two.a2), /^198\.51\.100\.(19[3-9]|2[01]\d|22[0-2])\//);
        assert.equal(two.bridgesWith, 1, "ADD made the network again");
        assert.deepEqual(two.list, [], "the last DEL removed the network");
        assert.deepEqual(two.bridges, [], "and its bridge");
        assert.equal(two.definition, false, "and its definition");
      } finally {
        await boot("clean", "3").catch(() => {});
        await exec(["rm", "-f", "/var/lib/nslink/networks/cauto.json"]);
      }
    },
  );
});
