/**
 * Two state directories, each with a bridge network and a published port, on one host: a
 * change in one (a link with a port, `repairFirewall()`, `gc()`) must not drop the other's rules
 * from nslink's nf_tables table. Read back with `nft list table inet nslink`.
 *
 * Before the fix, each sync rebuilt table `inet nslink` from one state directory's records, so
 * the other's chains went (published-port elements added meanwhile stayed). Now each directory
 * with bridge networks is listed in `STATE_DIRS` and every rebuild includes the others'.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import { gc, type Network, newNetwork, repairFirewall } from "../../mod.ts";
import { STATE_DIRS } from "../../firewall/firewall.ts";
import { exec, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { namespaceAt, setUpNetworkTestFile, tempStateDir } from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();

async function table(): Promise<string> {
  const r = await exec(["nft", "list", "table", "inet", "nslink"]);
  assert.equal(r.code, 0, `nft list table inet nslink: ${r.stderr}`);
  return r.stdout;
}

describe("firewall: two state directories share the host", () => {
  it("a change in one state directory keeps the other's rules and published ports", {
    skip: SKIP_ROOT,
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
      // The first directory's network goes: the second's rules stay, the first is unlisted.
      await nets[0].unlink("c0");
      await nets[0].unlink("c2");
      await nets[0].delete();
      const t = await table();
      assert.ok(
        t.includes(`${P}b1`) && t.includes(" 18201 "),
        `after a delete in the first:\n${t}`,
      );
      assert.ok(
        !t.includes(`${P}b0`) && !t.includes(" 18200 "),
        `after a delete in the first:\n${t}`,
      );
      const listed = () =>
        existsSync(STATE_DIRS) ? readdirSync(STATE_DIRS).map(decodeURIComponent) : [];
      assert.ok(!listed().includes(resolve(dirs[0])), JSON.stringify(listed()));
      assert.ok(listed().includes(resolve(dirs[1])), JSON.stringify(listed()));
      // The last one goes: no table, nothing listed.
      await nets[1].unlink("c1");
      await nets[1].delete();
      assert.notEqual((await exec(["nft", "list", "table", "inet", "nslink"])).code, 0);
      assert.ok(!listed().includes(resolve(dirs[1])), JSON.stringify(listed()));
    });
  });

  it("a directory left behind whose bridge is gone keeps no rules in the table", {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    await withCleanup(async (c) => {
      const left = tempStateDir();
      const live = tempStateDir();
      c.link(`${P}lb`);
      c.link(`${P}lv`);
      const gone = await newNetwork("bridge", `${P}gone`, {
        stateDir: left,
        bridgeName: `${P}lb`,
        subnet: "203.0.113.0/25",
        dns: false,
      });
      c.defer(`delete ${gone.name}`, () => gone.delete());
      // What a crashed caller's throw-away namespace leaves: the directory, not the bridge.
      assert.equal((await exec(["ip", "link", "del", `${P}lb`])).code, 0);
      const net = await newNetwork("bridge", `${P}live`, {
        stateDir: live,
        bridgeName: `${P}lv`,
        subnet: "203.0.113.128/25",
        dns: false,
      });
      c.defer(`delete ${net.name}`, () => net.delete());
      const t = await table();
      assert.ok(t.includes(`${P}lv`), t);
      assert.ok(!t.includes(`${P}lb`) && !t.includes("203.0.113.0/25"), t);
    });
  });
});
