/**
 * Privileged test: a small network's addresses are free again right after a burst of teardowns.
 * The fast path's `unlink` after `ns.delete()` only marks an endpoint releasing (its veth goes
 * when the kernel frees the namespace, and `Namespace.delete()` closes the namespaces' handles
 * after the burst), so a `link` that finds every address still claimed by releasing endpoints
 * must finish them (close the waiting handles, delete what is left of their links) instead of
 * failing with "No free address". Container subnet 198.51.100.0/28 (13 addresses); kernel state
 * checked with `ip -j`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { newNetwork } from "../../mod.ts";
import { ipAddrs, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { namespaceAt, setUpNetworkTestFile, tempStateDir } from "./_network_helpers.ts";
import { agentOffForTests } from "./_agent_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
// The agent plays no part here; off, so that the test makes no process of its own.
const agentBack = agentOffForTests();
after(agentBack);

describe("addresses after a burst of fast-path teardowns", () => {
  it("a full /28 can be linked again at once", { skip: SKIP_ROOT, timeout: 120_000 }, async () => {
    await withCleanup(async (c) => {
      const br = `${P}b`;
      c.link(br);
      const network = await newNetwork("bridge", `${P}-r`, {
        stateDir: tempStateDir(),
        bridgeName: br,
        subnet: "198.51.100.0/28",
      });
      c.defer("network.delete()", () => network.delete());
      for (let round = 0; round < 3; round++) {
        const made: [string, Awaited<ReturnType<typeof namespaceAt>>][] = [];
        for (let i = 0; i < 13; i++) {
          const name = `r${round}c${i}`;
          const ns = await namespaceAt(c, `/run/netns/${P}${round}-${i}`);
          const [iface] = await network.link(name, { namespace: ns });
          await ns.addInterface(iface);
          made.push([name, ns]);
        }
        const addrs = await ipAddrs("eth0", `${P}${round}-12`);
        assert.ok(
          addrs.some((a) => a.local === "198.51.100.14"),
          `round ${round}: the last container has not .14: ${JSON.stringify(addrs)}`,
        );
        for (const [name, ns] of made) {
          await ns.delete();
          await network.unlink(name);
        }
      }
    });
  });
});
