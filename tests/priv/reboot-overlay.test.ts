/**
 * Overlay networks across a reboot: the definition (store, advertise, VNI; TLS file paths, no
 * key material) is kept in /var/lib/nslink like a bridge network's, so after a simulated reboot
 * (`_reboot_overlay_worker.ts` in a new network and mount namespace, a fresh /run, its own boot
 * id; etcd started again on the same data directory) `listNetworks()` lists it, and the first
 * `openNetwork` joins the store again and makes the bridge and VXLAN device; this host's
 * endpoint records of the earlier boot are released in the store.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { exec, SKIP_ROOT } from "./_helpers.ts";
import { rebooter } from "./_reboot.ts";

const { boot } = rebooter(new URL("./_reboot_overlay_worker.ts", import.meta.url));

describe("reboot: an overlay network", { skip: SKIP_ROOT }, () => {
  it(
    "is listed after a reboot; the first openNetwork joins again (bridge, VXLAN) and the earlier boot's endpoints are released",
    { timeout: 180_000 },
    async () => {
      try {
        const one = await boot("join", "1");
        assert.deepEqual(one.list, ["ovr"]);
        assert.deepEqual(one.endpoints, ["c1"]);
        const def = one.def as { type: string; id: string; config: Record<string, unknown> };
        assert.equal(def.type, "overlay");
        assert.equal(def.id, one.id);
        assert.equal(def.config.store, "etcd://198.51.100.1:2379");
        assert.equal(def.config.advertise, "198.51.100.1");
        assert.equal(typeof def.config.vni, "number");
        assert.equal("storePassword" in def.config, false);
        assert.equal((one.links as string[]).length, 2, "bridge and VXLAN device");

        const two = await boot("after", "2");
        assert.deepEqual(two.list, ["ovr"], "listed after the reboot");
        assert.deepEqual(two.linksBefore, [], "listing made nothing");
        assert.equal(two.id, one.id, "the same network");
        assert.deepEqual(two.links, one.links, "the first use made the bridge and VXLAN again");
        assert.deepEqual(two.endpoints, [], "the earlier boot's c1 released in the store");
        assert.equal(two.c1, one.c1, "c1 links again at the same address");

        const three = await boot("clean", "3");
        assert.deepEqual(three.list, []);
        assert.equal(three.def, false, "the definition removed with the network");
      } finally {
        await exec([
          "rm",
          "-rf",
          "/var/lib/nslink/networks/ovr.json",
          "/var/lib/nslink/etcd-reboot-overlay",
        ]);
      }
    },
  );
});
