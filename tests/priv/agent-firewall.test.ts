/**
 * The host agent repairs nslink's firewall: a network made with `newNetwork` starts the agent on
 * demand (DNS is on by default), and when another program flushes the ruleset (`nft flush
 * ruleset`, as a firewall service's reload does) the published port works again with no call
 * from the library, the table identical to before; a hundred flushes in a row leave one table.
 * The agent's `firewall` duty is {@linkcode FirewallRepair} (tested on its own in
 * `firewall-repair.test.ts`); this test proves that the process every host runs carries it.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { askAgent, newNetwork } from "../../mod.ts";
import { agentPid } from "./_agent_helpers.ts";
import { agentTestHost, servePublishedC1, setUpAgentFirewallTestFile } from "./_agent_firewall.ts";
import { exec, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { nslinkTables, table } from "./_nft_helpers.ts";
import { setUpNetworkTestFile, waitFor } from "./_network_helpers.ts";
import { HOST4, probe, settled } from "./_traffic.ts";

const { prefix: P } = setUpNetworkTestFile();
setUpAgentFirewallTestFile();

describe("the host agent's firewall duty", () => {
  it(
    "nft flush ruleset: the published port works again with no call, the table as before; 100 flushes leave one table",
    { skip: SKIP_ROOT, timeout: 120_000 },
    async () => {
      await withCleanup(async (c) => {
        const out = `${P}o`;
        const stateDir = await agentTestHost(c, out, `${P}x`);
        c.link(`${P}ba`);
        const a = await newNetwork("bridge", `${P}a`, {
          stateDir,
          bridgeName: `${P}ba`,
          subnet: "198.51.100.0/25",
        });
        c.defer("delete a", () => a.delete());
        assert.ok(agentPid(stateDir), "the network started the agent");
        const { ok, before } = await servePublishedC1(c, a, `/run/netns/${P}c1`, out);

        // Another program flushes the ruleset: no call from here, the agent puts it back.
        assert.equal((await exec(["nft", "flush", "ruleset"])).code, 0);
        const t0 = Date.now();
        assert.equal(await settled(ok, [out, "tcp", HOST4, 8080], 10_000), ok);
        console.log(`published port back ${Date.now() - t0} ms after nft flush ruleset`);
        assert.ok(
          await waitFor(async () => JSON.stringify(await table()) === JSON.stringify(before)),
          "the table as before",
        );

        // A hundred flushes in a row: one table, as before.
        const burst = await exec([
          "sh",
          "-c",
          "i=0; while [ $i -lt 100 ]; do nft flush ruleset || exit 1; i=$((i+1)); done",
        ]);
        assert.equal(burst.code, 0, burst.stderr);
        assert.ok(
          await waitFor(
            async () => JSON.stringify(await table()) === JSON.stringify(before),
            10_000,
          ),
          "the table as before after 100 flushes",
        );
        assert.equal(await nslinkTables(), 1);
        assert.equal(await probe(out, "tcp", HOST4, 8080), ok);

        const reply = await askAgent(stateDir, "status", 5000);
        const duty = (reply as unknown as { duties: Record<string, { repairs?: number }> })
          .duties["firewall-repair"];
        assert.ok(
          (duty?.repairs ?? 0) >= 2,
          `the agent's firewall duty repaired: ${JSON.stringify(duty)}`,
        );
      });
    },
  );
});
