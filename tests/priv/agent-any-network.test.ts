/**
 * The host agent repairs the firewall of every network, not only of those serving names: a
 * bridge network made with `dns: false` (the CLI's `--disable-dns`) and one made by CNI ADD with
 * `"dnsEnabled": false` start the agent on demand, and after `nft flush ruleset` their published
 * port answers again with no call; deleting the last network leaves no agent.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { newNetwork } from "../../mod.ts";
import { agentPid, agentsOf } from "./_agent_helpers.ts";
import { agentTestHost, servePublishedC1, setUpAgentFirewallTestFile } from "./_agent_firewall.ts";
import { cni } from "./_cli_helpers.ts";
import { exec, ip, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { nslinkTables, table } from "./_nft_helpers.ts";
import { setUpNetworkTestFile, waitFor } from "./_network_helpers.ts";
import { HOST4, OUT4, server, settled } from "./_traffic.ts";

const { prefix: P } = setUpNetworkTestFile();
setUpAgentFirewallTestFile();

/** `nft flush ruleset` by another program; the port answers again (bounded), table as before. */
async function flushAndWait(ok: string, out: string, before: unknown): Promise<void> {
  assert.equal((await exec(["nft", "flush", "ruleset"])).code, 0);
  assert.equal(await table(), undefined, "the flush removed the table");
  assert.equal(await settled(ok, [out, "tcp", HOST4, 8080], 5_000), ok);
  assert.ok(
    await waitFor(async () => JSON.stringify(await table()) === JSON.stringify(before), 5_000),
    "the table as before",
  );
  assert.equal(await nslinkTables(), 1);
}

describe("the host agent keeps the firewall of networks without DNS", () => {
  it(
    "a dns: false bridge network: the agent runs, nft flush ruleset is repaired with no call, delete leaves no agent",
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
          dns: false,
        });
        c.defer("delete a", () => a.delete());
        assert.ok(agentPid(stateDir), "the network started the agent");
        const { ok, before } = await servePublishedC1(c, a, `/run/netns/${P}c1`, out);

        await flushAndWait(ok, out, before);

        await a.unlink("c1");
        await a.delete();
        assert.ok(
          await waitFor(() => agentsOf(stateDir).length === 0, 5_000),
          "no agent once the last network went",
        );
      });
    },
  );

  it(
    'CNI ADD of a "dnsEnabled": false network: the agent runs, nft flush ruleset is repaired with no call, the last DEL leaves no agent',
    { skip: SKIP_ROOT, timeout: 120_000 },
    async () => {
      await withCleanup(async (c) => {
        const net = `${P}n`;
        const out = `${P}p`;
        const stateDir = await agentTestHost(c, out, `${P}y`);
        c.link(`nsl-${net}`);
        c.netns(`${P}c2`);
        assert.equal((await ip(["netns", "add", `${P}c2`])).code, 0);
        const netns = `/run/netns/${P}c2`;
        const env = { containerId: `${P}cni`, netns, stateDir };
        const cf = {
          cniVersion: "1.0.0",
          name: net,
          type: "nslink",
          bridge: `nsl-${net}`,
          isGateway: true,
          ipMasq: true,
          dnsEnabled: false,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: "198.51.100.128/25", gateway: "198.51.100.129" }]],
          },
          capabilities: { portMappings: true },
          runtimeConfig: {
            portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
          },
        };
        const r = await cni("ADD", cf, env);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        c.defer("CNI DEL", async () => void await cni("DEL", cf, env));
        assert.ok(
          await waitFor(() => agentPid(stateDir) !== undefined, 5_000),
          "CNI ADD started the agent",
        );
        await server(c, `${P}c2`, "c2");
        const ok = `c2 from=${OUT4}`;
        assert.equal(await settled(ok, [out, "tcp", HOST4, 8080]), ok);
        const before = await table();
        assert.ok(before !== undefined);

        await flushAndWait(ok, out, before);

        assert.equal((await cni("DEL", cf, env)).code, 0);
        assert.ok(
          await waitFor(() => agentsOf(stateDir).length === 0, 5_000),
          "no agent once the last network went",
        );
      });
    },
  );
});
