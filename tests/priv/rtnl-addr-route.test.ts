/**
 * Privileged tests of `Rtnl#addr` and `Rtnl#route`: IPv4 and IPv6 addresses (nodad), default
 * routes, routes via a gateway, and the kernel's errors — each in a namespace of its own and
 * checked against `ip -j -n NS`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { NetlinkError, type NetNs, Rtnl } from "../../mod.ts";
import {
  assertNoLeftovers,
  type Cleanup,
  ipAddrs,
  ipJson,
  type IpRoute,
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

/**
 * A namespace `P + suffix` holding a veth pair `a0` (up) / `a1` (up), with a handle in it; all
 * registered for cleanup.
 */
function setup(c: Cleanup, suffix: string): { ns: NetNs; name: string; rt: Rtnl } {
  const name = `${P}${suffix}`;
  const ns = c.namespace(name);
  const rt = Rtnl.open({ netns: ns });
  c.close(rt);
  rt.link.add({ kind: "veth", name: "a0", up: true, peer: { name: "a1" } });
  rt.link.set("a1", { up: true });
  return { ns, name, rt };
}

const IFA_F_NODAD = 0x02;
const IFA_F_TENTATIVE = 0x40;

describe("Rtnl addr", () => {
  it("adds, lists and deletes an IPv4 address", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const { name, rt } = setup(c, "a4");
      rt.addr.add("a0", "198.51.100.2/24");
      const seen = await ipAddrs("a0", name);
      assert.deepEqual(
        seen.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`),
        ["198.51.100.2/24"],
      );
      const mine = rt.addr.list({ dev: "a0", family: 4 });
      assert.equal(mine.length, 1);
      assert.equal(mine[0].cidr, "198.51.100.2/24");
      assert.equal(mine[0].address, "198.51.100.2");
      assert.equal(mine[0].prefixLength, 24);
      assert.equal(mine[0].family, 4);
      assert.equal(mine[0].scope, "global");
      assert.equal(mine[0].index, rt.link.get("a0").index);
      assert.equal(mine[0].label, "a0");
      // the prefix route came with it
      const routes = await ipRoutes(4, name);
      assert.ok(routes.some((r) => r.dst === "198.51.100.0/24" && r.dev === "a0"));
      // filtering by family and by link
      assert.ok(rt.addr.list({ family: 6 }).every((a) => a.family === 6));
      assert.deepEqual(rt.addr.list({ dev: "a1", family: 4 }), []);
      assert.ok(rt.addr.list().some((a) => a.cidr === "127.0.0.1/8") === false, "lo is down");
      rt.addr.del("a0", "198.51.100.2/24");
      assert.deepEqual((await ipAddrs("a0", name)).filter((a) => a.family === "inet"), []);
      assert.deepEqual(rt.addr.list({ dev: "a0", family: 4 }), []);
    });
  });

  it("adds an IPv6 address with nodad: not tentative", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const { name, rt } = setup(c, "a6");
      rt.addr.add("a0", "2001:db8:6::2/64", { nodad: true });
      const seen = (await ipAddrs("a0", name)).find((a) => a.local === "2001:db8:6::2");
      assert.ok(seen, "present");
      assert.equal(seen.prefixlen, 64);
      assert.equal(seen.tentative, undefined, "nodad: usable at once");
      assert.equal(seen.nodad, true);
      const mine = rt.addr.list({ dev: "a0", family: 6 }).find((a) =>
        a.address === "2001:db8:6::2"
      );
      assert.equal(mine?.cidr, "2001:db8:6::2/64");
      assert.equal(mine?.family, 6);
      assert.equal((mine?.flags ?? 0) & IFA_F_NODAD, IFA_F_NODAD);
      assert.equal((mine?.flags ?? 0) & IFA_F_TENTATIVE, 0);
      rt.addr.del("a0", "2001:db8:6::2/64");
      assert.equal(
        (await ipAddrs("a0", name)).find((a) => a.local === "2001:db8:6::2"),
        undefined,
      );
    });
  });

  it("without nodad, an IPv6 address on a link with no carrier stays tentative", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const { name, rt } = setup(c, "at");
      rt.link.set("a1", { up: false }); // no carrier on a0: DAD cannot finish
      rt.addr.add("a0", "2001:db8:7::2/64");
      const seen = (await ipAddrs("a0", name)).find((a) => a.local === "2001:db8:7::2");
      assert.equal(seen?.tentative, true);
      const mine = rt.addr.list({ dev: "a0", family: 6 }).find((a) =>
        a.address === "2001:db8:7::2"
      );
      assert.equal((mine?.flags ?? 0) & IFA_F_TENTATIVE, IFA_F_TENTATIVE);
    });
  });

  it("EEXIST for an address already there; replace succeeds", { skip: SKIP_ROOT }, async () => {
    await withCleanup((c) => {
      const { rt } = setup(c, "ae");
      rt.addr.add("a0", "198.51.100.2/24");
      assert.throws(() => rt.addr.add("a0", "198.51.100.2/24"), (e: unknown) => {
        assert.ok(e instanceof NetlinkError);
        assert.equal(e.code, "EEXIST");
        assert.equal(e.op, "RTM_NEWADDR");
        assert.ok(e.message.includes("198.51.100.2/24"), e.message);
        return true;
      });
      rt.addr.add("a0", "198.51.100.2/24", { replace: true });
      assert.equal(rt.addr.list({ dev: "a0", family: 4 }).length, 1);
      assert.throws(
        () => rt.addr.del("a0", "198.51.100.9/24"),
        { name: "NetlinkError", code: "EADDRNOTAVAIL" },
      );
      assert.throws(
        () => rt.addr.add(`${P}none`, "198.51.100.3/24"),
        { name: "NetlinkError", code: "ENODEV" },
      );
    });
  });

  it("refuses bad addresses before the kernel, quoting them", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const { name, rt } = setup(c, "ab");
      const bad: Array<[string, ErrorConstructor]> = [
        ["198.51.100.256/24", TypeError],
        ["198.51.100.2/33", TypeError], // net/ip.ts: any malformed CIDR is a TypeError
        ["2001:db8::1/129", TypeError],
        ["2001:db8:::1/64", TypeError],
        ["198.51.100.2", TypeError],
      ];
      for (const [cidr, type] of bad) {
        assert.throws(() => rt.addr.add("a0", cidr), (e: unknown) => {
          assert.ok(e instanceof Error && e.name === type.name, `${cidr}: got ${e}`);
          assert.ok(e.message.includes(`"${cidr}"`), `${cidr}: ${e.message}`);
          return true;
        });
      }
      assert.deepEqual(
        (await ipAddrs("a0", name)).filter((a) => a.family === "inet"),
        [],
        "nothing added",
      );
    });
  });
});

describe("Rtnl addr: options", () => {
  it("sets the broadcast address (brd +), a label and the scope", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const { name, rt } = setup(c, "ao");
      rt.addr.add("a0", "198.51.100.2/24", { broadcast: true });
      rt.addr.add("a0", "198.51.100.3/24", { label: "a0x" });
      rt.addr.add("a0", "203.0.113.5/24", { scope: "link" });
      const seen = await ipAddrs("a0", name);
      const two = seen.find((a) => a.local === "198.51.100.2") as { broadcast?: string };
      assert.equal(two?.broadcast, "198.51.100.255");
      const three = seen.find((a) => a.local === "198.51.100.3") as { label?: string };
      assert.equal(three?.label, "a0x");
      assert.equal(seen.find((a) => a.local === "203.0.113.5")?.scope, "link");
      const mine = rt.addr.list({ dev: "a0", family: 4 });
      assert.equal(mine.find((a) => a.address === "198.51.100.2")?.broadcast, "198.51.100.255");
      assert.equal(mine.find((a) => a.address === "198.51.100.3")?.label, "a0x");
      assert.equal(mine.find((a) => a.address === "203.0.113.5")?.scope, "link");
    });
  });

  // The usual alias form `DEV:N` (`ip addr add … label eth0:1`): rtnl/address.ts once checked
  // the label with checkIfName(), which refuses ":".
  it("accepts an alias label with a colon (eth0:1 style)", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const { name, rt } = setup(c, "al");
      rt.addr.add("a0", "198.51.100.4/24", { label: "a0:1" });
      const seen = (await ipAddrs("a0", name)).find((a) => a.local === "198.51.100.4") as {
        label?: string;
      };
      assert.equal(seen?.label, "a0:1");
      assert.equal(
        rt.addr.list({ dev: "a0", family: 4 }).find((a) => a.address === "198.51.100.4")?.label,
        "a0:1",
      );
    });
  });
});

describe("Rtnl route", () => {
  it("adds IPv4 and IPv6 default routes and lists them", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const { name, rt } = setup(c, "rd");
      rt.addr.add("a0", "198.51.100.2/24");
      rt.addr.add("a0", "2001:db8:1::2/64", { nodad: true });
      rt.route.add({ gateway: "198.51.100.1" });
      rt.route.add({ dst: "default", gateway: "2001:db8:1::1", dev: "a0" });
      const v4 = (await ipRoutes(4, name)).find((r) => r.dst === "default");
      assert.equal(v4?.gateway, "198.51.100.1");
      assert.equal(v4?.dev, "a0");
      const v6 = (await ipRoutes(6, name)).find((r) => r.dst === "default");
      assert.equal(v6?.gateway, "2001:db8:1::1");
      assert.equal(v6?.dev, "a0");
      const index = rt.link.get("a0").index;
      const mine4 = rt.route.list({ family: 4 }).find((r) => r.dst === "default");
      assert.equal(mine4?.gateway, "198.51.100.1");
      assert.equal(mine4?.oif, index);
      assert.equal(mine4?.table, 254);
      const mine6 = rt.route.list({ family: 6 }).find((r) => r.dst === "default");
      assert.equal(mine6?.gateway, "2001:db8:1::1");
      assert.equal(mine6?.family, 6);
      assert.ok(rt.route.list().some((r) => r.family === 4 && r.dst === "198.51.100.0/24"));
      assert.throws(
        () => rt.route.add({ gateway: "198.51.100.1" }),
        { name: "NetlinkError", code: "EEXIST" },
      );
      rt.route.del({ gateway: "198.51.100.1" });
      rt.route.del({ dst: "default", gateway: "2001:db8:1::1", dev: "a0" });
      assert.equal((await ipRoutes(4, name)).find((r) => r.dst === "default"), undefined);
      assert.equal((await ipRoutes(6, name)).find((r) => r.dst === "default"), undefined);
      assert.equal(rt.route.list().find((r) => r.dst === "default"), undefined);
    });
  });

  it("adds routes via a gateway and on-link routes", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const { name, rt } = setup(c, "rg");
      rt.addr.add("a0", "198.51.100.2/24");
      rt.addr.add("a0", "2001:db8:2::2/64", { nodad: true });
      rt.route.add({ dst: "203.0.113.0/24", gateway: "198.51.100.1" });
      rt.route.add({ dst: "2001:db8:99::/48", gateway: "2001:db8:2::1" });
      rt.route.add({ dst: "203.0.113.128/25", dev: "a1" });
      const v4 = await ipRoutes(4, name);
      const via = v4.find((r) => r.dst === "203.0.113.0/24");
      assert.equal(via?.gateway, "198.51.100.1");
      assert.equal(via?.dev, "a0");
      const onLink = v4.find((r) => r.dst === "203.0.113.128/25");
      assert.equal(onLink?.dev, "a1");
      assert.equal(onLink?.scope, "link");
      assert.equal(onLink?.gateway, undefined);
      const v6 = (await ipRoutes(6, name)).find((r) => r.dst === "2001:db8:99::/48");
      assert.equal(v6?.gateway, "2001:db8:2::1");
      const mine = rt.route.list({ family: 4 }).find((r) => r.dst === "203.0.113.0/24");
      assert.equal(mine?.gateway, "198.51.100.1");
      // a host route, with a metric
      rt.route.add({ dst: "203.0.113.77/32", gateway: "198.51.100.1", metric: 50 });
      const host = rt.route.list({ family: 4 }).find((r) => r.dst === "203.0.113.77/32");
      assert.equal(host?.metric, 50);
      rt.route.del({ dst: "203.0.113.0/24", gateway: "198.51.100.1" });
      assert.equal((await ipRoutes(4, name)).find((r) => r.dst === "203.0.113.0/24"), undefined);
      assert.throws(
        () => rt.route.del({ dst: "203.0.113.0/24", gateway: "198.51.100.1" }),
        { name: "NetlinkError", code: "ESRCH" },
      );
    });
  });

  it("adds, lists and deletes routes in another table (ids below and above 255)", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const { name, rt } = setup(c, "rt");
      rt.addr.add("a0", "198.51.100.2/24");
      rt.route.add({ dst: "203.0.113.0/25", gateway: "198.51.100.1", table: 100 });
      rt.route.add({ dst: "203.0.113.0/26", gateway: "198.51.100.1", table: 1000 });
      const t100 = await ipJson<IpRoute[]>(["-4", "-n", name, "route", "show", "table", "100"]);
      assert.deepEqual(t100.map((r) => r.dst), ["203.0.113.0/25"]);
      const t1000 = await ipJson<IpRoute[]>(["-4", "-n", name, "route", "show", "table", "1000"]);
      assert.deepEqual(t1000.map((r) => r.dst), ["203.0.113.0/26"]);
      assert.deepEqual(rt.route.list({ family: 4, table: 100 }).map((r) => r.dst), [
        "203.0.113.0/25",
      ]);
      assert.deepEqual(
        rt.route.list({ family: 4, table: 1000 }).map((r) => [r.dst, r.table]),
        [["203.0.113.0/26", 1000]],
      );
      assert.equal(rt.route.list({ family: 4 }).find((r) => r.dst === "203.0.113.0/25"), undefined);
      assert.ok(rt.route.list({ family: 4, table: 0 }).some((r) => r.dst === "203.0.113.0/26"));
      rt.route.del({ dst: "203.0.113.0/25", table: 100 });
      rt.route.del({ dst: "203.0.113.0/26", gateway: "198.51.100.1", table: 1000 });
      assert.deepEqual(
        await ipJson<IpRoute[]>(["-4", "-n", name, "route", "show", "table", "1000"]),
        [],
      );
    });
  });

  // route.list() without a family dumps IPv4 and IPv6; with a table filter, the kernel answers
  // ENOENT ("ipv6: FIB table does not exist") for the family that lacks the table: the list
  // must still return the IPv4 routes (it once threw).
  it("list({ table }) without a family returns the routes of a table only IPv4 has", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup((c) => {
      const { rt } = setup(c, "rl");
      rt.addr.add("a0", "198.51.100.2/24");
      rt.route.add({ dst: "203.0.113.0/25", gateway: "198.51.100.1", table: 100 });
      assert.deepEqual(rt.route.list({ table: 100 }).map((r) => r.dst), ["203.0.113.0/25"]);
    });
  });

  it("ENETUNREACH with the kernel's extack text for a gateway no address covers", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const { name, rt } = setup(c, "ru");
      assert.throws(
        () => rt.route.add({ dst: "203.0.113.0/24", gateway: "198.51.100.1" }),
        (e: unknown) => {
          assert.ok(e instanceof NetlinkError, String(e));
          assert.equal(e.code, "ENETUNREACH");
          assert.equal(e.op, "RTM_NEWROUTE");
          assert.equal(e.extack, "Nexthop has invalid gateway");
          assert.equal(
            e.message,
            "RTM_NEWROUTE 203.0.113.0/24 via 198.51.100.1: ENETUNREACH (Network is unreachable): Nexthop has invalid gateway",
          );
          return true;
        },
      );
      assert.throws(
        () => rt.route.add({ gateway: "198.51.100.1" }),
        { name: "NetlinkError", code: "ENETUNREACH" },
      );
      assert.deepEqual(
        (await ipRoutes(4, name)).filter((r) => r.dst !== "default" || r.gateway),
        [],
        "no route was made",
      );
      // once an address covers the gateway, the same route works
      rt.addr.add("a0", "198.51.100.2/24");
      rt.route.add({ dst: "203.0.113.0/24", gateway: "198.51.100.1" });
      assert.ok((await ipRoutes(4, name)).some((r) => r.dst === "203.0.113.0/24"));
    });
  });

  it("refuses bad routes before the kernel, quoting the values", { skip: SKIP_ROOT }, () => {
    using rt = Rtnl.open();
    assert.throws(
      () => rt.route.add({ dst: "203.0.113.0/24", gateway: "2001:db8::1" }),
      (e: unknown) =>
        e instanceof TypeError && e.message.includes('"203.0.113.0/24"') &&
        e.message.includes('"2001:db8::1"'),
    );
    assert.throws(
      () => rt.route.add({ gateway: "198.51.100.999" }),
      (e: unknown) => e instanceof TypeError && e.message.includes('"198.51.100.999"'),
    );
    assert.throws(
      () => rt.route.add({ dst: "203.0.113.0/24", dev: "lo", table: 0 }),
      (e: unknown) => e instanceof RangeError && e.message.includes('"0"'),
    );
    assert.throws(
      () => rt.route.add({ dst: "203.0.113.0/24", dev: "lo", metric: -1 }),
      (e: unknown) => e instanceof RangeError && e.message.includes('"-1"'),
    );
    assert.equal(rt.route.list().find((r) => r.dst.startsWith("203.0.113.")), undefined);
  });
});
