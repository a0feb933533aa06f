/**
 * Privileged tests of the netlink socket under `Rtnl`: port ids, closing, and a handle keeping
 * its namespace alive after the namespace's mount is gone.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { NetlinkSocket, NetNs, Rtnl } from "../../mod.ts";
import { assertNoLeftovers, isRoot, runId, SKIP_ROOT, withCleanup } from "./_helpers.ts";

const P = runId();

after(async () => {
  if (isRoot) await assertNoLeftovers(P);
});

describe("NetlinkSocket", () => {
  it("gets a kernel-assigned port id per socket; close() is idempotent", {
    skip: SKIP_ROOT,
  }, () => {
    const a = NetlinkSocket.open();
    const b = NetlinkSocket.open();
    try {
      assert.ok(a.portId !== 0 && b.portId !== 0);
      assert.notEqual(a.portId, b.portId);
      assert.ok(a.fd >= 0);
    } finally {
      a.close();
      b.close();
    }
    assert.equal(a.fd, -1);
    a.close();
    const rt = Rtnl.open();
    rt.close();
    rt.close();
    assert.throws(() => rt.link.list(), /closed/);
  });

  it("dumpRetries defaults to 5 and takes an integer from 0 to 100", { skip: SKIP_ROOT }, () => {
    using sock = NetlinkSocket.open();
    assert.equal(sock.dumpRetries, 5);
    sock.dumpRetries = 0;
    assert.equal(sock.dumpRetries, 0);
    for (const bad of [-1, 1.5, 101, Number.NaN]) {
      assert.throws(() => (sock.dumpRetries = bad), RangeError);
    }
    assert.equal(sock.dumpRetries, 0);
  });

  it("keeps working after many requests (sequence numbers, buffer reuse)", {
    skip: SKIP_ROOT,
  }, () => {
    using rt = Rtnl.open();
    for (let i = 0; i < 500; i++) assert.equal(rt.link.get("lo").name, "lo");
    assert.ok(rt.link.list().length >= 1);
  });

  it("a handle keeps its namespace alive after the mount is removed", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup((c) => {
      const name = `${P}ka`;
      const ns = c.namespace(name);
      const rt = Rtnl.open({ netns: ns });
      c.close(rt);
      rt.link.add({ kind: "veth", name: "k0", peer: { name: "k1" } });
      ns.delete();
      assert.equal(NetNs.exists(name), false);
      const names = rt.link.list().map((l) => l.name).sort();
      assert.deepEqual(names, ["k0", "k1", "lo"], "the namespace lives on through the socket");
      rt.close();
    });
  });
});
