/**
 * Two state directories, each with a bridge network and a published port, on one host: a
 * change in one (a link with a port, `repairFirewall()`, `gc()`) must not drop the other's rules
 * from nslink's nf_tables table. Read back with `nft list table inet nslink`.
 *
 * KNOWN DEFECT (issue 15, "left out"): each sync rebuilds table `inet nslink` from one state
 * directory's records, so the other's chains and map elements go. The test is registered
 * skipped (`.ci/allowed-skips`, "open defect") until the table is assembled from every state
 * directory; set NSLINK_RUN_DEFECTS=1 to run it (it fails on the current code).
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { gc, type Network, newNetwork, repairFirewall } from "../../mod.ts";
import { exec, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { namespaceAt, setUpNetworkTestFile, tempStateDir } from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
const SKIP = SKIP_ROOT ||
  (process.env.NSLINK_RUN_DEFECTS !== "1" &&
    "open defect: state directories overwrite each other's table inet nslink");

async function table(): Promise<string> {
  const r = await exec(["nft", "list", "table", "inet", "nslink"]);
  assert.equal(r.code, 0, `nft list table inet nslink: ${r.stderr}`);
  return r.stdout;
}

describe("firewall: two state directories share the host", () => {
  it("a change in one state directory keeps the other's rules and published ports", {
    skip: SKIP,
    timeout: 60_000,
  }, async () => {
    await withCleanup(async (c) => {
      const dirs = [tempStateDir(), tempStateDir()];
      const nets: Network[] = [];
      for (const [i, stateDir] of dirs.entries()) {
        c.link(`${P}b${i}`);
        // No names (dns: false): no host agent repairs the table behind the test's back.
        const net = await newNetwork("bridge", `${P}n${i}`, {
          stateDir,
          bridgeName: `${P}b${i}`,
          subnet: `198.51.100.${i * 128}/25`,
          dns: false,
        });
        c.defer(`delete ${net.name}`, () => net.delete());
        nets.push(net);
      }
      const link = async (i: number, name: string, hostPort: number) => {
        const ns = await namespaceAt(c, `/run/netns/${P}${name}`);
        const ifaces = await nets[i].link(name, { namespace: ns, ports: [{ hostPort, port: 80 }] });
        c.defer(`unlink ${name}`, () => nets[i].unlink(name));
        for (const iface of ifaces) await ns.addInterface(iface);
      };
      const both = async (what: string) => {
        const t = await table();
        for (const needle of [`${P}b0`, `${P}b1`, " 18200 ", " 18201 "]) {
          assert.ok(t.includes(needle), `${what}: ${JSON.stringify(needle)} missing from\n${t}`);
        }
      };
      await link(0, "c0", 18200);
      await link(1, "c1", 18201);
      await both("after a link with a port in each");
      await link(0, "c2", 18202);
      await both("after another link with a port in the first");
      await repairFirewall({ stateDir: dirs[1] });
      await both("after repairFirewall() of the second");
      await gc({ stateDir: dirs[0] });
      await both("after gc() of the first");
    });
  });
});
