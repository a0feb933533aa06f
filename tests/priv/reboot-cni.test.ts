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
import { exec, SKIP_ROOT } from "./_helpers.ts";
import { rebooter } from "./_reboot.ts";

const { boot } = rebooter(new URL("./_reboot_cni_worker.ts", import.meta.url));

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
