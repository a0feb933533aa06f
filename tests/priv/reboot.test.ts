/**
 * A reboot, simulated: each "boot" is a child process in a new network namespace and a new
 * mount namespace with a fresh tmpfs on /run (runtime state and kernel objects of the previous
 * boot gone) and its own boot id (`NSLINK_BOOT_ID`), sharing only /var/lib/nslink (the
 * definitions; in-netns.sh's tmpfs). The work of each boot is `_reboot_worker.ts`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { exec, SKIP_ROOT } from "./_helpers.ts";
import { rebooter } from "./_reboot.ts";

const { boot, run: RUN } = rebooter(new URL("./_reboot_worker.ts", import.meta.url));

function inSubnet(address: unknown, prefix: string): boolean {
  return typeof address === "string" && address.startsWith(prefix);
}

describe("reboot: definitions survive, runtime state does not", { skip: SKIP_ROOT }, () => {
  it(
    "networks are listed after a reboot and made again on first use (open, connect, newNetwork with the same options): same ids and subnets, published port and firewall working",
    { timeout: 180_000 },
    async () => {
      try {
        const one = await boot("create", "1");
        assert.deepEqual(one.list, ["cnet", "int", "v6", "web"]);
        assert.deepEqual(one.recordBoots, [`${RUN}-1`, `${RUN}-1`]);
        assert.match(String(one.port), /^c1 from=/);
        // The definitions, in /var/lib/nslink (the default), with the options as given.
        const defs = readdirSync("/var/lib/nslink/networks").sort();
        assert.deepEqual(defs, ["cnet.json", "int.json", "v6.json", "web.json"]);
        const web = JSON.parse(readFileSync("/var/lib/nslink/networks/web.json", "utf8"));
        assert.deepEqual(
          [web.id, web.type, web.options, web.pools.v4.subnet],
          [
            (one.ids as Record<string, string>).web,
            "bridge",
            { subnet: "198.51.100.0/26" },
            "198.51.100.0/26",
          ],
        );

        const two = await boot("after", "2");
        assert.deepEqual(two.list, ["cnet", "int", "v6", "web"], "listNetworks after the reboot");
        assert.deepEqual(
          two.ls,
          ["cnet", "int", "v6", "web"],
          "nslink network ls after the reboot",
        );
        assert.deepEqual(two.bridgesBefore, [], "listing made nothing");
        assert.equal(two.tableBefore, undefined, "no firewall before the first use");
        assert.deepEqual(two.ids, one.ids, "the same networks (ids)");
        assert.ok(inSubnet(two.c1, "198.51.100."), `c1 ${two.c1}`);
        assert.equal(two.c1, one.c1, "c1 in web's subnet again");
        assert.equal(two.c2, one.c2, "c2 in int's subnet again");
        assert.equal(two.c3, one.c3, "c3 in v6's IPv6 subnet again");
        assert.ok(inSubnet(one.c5, "198.51.100.16"), `c5 ${one.c5}`);
        assert.equal(two.c5, one.c5, "CNI ADD: c5 in cnet's subnet again");
        assert.match(String(two.port), /^c1 from=/, "the published port works");
        const table = two.table as { chains: string[]; pub4: string[] };
        assert.ok(table && table.chains.length > 0, "nslink's table is back");
        assert.equal(table.pub4.length, 1, "one published port in pub4");
        assert.equal(two.bridgesAfter, 4);
        assert.match(String(two.otherOptions), /already exists/);

        const rm = await boot("clean", "3");
        assert.deepEqual(rm.rm, ["cnet", "int", "v6", "web"], "nslink network rm after a reboot");
        assert.deepEqual(rm.list, []);
        assert.deepEqual(rm.bridges, [], "removing made nothing");
        assert.equal(rm.table, undefined, "no firewall table made for removing");
        assert.deepEqual(
          existsSync("/var/lib/nslink/networks") ? readdirSync("/var/lib/nslink/networks") : [],
          [],
          "definitions removed with the networks",
        );
      } finally {
        await exec(["rm", "-rf", "/var/lib/nslink/networks"]);
      }
    },
  );

  it(
    "a state directory that survives the reboot: its records of the earlier boot are stale, dropped by the first use and by gc",
    { timeout: 120_000 },
    async () => {
      try {
        const one = await boot("keep1", "k1");
        assert.ok(inSubnet(one.c4, "198.51.100.22"), `c4 ${one.c4}`);
        const two = await boot("keep2", "k2");
        assert.deepEqual(two.dry, {
          networks: ["keep (runtime state of an earlier boot)"],
          endpoints: ["keep/c4 (of an earlier boot)"],
        });
        assert.deepEqual(two.list, ["keep"]);
        assert.equal(two.c4, one.c4, "the stale record's address is free again");
        assert.match(String(two.port), /^c4 from=/, "the stale port claim is dropped");
        assert.deepEqual(two.endpoints, ["c4"]);
        const three = await boot("keep3", "k3");
        assert.deepEqual(three.gc, {
          networks: ["keep (runtime state of an earlier boot)"],
          endpoints: ["keep/c4 (of an earlier boot)"],
          errors: [],
        });
        assert.deepEqual(three.state, [], "no endpoint, address or port claim left");
        assert.deepEqual(three.list, ["keep"], "still defined");
        assert.deepEqual(three.listAfterRm, []);
      } finally {
        await exec(["rm", "-rf", "/var/lib/nslink/keep-state", "/var/lib/nslink/keep-config"]);
      }
    },
  );
});
