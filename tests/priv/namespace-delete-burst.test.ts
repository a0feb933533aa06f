/**
 * `Namespace.delete()` in a burst (issue 21): each call unmounts and removes its namespace
 * before it returns, and the handles (the namespace fd, the netlink socket inside) are closed at
 * the next turn of the event loop, with at most 64 namespaces' handles waiting, so that the
 * kernel tears the burst down after the calls instead of during the next `umount2`. Checked
 * independently: no name, no mount and no open fd of any of them is left, and the kernel really
 * destroys them (the host ends of their veths go, which a handle left open would prevent).
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { type Namespace, newNetworkNamespace, Rtnl } from "../../mod.ts";
import { ipLinks, ipNetnsNames, nsfsMounts, runId, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { waitFor } from "./_network_helpers.ts";

const P = runId();

/** The nsfs inodes of the namespaces this process holds open fds of. */
function openNamespaceInodes(): Set<number> {
  const nsfsDev = statSync("/proc/thread-self/ns/net").dev;
  const inodes = new Set<number>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const st = statSync(`/proc/self/fd/${fd}`);
      if (st.dev === nsfsDev) inodes.add(st.ino);
    } catch { /* closed meanwhile (the directory's own fd) */ }
  }
  return inodes;
}

describe("Namespace.delete() in a burst", () => {
  it("leaves no name, mount or fd behind, with at most 64 namespaces' handles waiting", {
    skip: SKIP_ROOT,
    timeout: 120_000,
  }, async () => {
    // More than the 64 whose handles may wait, so that the bound is reached once.
    const n = 70;
    await withCleanup(async (c) => {
      using host = Rtnl.open();
      const nss: Namespace[] = [];
      const inodes: number[] = [];
      for (let i = 0; i < n; i++) {
        const path = `/run/netns/${P}b${i}`;
        c.netns(path);
        const ns = await newNetworkNamespace(path);
        nss.push(ns);
        inodes.push(statSync(path).ino);
        c.link(`${P}h${i}`);
        host.link.add({ kind: "veth", name: `${P}h${i}`, peer: { name: "eth0", netns: ns.netns } });
        ns.rtnl().link.set("eth0", { up: true }); // the netlink socket inside is open too
      }
      assert.equal((await ipLinks()).filter((l) => l.ifname.startsWith(`${P}h`)).length, n);

      for (const ns of nss) await ns.delete();

      // Before the event loop turns (nothing awaited here does): every mount is gone; the
      // handles of at most 64 namespaces wait (the 64th deletion closed the first 64).
      const open = openNamespaceInodes();
      const waiting = inodes.filter((ino) => open.has(ino)).length;
      assert.ok(waiting <= 64 && waiting < n, `${waiting} of ${n} namespaces' fds still open`);
      assert.deepEqual(nsfsMounts().filter((m) => m.startsWith(`/run/netns/${P}b`)), []);
      assert.deepEqual((await ipNetnsNames()).filter((name) => name.startsWith(`${P}b`)), []);

      await new Promise((ok) => setTimeout(ok, 0));
      const after = openNamespaceInodes();
      assert.deepEqual(inodes.filter((ino) => after.has(ino)), [], "no namespace fd left open");
      for (const ns of nss) {
        assert.equal(ns.netns.fd, -1);
        assert.throws(() => ns.rtnl(), /is closed/);
      }
      // The kernel destroys the namespaces (nothing holds them): their veths go with them.
      assert.ok(
        await waitFor(
          async () => !(await ipLinks()).some((l) => l.ifname.startsWith(`${P}h`)),
          10_000,
        ),
        "host ends of the deleted namespaces' veths gone",
      );
    });
  });
});
