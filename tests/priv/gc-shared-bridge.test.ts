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
import { type Cleanup, exec, ipLinks, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { namespaceAt, setUpNetworkTestFile, tempStateDir } from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
const OPTS = { skip: SKIP_ROOT, timeout: 60_000 };

/**
 * Two state directories' networks on the bridge `br` (this one's first: it makes `br` when it is
 * not there yet), a fast-path container `name` on the other's, then `gc()` of this one: the
 * container's untagged port must stay, reported as foreign.
 */
async function gcBesideOther(c: Cleanup, br: string, name: string, subnets: [string, string]) {
  const mine = tempStateDir();
  const own = await newNetwork("bridge", `${P}-${name}m`, {
    stateDir: mine,
    bridgeName: br,
    subnet: subnets[0],
  });
  c.defer("own.delete()", () => own.delete());
  const theirs = await newNetwork("bridge", `${P}-${name}o`, {
    stateDir: tempStateDir(),
    bridgeName: br,
    subnet: subnets[1],
  });
  c.defer("theirs.delete()", () => theirs.delete());
  const ns = await namespaceAt(c, `/run/netns/${P}${name}`);
  const [iface] = await theirs.link(name, { namespace: ns });
  await ns.addInterface(iface);
  c.defer(`unlink ${name}`, () => theirs.unlink(name));
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
}

describe("gc() beside a bridge two state directories share", () => {
  it("leaves the other state directory's untagged fast-path port on it", OPTS, async () => {
    await withCleanup(async (c) => {
      const br = `${P}s`;
      c.link(br);
      const r = await exec(["ip", "link", "add", br, "type", "bridge"]);
      assert.equal(r.code, 0, r.stderr);
      await gcBesideOther(c, br, "o1", ["203.0.113.0/26", "203.0.113.64/26"]);
    });
  });

  it(
    "leaves the port of another state directory that adopted a bridge this one made",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        const br = `${P}m`;
        c.link(br);
        assert.ok(!(await ipLinks()).some((l) => l.ifname === br), `${br} exists already`);
        await gcBesideOther(c, br, "m1", ["203.0.113.128/26", "203.0.113.192/26"]);
      });
    },
  );
});
