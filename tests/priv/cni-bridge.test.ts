/**
 * Privileged tests of the CNI plugin with configurations written for the reference bridge
 * plugin (`ipam` of type `host-local` with a range, `ipMasq`, `isGateway`), a refused `ipam`
 * type (code 2, nothing made), and CHECK reading the container's published ports back from
 * nf_tables: after one DNAT map element is deleted by hand, CHECK fails naming that port.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { agentOffForTests } from "./_agent_helpers.ts";
import { ipLink, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { setUpNetworkTestFile, tempStateDir } from "./_network_helpers.ts";
import { cni, ipJsonAt, runProcess } from "./_cli_helpers.ts";
import { addNetns } from "./_cni_setup.ts";

const { prefix: P } = setUpNetworkTestFile();

// No host agent (the plugin processes inherit the variable): its firewall duty would put back
// at once what the CHECK test removes to see CHECK report it.
let agentBack = () => {};

before(() => {
  agentBack = agentOffForTests();
});

after(() => agentBack());

/** A bridge-plugin conflist entry, as podman writes it, with "type" changed to nslink. */
function bridgeConf(network: string, extra: Record<string, unknown> = {}) {
  return {
    cniVersion: "1.0.0",
    name: network,
    type: "nslink",
    bridge: `nsl-${network}`,
    isGateway: true,
    ipMasq: true,
    hairpinMode: true,
    ipam: {
      type: "host-local",
      routes: [{ dst: "0.0.0.0/0" }],
      ranges: [[{
        subnet: "203.0.113.0/24",
        gateway: "203.0.113.1",
        rangeStart: "203.0.113.100",
        rangeEnd: "203.0.113.150",
      }]],
    },
    ...extra,
  };
}

describe("CNI plugin with bridge-plugin configurations", { skip: SKIP_ROOT }, () => {
  it("ADD takes addresses from host-local's range; CHECK fails once a published port's map element is gone", async () => {
    const state = tempStateDir();
    const net = `${P}b`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}b1`);
      const env = { containerId: `${P}bridge`, netns, stateDir: state };
      const cf = bridgeConf(net, {
        dnsEnabled: false,
        capabilities: { portMappings: true },
        runtimeConfig: {
          portMappings: [
            { hostPort: 8080, containerPort: 80, protocol: "tcp" },
            { hostPort: 5353, containerPort: 53, protocol: "udp" },
          ],
        },
      });
      const r = await cni("ADD", cf, env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const ips = r.json?.ips as { address: string; gateway: string }[];
      assert.deepEqual(ips.map((i) => [i.address, i.gateway]), [[
        "203.0.113.100/24",
        "203.0.113.1",
      ]]);
      const [eth0] = await ipJsonAt<{ addr_info: { local: string; family: string }[] }[]>(
        netns,
        ["addr", "show", "dev", "eth0"],
      );
      assert.ok(eth0.addr_info.some((a) => a.local === "203.0.113.100"));

      const ok = await cni("CHECK", { ...cf, prevResult: r.json }, env);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);

      // One published port's element deleted behind nslink's back.
      const del = await runProcess([
        "nft",
        "delete",
        "element",
        "inet",
        "nslink",
        "pub4",
        "{ udp . 5353 }",
      ]);
      assert.equal(del.code, 0, del.stderr);
      const bad = await cni("CHECK", { ...cf, prevResult: r.json }, env);
      assert.notEqual(bad.code, 0);
      assert.equal(bad.json?.code, 999);
      assert.match(
        String(bad.json?.msg),
        /published port udp \*:5353 -> 203\.0\.113\.100:53 has no entry/,
      );

      // And with nslink's whole table gone.
      const flush = await runProcess(["nft", "delete", "table", "inet", "nslink"]);
      assert.equal(flush.code, 0, flush.stderr);
      const gone = await cni("CHECK", { ...cf, prevResult: r.json }, env);
      assert.equal(gone.json?.code, 999);
      assert.match(String(gone.json?.msg), /nf_tables table is missing/);

      assert.equal((await cni("DEL", cf, env)).code, 0);
      assert.equal(
        await ipLink(`nsl-${net}`),
        undefined,
        "ADD made it, DEL of the last removes it",
      );
    });
  });

  it("refuses another ipam type with code 2, making nothing", async () => {
    const state = tempStateDir();
    const net = `${P}d`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}d1`);
      const env = { containerId: `${P}dhcp`, netns, stateDir: state };
      const r = await cni("ADD", bridgeConf(net, { ipam: { type: "dhcp" } }), env);
      assert.equal(r.code, 1);
      assert.equal(r.json?.code, 2);
      assert.match(String(r.json?.msg), /Unsupported field "ipam.type" "dhcp"/);
      assert.equal(await ipLink(`nsl-${net}`), undefined);
      const links = await ipJsonAt<{ ifname: string }[]>(netns, ["link"]);
      assert.deepEqual(links.map((l) => l.ifname), ["lo"]);
    });
  });
});
