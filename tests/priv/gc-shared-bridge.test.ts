/**
 * Privileged test of `gc()` beside a bridge that two state directories share: adopted by both (made
 * by hand, `bridgeName` in both), or made by one state directory's network and adopted by the
 * other's. A fast-path container of the other state directory has an untagged bridge port
 * (`nslh…`) that gc's own records do not name; it is not gc's to delete. Container subnets from
 * 203.0.113.0/24. Kernel state is checked with `ip -j`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { newNetwork } from "../../mod.ts";
import { gc } from "../../network/gc.ts";
import { exec, ipLinks, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { namespaceAt, setUpNetworkTestFile, tempStateDir } from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
const OPTS = { skip: SKIP_ROOT, timeout: 60_000 };

describe("gc() beside a bridge two state directories adopted", () => {
  it("leaves the other state directory's untagged fast-path port on it", OPTS, async () => {
    await withCleanup(async (c) => {
      const br = `${P}s`;
      c.link(br);
      const r = await exec(["ip", "link", "add", br, "type", "bridge"]);
      assert.equal(r.code, 0, r.stderr);
      const mine = tempStateDir();
      const other = tempStateDir();
      const own = await newNetwork("bridge", `${P}-m`, {
        stateDir: mine,
        bridgeName: br,
        subnet: "203.0.113.0/26",
      });
      c.defer("own.delete()", () => own.delete());
      const theirs = await newNetwork("bridge", `${P}-o`, {
        stateDir: other,
        bridgeName: br,
        subnet: "203.0.113.64/26",
      });
      c.defer("theirs.delete()", () => theirs.delete());
      const ns = await namespaceAt(c, `/run/netns/${P}o1`);
      const [iface] = await theirs.link("o1", { namespace: ns });
      await ns.addInterface(iface);
      c.defer("unlink o1", () => theirs.unlink("o1"));
      const port = `nslh${iface.srcName.slice(4)}`;
      const before = (await ipLinks()).find((l) => l.ifname === port);
      assert.equal(before?.master, br, `${port} is not on ${br}`);
      assert.equal(
        (before as { ifalias?: string } | undefined)?.ifalias,
        undefined,
        "the fast-path port is untagged",
      );

      const report = await gc({ stateDir: mine });

      const after = (await ipLinks()).find((l) => l.ifname === port);
      assert.equal(after?.master, br, `gc deleted ${port}: ${JSON.stringify(report.links)}`);
      assert.deepEqual(report.links, []);
      assert.deepEqual(report.foreign, [`${port} (on ${br})`]);
    });
  });

  it(
    "leaves the port of another state directory that adopted a bridge this one made",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        const mine = tempStateDir();
        const other = tempStateDir();
        const br = `${P}m`;
        c.link(br);
        assert.ok(!(await ipLinks()).some((l) => l.ifname === br), `${br} exists already`);
        const own = await newNetwork("bridge", `${P}-mm`, {
          stateDir: mine,
          bridgeName: br,
          subnet: "203.0.113.128/26",
        });
        c.defer("own.delete()", () => own.delete());
        assert.ok((await ipLinks()).some((l) => l.ifname === br), `${br} was not made`);
        const theirs = await newNetwork("bridge", `${P}-mo`, {
          stateDir: other,
          bridgeName: br,
          subnet: "203.0.113.192/26",
        });
        c.defer("theirs.delete()", () => theirs.delete());
        const ns = await namespaceAt(c, `/run/netns/${P}m1`);
        const [iface] = await theirs.link("m1", { namespace: ns });
        await ns.addInterface(iface);
        c.defer("unlink m1", () => theirs.unlink("m1"));
        const port = `nslh${iface.srcName.slice(4)}`;
        assert.equal((await ipLinks()).find((l) => l.ifname === port)?.master, br);

        const report = await gc({ stateDir: mine });

        const after = (await ipLinks()).find((l) => l.ifname === port);
        assert.equal(after?.master, br, `gc deleted ${port}: ${JSON.stringify(report.links)}`);
        assert.deepEqual(report.links, []);
        assert.deepEqual(report.foreign, [`${port} (on ${br})`]);
      });
    },
  );
});
