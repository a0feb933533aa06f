/**
 * Privileged test of a large dump: 1,000 veth pairs (2,000 links, plus `lo`) in a child
 * namespace, listed completely by `Rtnl#link.list()` across many `recvfrom` calls.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { NetNs, Rtnl } from "../../mod.ts";
import { assertNoLeftovers, ip, isRoot, runId, SKIP_ROOT, withCleanup } from "./_helpers.ts";

const P = runId();
const PAIRS = 1000;

after(async () => {
  if (isRoot) await assertNoLeftovers(P);
});

describe("Rtnl: large dumps", () => {
  it(`link.list() returns all ${2 * PAIRS + 1} links of a namespace with ${PAIRS} veth pairs`, {
    skip: SKIP_ROOT,
    timeout: 120_000,
  }, async () => {
    await withCleanup(async (c) => {
      const nsName = `${P}dump`;
      const ns = c.namespace(nsName);
      const expected = new Set(["lo"]);
      const lines: string[] = [];
      for (let i = 0; i < PAIRS; i++) {
        lines.push(`link add v${i} type veth peer name w${i}`);
        expected.add(`v${i}`);
        expected.add(`w${i}`);
      }
      const t0 = performance.now();
      const r = await ip(["-n", nsName, "-batch", "-"], lines.join("\n") + "\n");
      assert.equal(r.code, 0, r.stderr);
      const t1 = performance.now();
      using rt = Rtnl.open({ netns: ns });
      const links = rt.link.list();
      const t2 = performance.now();
      console.log(
        `created ${PAIRS} pairs with ip -batch in ${(t1 - t0).toFixed(0)} ms; ` +
          `listed ${links.length} links in ${(t2 - t1).toFixed(0)} ms`,
      );
      assert.equal(links.length, 2 * PAIRS + 1);
      const names = links.map((l) => l.name);
      assert.equal(new Set(names).size, names.length, "no link twice");
      assert.deepEqual(new Set(names), expected);
      const indexes = new Set(links.map((l) => l.index));
      assert.equal(indexes.size, links.length, "distinct indexes");
      const byName = new Map(links.map((l) => [l.name, l]));
      for (let i = 0; i < PAIRS; i += 97) {
        const v = byName.get(`v${i}`), w = byName.get(`w${i}`);
        assert.equal(v?.kind, "veth");
        assert.equal(v?.parent, w?.index, `v${i}'s peer is w${i}`);
      }
      // Tear down by removing the namespace: one step instead of 1,000 deletions.
      rt.close();
      ns.close();
      const t3 = performance.now();
      NetNs.remove(nsName);
      console.log(`removed the namespace in ${(performance.now() - t3).toFixed(0)} ms`);
      assert.equal(NetNs.exists(nsName), false);
    });
  });
});
