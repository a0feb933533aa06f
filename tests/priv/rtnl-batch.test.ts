/**
 * Privileged tests of batched requests: several requests in one `sendmsg`, one ACK each, in
 * order, a failure not stopping the requests after it.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type BatchRequest, NetlinkError, NetlinkSocket, Rtnl } from "../../mod.ts";
import { RTNLGRP_IPV6_IFADDR } from "../../netlink/constants.ts";
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
        const ns = c.namespace(nsName);
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
      const ns = c.namespace(nsName);
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

  it(
    "returns one result per request for 2,000 requests (more ACKs than one receive buffer holds)",
    { skip: SKIP_ROOT },
    async () => {
      await withCleanup(async (c) => {
        const nsName = `${P}n`;
        const ns = c.namespace(nsName);
        using rt = Rtnl.open({ netns: ns });
        rt.link.add({ kind: "veth", name: `${P}a`, peer: { name: `${P}b` } });
        const index = rt.link.index(`${P}a`);
        const N = 2000;
        const addr = (i: number) => `2001:db8:b::${(i + 1).toString(16)}`;
        const errors = rt.batch((b) => {
          for (let i = 0; i < N; i++) {
            b.addr.add(index, `${addr(i)}/64`);
            if (i === 1000) b.addr.add(index, `${addr(0)}/64`); // again: EEXIST, mid-batch
          }
        });
        assert.equal(errors.length, N + 1);
        assert.deepEqual(
          errors.flatMap((e, i) => e ? [[i, e.code]] : []),
          [[1001, "EEXIST"]],
        );
        const got = (await ipAddrs(`${P}a`, nsName))
          .filter((a) => a.family === "inet6" && a.local.startsWith("2001:db8:b:"))
          .map((a) => a.local).sort();
        assert.deepEqual(got, Array.from({ length: N }, (_, i) => addr(i)).sort());
      });
    },
  );

  it(
    "never waits for an ACK the kernel dropped: ENOBUFS for those requests, the others answered",
    { skip: SKIP_ROOT },
    async () => {
      await withCleanup(async (c) => {
        const nsName = `${P}o`;
        const ns = c.namespace(nsName);
        using rt = Rtnl.open({ netns: ns });
        rt.link.add({ kind: "veth", name: `${P}a`, peer: { name: `${P}b` } });
        const index = rt.link.index(`${P}a`);
        // Record the requests, then send them on a socket whose small receive buffer is already
        // full of address events: the kernel drops ACKs.
        const queue: BatchRequest[] = [];
        const N = 200;
        const addr = (i: number) => `2001:db8:c::${(i + 1).toString(16)}`;
        const sock = rt.socket;
        const real = sock.batch.bind(sock);
        sock.batch = (q) => (queue.push(...q), []);
        try {
          rt.batch((b) => {
            for (let i = 0; i < N; i++) b.addr.add(index, `${addr(i)}/64`);
          });
        } finally {
          sock.batch = real;
        }
        assert.equal(queue.length, N);
        using events = NetlinkSocket.open({
          netnsFd: ns.fd,
          groups: [RTNLGRP_IPV6_IFADDR],
          receiveBuffer: 16384,
        });
        // Unread events fill that socket's buffer (as a monitor that fell behind would).
        rt.batch((b) => {
          for (let i = 0; i < 64; i++) b.addr.add(index, `2001:db8:d::${i + 1}/64`);
        });
        const errors = events.batch(queue);
        assert.equal(errors.length, N);
        const codes = new Set(errors.map((e) => e?.code));
        assert.ok(codes.has("ENOBUFS"), `some ACKs were dropped: ${[...codes]}`);
        for (const e of errors) {
          if (e) assert.match(e.message, /RTM_NEWADDR .*: ENOBUFS .*no ACK/);
        }
        // Dropped ACKs, not dropped requests: the kernel applied every one.
        const got = (await ipAddrs(`${P}a`, nsName))
          .filter((a) => a.family === "inet6" && a.local.startsWith("2001:db8:c:"));
        assert.equal(got.length, N);
      });
    },
  );
});
