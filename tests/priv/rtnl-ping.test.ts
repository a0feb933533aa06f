/**
 * Privileged end-to-end test: two namespaces, each joined by a veth pair to a bridge in the
 * test's own namespace, all made with nslink; then `ping` (IPv4 and IPv6) from one namespace to
 * the other, only between addresses the test made.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { NetNs, Rtnl } from "../../mod.ts";
import {
  assertNoLeftovers,
  exec,
  ipLink,
  isRoot,
  runId,
  SKIP_ROOT,
  withCleanup,
} from "./_helpers.ts";
import { assertNoPingReply } from "./_network_helpers.ts";

const P = runId();

after(async () => {
  if (isRoot) await assertNoLeftovers(P);
});

describe("Rtnl: two namespaces on a bridge", () => {
  it("ping works both ways over IPv4 and IPv6", { skip: SKIP_ROOT, timeout: 30_000 }, async () => {
    await withCleanup(async (c) => {
      const br = `${P}br`;
      c.link(br);
      using host = Rtnl.open();
      host.link.add({ kind: "bridge", name: br, up: true });
      const members = [
        { ns: `${P}pa`, hostEnd: `${P}a0`, v4: "198.51.100.11", v6: "2001:db8:5::11" },
        { ns: `${P}pb`, hostEnd: `${P}b0`, v4: "198.51.100.12", v6: "2001:db8:5::12" },
      ];
      for (const m of members) {
        c.netns(m.ns);
        c.link(m.hostEnd);
        const ns = NetNs.create(m.ns);
        c.close(ns);
        host.link.add({
          kind: "veth",
          name: m.hostEnd,
          up: true,
          master: br,
          peer: { name: "eth0", netns: ns },
        });
        using inside = Rtnl.open({ netns: ns });
        inside.link.set("lo", { up: true });
        inside.link.set("eth0", { up: true });
        inside.addr.add("eth0", `${m.v4}/24`);
        inside.addr.add("eth0", `${m.v6}/64`, { nodad: true });
        assert.equal((await ipLink(m.hostEnd))?.master, br);
      }
      const [a, b] = members;
      for (const [from, to] of [[a, b], [b, a]]) {
        for (const addr of [to.v4, to.v6]) {
          // Up to three tries: on a loaded machine the first echo (behind ARP/ND) can be lost.
          let r = await exec(["ip", "netns", "exec", from.ns, "ping", "-c1", "-W2", addr]);
          for (let i = 0; i < 2 && r.code !== 0; i++) {
            r = await exec(["ip", "netns", "exec", from.ns, "ping", "-c1", "-W2", addr]);
          }
          assert.equal(r.code, 0, `ping ${addr} from ${from.ns}: ${r.stdout}${r.stderr}`);
          assert.match(r.stdout, /1 received/);
        }
      }
      // and not to an address nobody holds (the test's own range)
      const r = await exec(["ip", "netns", "exec", a.ns, "ping", "-c1", "-W1", "198.51.100.99"]);
      assertNoPingReply(r, "ping 198.51.100.99");
    });
  });
});
