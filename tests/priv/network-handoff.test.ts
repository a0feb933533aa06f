/**
 * Privileged tests of the hand-off between a network and a namespace: an `Interface` copied by
 * spread, `structuredClone` or a JSON round trip is configured exactly like the original (in
 * place on the fast path, moved on the seed path) and the network's state records where it went.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Interface } from "../../mod.ts";
import { ipLink, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  assertConfigured,
  bridgeNetwork,
  cleanupNewVeths,
  namespaceAt,
  nsName,
  readRecord,
  setUpNetworkTestFile,
} from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();

const COPIES: [string, (i: Interface) => Interface][] = [
  ["a spread", (i) => ({ ...i })],
  ["structuredClone", (i) => structuredClone(i)],
  ["a JSON round trip", (i) => JSON.parse(JSON.stringify(i)) as Interface],
];

describe("Interface hand-off between Network and Namespace", () => {
  it("a copied fast-path interface is configured in place (no move)", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const { network } = await bridgeNetwork(c, `${P}-hf`, `${P}hf`, {
        subnet: "198.51.100.0/24",
        subnetIPv6: "2001:db8:1::/64",
      });
      for (const [k, [what, copy]] of COPIES.entries()) {
        const path = `/run/netns/${P}f${k}`;
        const ns = await namespaceAt(c, path);
        const [iface] = await network.link(`f${k}`, { namespace: ns });
        const before = await ipLink("eth0", nsName(path));
        const got = await ns.addInterface(copy(iface));
        assert.deepEqual(got, iface, what);
        await assertConfigured(path, got);
        assert.equal((await ipLink("eth0", nsName(path)))?.ifindex, before?.ifindex, what);
      }
    });
  });

  it("a copied seed-path interface is moved in, and the state records its namespace", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const { network, stateDir } = await bridgeNetwork(c, `${P}-hs`, `${P}hs`, {
        subnet: "203.0.113.0/24",
      });
      for (const [k, [what, copy]] of COPIES.entries()) {
        const path = `/run/netns/${P}s${k}`;
        const ns = await namespaceAt(c, path);
        const [iface] = await network.link(`s${k}`);
        const got = await ns.addInterface(copy(iface));
        assert.equal(got.dstName, "eth0", what);
        await assertConfigured(path, got);
        assert.equal(await ipLink(iface.srcName), undefined, `${what}: moved off the host`);
        assert.equal(readRecord(stateDir, network.name)?.endpoints[`s${k}`]?.namespace, path, what);
      }
    });
  });
});
