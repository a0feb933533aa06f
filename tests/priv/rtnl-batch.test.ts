/**
 * Privileged tests of batched requests: several requests in one `sendmsg`, one ACK each, in
 * order, a failure not stopping the requests after it.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { NetlinkError, NetNs, Rtnl } from "../../mod.ts";
import {
  assertNoLeftovers,
  ipAddrs,
  ipLink,
  ipRoutes,
  isRoot,
  runId,
  SKIP_ROOT,
  withCleanup,
} from "./_helpers.ts";

const P = runId();

after(async () => {
  if (isRoot) await assertNoLeftovers(P);
});

describe("Rtnl.batch()", () => {
  it(
    "sends the queued requests in order and reports each one's result",
    { skip: SKIP_ROOT },
    async () => {
      await withCleanup(async (c) => {
        const nsName = `${P}b`;
        c.netns(nsName);
        const ns = NetNs.create(nsName);
        c.close(ns);
        using rt = Rtnl.open({ netns: ns });
        rt.link.add({ kind: "veth", name: `${P}a`, peer: { name: `${P}b` } });
        const index = rt.link.index(`${P}a`);
        const errors = rt.batch((b) => {
          b.addr.add(index, "198.51.100.2/24");
          b.addr.add(index, "198.51.100.2/24"); // the same again: EEXIST
          b.link.set(index, { up: true, mtu: 1400 }); // still runs after the failure
          b.link.set("lo", { up: true });
          b.route.add({ dst: "203.0.113.0/24", gateway: "198.51.100.1", dev: index });
        });
        assert.equal(errors.length, 5);
        assert.deepEqual(errors.map((e) => e?.code), [
          undefined,
          "EEXIST",
          undefined,
          undefined,
          undefined,
        ]);
        assert.ok(errors[1] instanceof NetlinkError);
        assert.match(
          errors[1]!.message,
          /^RTM_NEWADDR 198\.51\.100\.2\/24 dev \d+: EEXIST \(File exists\)/,
        );
        const link = await ipLink(`${P}a`, nsName);
        assert.ok(link?.flags.includes("UP"));
        assert.equal(link?.mtu, 1400);
        assert.deepEqual(
          (await ipAddrs(`${P}a`, nsName)).filter((a) => a.family === "inet").map((a) =>
            `${a.local}/${a.prefixlen}`
          ),
          ["198.51.100.2/24"],
        );
        assert.ok(
          (await ipRoutes(4, nsName)).some((r) =>
            r.dst === "203.0.113.0/24" && r.gateway === "198.51.100.1"
          ),
        );
      });
    },
  );

  it("refuses lookups and dumps, and sends nothing then", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const nsName = `${P}r`;
      c.netns(nsName);
      const ns = NetNs.create(nsName);
      c.close(ns);
      using rt = Rtnl.open({ netns: ns });
      assert.throws(
        () => rt.batch((b) => b.link.set("lo", { up: true, mtu: 1400, master: "nope0" })),
        /lookup/,
      );
      assert.throws(() => rt.batch((b) => void b.addr.list()), /dump/);
      assert.ok(!(await ipLink("lo", nsName))?.flags.includes("UP"), "nothing was sent");
      assert.deepEqual(rt.batch(() => {}), []);
    });
  });
});
