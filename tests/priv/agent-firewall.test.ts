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
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { askAgent, newNetwork } from "../../mod.ts";
import { agentPid, killAgents } from "./_agent_helpers.ts";
import { exec, isRoot, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { keepSysctls, nslinkTables, table } from "./_nft_helpers.ts";
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
const stateDirs: string[] = [];
const mounted: string[] = [];

before(async () => {
  if (!isRoot) return;
  // The agent reads the host's resolv.conf for upstreams: give it one of the sandbox's own.
  mkdirSync("/etc/netns", { recursive: true });
  const rc = join(tempStateDir(), "resolv.conf");
  writeFileSync(rc, "nameserver 127.0.0.1\n");
  assert.equal((await exec(["mount", "--bind", rc, "/etc/resolv.conf"])).code, 0);
  mounted.push("/etc/resolv.conf");
});

after(async () => {
  for (const d of stateDirs) killAgents(d);
  for (const m of mounted.splice(0).reverse()) await exec(["umount", "-l", m]);
});

describe("the host agent's firewall duty", () => {
  it(
    "nft flush ruleset: the published port works again with no call, the table as before; 100 flushes leave one table",
    { skip: SKIP_ROOT, timeout: 120_000 },
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        keepSysctls(c);
        const stateDir = tempStateDir();
        stateDirs.push(stateDir);
        c.defer("kill agents", () => killAgents(stateDir));
        const out = `${P}o`;
        await outside(c, out, `${P}x`);
        c.link(`${P}ba`);
        const a = await newNetwork("bridge", `${P}a`, {
          stateDir,
          bridgeName: `${P}ba`,
          subnet: "198.51.100.0/25",
        });
        c.defer("delete a", () => a.delete());
        assert.ok(agentPid(stateDir), "the network started the agent");
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
