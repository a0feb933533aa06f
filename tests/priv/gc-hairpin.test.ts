/**
 * Privileged test: a container that publishes ports has its bridge port in hairpin mode (it
 * reaches its own published port through the host's address). Since issue 21 that mode is set
 * by `publish()` on the first ports, after their record is written: a process killed between the
 * two leaves a record with ports on a port without hairpin mode. `gc()`, which puts the firewall
 * back from the records after such a crash, must put the mode back too. The crash's state is made
 * here by turning the mode off with `ip` after `publish()`. Subnet 203.0.113.0/26; checked with
 * `ip -d -j`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { newNetwork } from "../../mod.ts";
import { gc } from "../../network/gc.ts";
import { exec, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { namespaceAt, setUpNetworkTestFile, tempStateDir } from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
const OPTS = { skip: SKIP_ROOT, timeout: 60_000 };

async function hairpin(port: string): Promise<boolean | undefined> {
  const r = await exec(["ip", "-d", "-j", "link", "show", "dev", port]);
  assert.equal(r.code, 0, r.stderr);
  const [l] = JSON.parse(r.stdout) as { linkinfo?: { info_slave_data?: { hairpin?: boolean } } }[];
  return l?.linkinfo?.info_slave_data?.hairpin;
}

describe("gc() after publish() was killed before the hairpin mode", () => {
  it(
    "puts the bridge port of a container with published ports back in hairpin mode",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        const br = `${P}h`;
        c.link(br);
        const stateDir = tempStateDir();
        const net = await newNetwork("bridge", `${P}-h`, {
          stateDir,
          bridgeName: br,
          subnet: "203.0.113.0/26",
        });
        c.defer("net.delete()", () => net.delete());
        const ns = await namespaceAt(c, `/run/netns/${P}h1`);
        const [iface] = await net.link("c1", { namespace: ns });
        await ns.addInterface(iface);
        c.defer("unlink c1", () => net.unlink("c1"));
        const port = `nslh${iface.srcName.slice(4)}`;
        assert.equal(await hairpin(port), false, "no ports: no hairpin mode");
        await net.publish("c1", [{ hostPort: 18080, port: 80 }]);
        assert.equal(await hairpin(port), true, "published: hairpin mode");
        // The state a kill -9 between the record and the request leaves.
        const off = await exec([
          "ip",
          "link",
          "set",
          "dev",
          port,
          "type",
          "bridge_slave",
          "hairpin",
          "off",
        ]);
        assert.equal(off.code, 0, off.stderr);

        await gc({ stateDir });

        assert.equal(await hairpin(port), true, "gc put the hairpin mode back");
      });
    },
  );
});
