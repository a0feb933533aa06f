/**
 * Privileged tests of a bridge network without IPv4 (`enableIPv4: false`, Docker's
 * `--ipv4=false`): IPv6 address, MAC and default route only, on both paths.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { newNetwork } from "../../mod.ts";
import { SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  assertConfigured,
  assertPing,
  bridgeNetwork,
  cleanupNewVeths,
  namespaceAt,
  setUpNetworkTestFile,
  tempStateDir,
} from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();

describe("bridge network with enableIPv4: false", () => {
  it("hands out IPv6 only, with a MAC from the IPv6 address, on both paths", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const { network } = await bridgeNetwork(c, `${P}-v6`, `${P}v6`, {
        enableIPv4: false,
        subnetIPv6: "2001:db8:6::/64",
      });
      assert.equal(network.subnet, "");
      for (const fast of [false, true]) {
        const path = `/run/netns/${P}${fast ? "f" : "s"}`;
        const ns = await namespaceAt(c, path);
        const [iface] = await network.link(fast ? "f" : "s", fast ? { namespace: ns } : {});
        assert.equal(iface.address, "");
        assert.equal(iface.gateway, "");
        assert.equal(iface.addressIPv6, `2001:db8:6::${fast ? 3 : 2}/64`);
        assert.equal(iface.macAddress, `02:42:00:00:00:0${fast ? 3 : 2}`);
        const got = await ns.addInterface(iface);
        await assertConfigured(path, got);
        await assertPing(path, "2001:db8:6::1");
      }
    });
  });

  it("refuses IPv4 options, or no IPv6 subnet, when IPv4 is off", {
    skip: SKIP_ROOT,
  }, async () => {
    const stateDir = tempStateDir();
    await assert.rejects(
      newNetwork("bridge", `${P}-x1`, { stateDir, enableIPv4: false, subnet: "198.51.100.0/24" }),
      /"enableIPv4" is false/,
    );
    await assert.rejects(
      newNetwork("bridge", `${P}-x2`, { stateDir, enableIPv4: false }),
      /needs "subnetIPv6"/,
    );
    await assert.rejects(
      newNetwork("bridge", `${P}-x3`, { stateDir, enableIPv4: "no" as unknown as boolean }),
      /must be a boolean/,
    );
  });
});
