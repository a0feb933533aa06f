/**
 * The firewall repairs itself: {@linkcode FirewallRepair} runs in the test process (as the host's
 * background process will run it) while other processes flush the ruleset, delete nslink's
 * table or its map elements; a published port works again with no call, and the table is the
 * same as before (read with `nft -j`, handles aside).
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { FirewallRepair, newNetwork, type RepairInfo } from "../../mod.ts";
import { agentOffForTests } from "./_agent_helpers.ts";
import { exec, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { keepSysctls, nft, nslinkTables, table } from "./_nft_helpers.ts";
import {
  cleanupNewVeths,
  namespaceAt,
  nsName,
  setUpNetworkTestFile,
  tempStateDir,
  waitFor,
} from "./_network_helpers.ts";
import { HOST4, OUT4, outside, probe, server, settled } from "./_traffic.ts";

const { prefix: P } = setUpNetworkTestFile();
// No host agent: the duty under test runs in this process, and a stopped one must leave a
// flushed table flushed (agent-firewall.test.ts tests the agent's repair).
let agentBack = () => {};
before(() => void (agentBack = agentOffForTests()));
after(() => agentBack());

describe("firewall repair duty (NftMonitor, no polling)", () => {
  it(
    "nft flush ruleset, a deleted table or map element: the table comes back identical and the published port works; 100 flushes leave one table; nslink's own commits are not repaired",
    { skip: SKIP_ROOT, timeout: 120_000 },
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        keepSysctls(c);
        const stateDir = tempStateDir();
        const out = `${P}o`;
        await outside(c, out, `${P}x`);
        c.link(`${P}ba`);
        const a = await newNetwork("bridge", `${P}a`, {
          stateDir,
          bridgeName: `${P}ba`,
          subnet: "198.51.100.0/25",
          subnetIPv6: "2001:db8:1::/64",
        });
        c.defer("delete a", () => a.delete());
        const ns = await namespaceAt(c, `/run/netns/${P}c1`);
        for (
          const i of await a.link("c1", { namespace: ns, ports: [{ hostPort: 8080, port: 80 }] })
        ) {
          await ns.addInterface(i);
        }
        c.defer("unlink c1", () => a.unlink("c1"));
        await server(c, nsName(ns.path), "c1");
        const ok = `c1 from=${OUT4}`;
        assert.equal(await settled(ok, [out, "tcp", HOST4, 8080]), ok);
        const before = await table();
        assert.ok(before !== undefined);

        const repairs: RepairInfo[] = [];
        const errors: unknown[] = [];
        const ac = new AbortController();
        const duty = new FirewallRepair({
          stateDir,
          onRepair: (info) => repairs.push(info),
          onError: (e) => errors.push(e),
        });
        const done = duty.run(ac.signal);
        c.defer("stop the duty", async () => {
          ac.abort();
          await done;
        });
        // The repair at start (nothing was damaged: the same table again).
        assert.ok(await waitFor(() => repairs.length === 1, 10_000), "repair at start");
        assert.deepEqual(await table(), before);

        const repaired = async (n: number, what: string) => {
          assert.ok(await waitFor(() => repairs.length >= n, 10_000), `repair after ${what}`);
          assert.ok(
            await waitFor(async () => JSON.stringify(await table()) === JSON.stringify(before)),
            `table after ${what}`,
          );
          assert.deepEqual(await table(), before);
          assert.equal(await nslinkTables(), 1);
        };

        // 1. `nft flush ruleset` (another process): the port works again with no call.
        await nft("flush", "ruleset");
        const t0 = Date.now();
        assert.equal(await settled(ok, [out, "tcp", HOST4, 8080], 10_000), ok);
        console.log(`published port back ${Date.now() - t0} ms after nft flush ruleset`);
        await repaired(2, "nft flush ruleset");
        assert.equal(repairs[1].reason, "table");

        // 2. The table deleted, then a map element deleted by nft.
        await nft("delete", "table", "inet", "nslink");
        await repaired(3, "nft delete table");
        await nft("delete", "element", "inet", "nslink", "pub4", "{ tcp . 8080 }");
        await repaired(4, "nft delete element");
        assert.equal(repairs[3].reason, "elements");
        assert.equal(await probe(out, "tcp", HOST4, 8080), ok);

        // 3. nslink's own commits (this process: a link with a port, its unlink) are not
        // damage: the next repair answers exactly one batch, the foreign one after them.
        const ns2 = await namespaceAt(c, `/run/netns/${P}c2`);
        await a.link("c2", { namespace: ns2, ports: [{ hostPort: 8081, port: 80 }] });
        await a.unlink("c2");
        const n = repairs.length;
        await nft("flush", "chain", "inet", "nslink", "forward");
        await repaired(n + 1, "nft flush chain");
        assert.deepEqual(repairs.slice(n).map((r) => [r.reason, r.batches]), [["objects", 1]]);

        // 4. A hundred flushes in a row (another process): exactly one table, as before.
        const m = repairs.length;
        const burst = await exec([
          "sh",
          "-c",
          "i=0; while [ $i -lt 100 ]; do nft flush ruleset || exit 1; i=$((i+1)); done",
        ]);
        assert.equal(burst.code, 0, burst.stderr);
        await repaired(m + 1, "100 flushes");
        // Quiet again: no repair left pending, still one table.
        const settledCount = repairs.length;
        assert.ok(settledCount - m <= 100, `${settledCount - m} repairs for 100 flushes`);
        console.log(`100 flushes: ${settledCount - m} repairs`);
        assert.equal(await nslinkTables(), 1);
        assert.deepEqual(await table(), before);
        assert.equal(await settled(ok, [out, "tcp", HOST4, 8080]), ok);
        assert.deepEqual(errors, []);

        ac.abort();
        await done;
        // Stopped: a flush stays flushed.
        await nft("flush", "ruleset");
        assert.equal(await table(), undefined);
        await a.unlink("c1");
        await a.delete();
        assert.equal((await nft("list", "ruleset")).trim(), "");
      });
    },
  );

  it("start(), sync(), needed(), status() and stop(): the agent's duty shape", {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      keepSysctls(c);
      const stateDir = tempStateDir();
      c.link(`${P}bd`);
      const net = await newNetwork("bridge", `${P}d`, {
        stateDir,
        bridgeName: `${P}bd`,
        subnet: "203.0.113.0/25",
      });
      c.defer("delete d", () => net.delete());
      const before = await table();
      const duty = FirewallRepair.start({ stateDir, repairAtStart: false });
      c.defer("stop the duty", () => duty.stop());
      await duty.sync();
      assert.equal(duty.needed(), true);
      assert.deepEqual(duty.status(), { running: true, repairs: 0 });
      await nft("flush", "ruleset");
      assert.ok(await waitFor(() => duty.repairs === 1, 10_000), "repair after a flush");
      assert.ok(
        await waitFor(async () => JSON.stringify(await table()) === JSON.stringify(before)),
      );
      const status = duty.status() as { running: boolean; last: { reason: string } };
      assert.equal(status.running, true);
      assert.equal(status.last.reason, "table");
      await net.delete();
      await duty.sync();
      assert.equal(duty.needed(), false);
      await duty.stop();
      await duty.stop(); // twice is fine
      assert.equal(duty.status().running, false);
      await duty.sync(); // a stopped duty stays stopped
      assert.equal(duty.status().running, false);
      assert.equal(await table(), undefined);
    });
  });
});
