/**
 * Privileged test of container-side names on the fast path: in a namespace nslink created, it
 * picks `eth0`, `eth1`, … from what it knows; a name taken behind its back (a link made there
 * with `ip`) makes the kernel refuse, and nslink picks again, asking the kernel.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ip, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  assertConfigured,
  bridgeNetwork,
  cleanupNewVeths,
  namespaceAt,
  nsLinkNames,
  nsName,
  setUpNetworkTestFile,
} from "./_network_helpers.ts";

const P = setUpNetworkTestFile().prefix;

describe("container-side names on the fast path", () => {
  it("skips a name that was taken behind nslink's back", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const { network } = await bridgeNetwork(c, `${P}-names`, `${P}nb`, {
        subnet: "198.51.100.0/24",
      });
      const path = `/run/netns/${P}nn`;
      const ns = await namespaceAt(c, path);
      // eth0 made inside with ip: nslink does not know of it.
      const r = await ip([
        "-n",
        nsName(path),
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        "x0",
      ]);
      assert.equal(r.code, 0, r.stderr);

      const [first] = await network.link("c1", { namespace: ns });
      assert.equal(first.dstName, "eth1");
      await assertConfigured(path, await ns.addInterface(first), true);
      const [second] = await network.link("c2", { namespace: ns });
      assert.equal(second.dstName, "eth2", "eth1 is known to be taken");
      await ns.addInterface(second);
      assert.deepEqual(await nsLinkNames(path), ["eth0", "eth1", "eth2", "lo", "x0"]);
    });
  });
});
