/**
 * Privileged tests of `Rtnl#link`: creating and deleting each link kind, changing links, moving
 * them between namespaces, kernel errors and input checks — each checked against `ip -j`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { release } from "node:os";
import { NetlinkError, NetNs, Rtnl } from "../../mod.ts";
import {
  assertNoLeftovers,
  ipJson,
  ipLink,
  ipLinks,
  isRoot,
  linkKindSkip,
  runId,
  SKIP_ROOT,
  withCleanup,
} from "./_helpers.ts";

const P = runId();
const vlanSkip = await linkKindSkip("vlan", P);
const ipvlanSkip = await linkKindSkip("ipvlan", P);
const vlanFilteringSkip = await bridgeVlanFilteringSkip(P);
/** Kernels before 6.3 do not echo RTM_NEWLINK (NLM_F_ECHO): nothing for add() to return. */
const [major = 0, minor = 0] = release().split(".").map(Number);
const echoSkip = SKIP_ROOT || ((major < 6 || (major === 6 && minor < 3)) &&
  `kernel ${release()} is before 6.3: no RTM_NEWLINK echo`);

/**
 * The skip reason when the kernel refuses a VLAN-filtering bridge (no
 * CONFIG_BRIDGE_VLAN_FILTERING: EOPNOTSUPP without extack), probed once before the tests are
 * registered so that both runtimes report the test as skipped, not passed.
 */
async function bridgeVlanFilteringSkip(prefix: string): Promise<string | false> {
  if (!isRoot) return "needs root";
  const br = `${prefix}kbf`;
  return await withCleanup((c) => {
    c.link(br);
    using rt = Rtnl.open();
    try {
      rt.link.add({ kind: "bridge", name: br, vlanFiltering: true });
      rt.link.del(br);
      return false;
    } catch (e) {
      if (!(e instanceof NetlinkError && e.code === "EOPNOTSUPP")) throw e;
      return "kernel lacks CONFIG_BRIDGE_VLAN_FILTERING";
    }
  });
}

after(async () => {
  if (isRoot) await assertNoLeftovers(P);
});

describe("Rtnl link: create and delete", () => {
  it("creates a veth pair, seen by ip and by link.get(), and deletes both ends", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const a = `${P}va`, b = `${P}vb`;
      c.link(a);
      using rt = Rtnl.open();
      rt.link.add({ kind: "veth", name: a, peer: { name: b } });
      const ia = await ipLink(a), ib = await ipLink(b);
      assert.equal(ia?.linkinfo?.info_kind, "veth");
      assert.equal(ib?.linkinfo?.info_kind, "veth");
      const la = rt.link.get(a);
      assert.equal(la.name, a);
      assert.equal(la.kind, "veth");
      assert.equal(la.index, ia?.ifindex);
      assert.equal(la.parent, ib?.ifindex, "IFLA_LINK of a veth names its peer");
      assert.equal(la.up, false);
      assert.equal(rt.link.get(la.index).name, a, "get() by index");
      assert.ok(rt.link.list().some((l) => l.name === b));
      rt.link.del(a);
      assert.equal(await ipLink(a), undefined);
      assert.equal(await ipLink(b), undefined, "deleting one end deletes the peer");
      assert.equal(rt.link.find(a), undefined);
    });
  });

  it(
    "add() with echo returns the new link, whose parent is the peer's index inside the namespace",
    { skip: echoSkip },
    async () => {
      await withCleanup(async (c) => {
        const a = `${P}ea`, nsName = `${P}en`;
        c.link(a);
        const ns = c.namespace(nsName);
        using rt = Rtnl.open();
        assert.equal(
          rt.link.add({ kind: "veth", name: `${P}xa`, peer: { name: `${P}xb` } }),
          undefined,
        );
        rt.link.del(`${P}xa`);
        const made = rt.link.add({ kind: "veth", name: a, peer: { name: "eth0", netns: ns } }, {
          echo: true,
        });
        assert.ok(made, "a 6.3+ kernel echoes RTM_NEWLINK");
        assert.equal(made.name, a);
        assert.equal(made.index, (await ipLink(a))?.ifindex);
        assert.equal(made.parent, (await ipLink("eth0", nsName))?.ifindex);
      });
    },
  );

  it("creates a veth with up, mtu, mac and peer mtu/mac", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const a = `${P}wa`, b = `${P}wb`;
      c.link(a);
      using rt = Rtnl.open();
      rt.link.add({
        kind: "veth",
        name: a,
        up: true,
        mtu: 1400,
        mac: "02:00:5e:10:00:0a",
        peer: { name: b, mtu: 1300, mac: "02:00:5e:10:00:0b" },
      });
      const ia = await ipLink(a), ib = await ipLink(b);
      assert.ok(ia?.flags.includes("UP"), `flags ${ia?.flags}`);
      assert.equal(ia?.mtu, 1400);
      assert.equal(ia?.address, "02:00:5e:10:00:0a");
      assert.equal(ib?.mtu, 1300);
      assert.equal(ib?.address, "02:00:5e:10:00:0b");
      assert.ok(!ib?.flags.includes("UP"), "the peer stays down");
      const la = rt.link.get(a);
      assert.equal(la.up, true);
      assert.equal(la.mtu, 1400);
      assert.equal(la.mac, "02:00:5e:10:00:0a");
    });
  });

  it("creates a bridge and deletes it", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const br = `${P}br`;
      c.link(br);
      using rt = Rtnl.open();
      rt.link.add({ kind: "bridge", name: br, up: true });
      const ib = await ipLink(br);
      assert.equal(ib?.linkinfo?.info_kind, "bridge");
      assert.ok(ib?.flags.includes("UP"));
      assert.equal(rt.link.get(br).kind, "bridge");
      rt.link.del(br);
      assert.equal(await ipLink(br), undefined);
    });
  });

  it("creates a macvlan on a veth parent (bridge mode by default)", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const a = `${P}ma`, m = `${P}mv`, m2 = `${P}mp`;
      c.link(a);
      c.link(m);
      c.link(m2);
      using rt = Rtnl.open();
      rt.link.add({ kind: "veth", name: a, peer: { name: `${P}mb` } });
      rt.link.add({ kind: "macvlan", name: m, parent: a });
      rt.link.add({ kind: "macvlan", name: m2, parent: a, mode: "private" });
      const im = await ipLink(m);
      assert.equal(im?.linkinfo?.info_kind, "macvlan");
      assert.equal(im?.linkinfo?.info_data?.mode, "bridge");
      assert.equal(im?.link, a);
      assert.equal((await ipLink(m2))?.linkinfo?.info_data?.mode, "private");
      const lm = rt.link.get(m);
      assert.equal(lm.kind, "macvlan");
      assert.equal(lm.parent, rt.link.get(a).index);
      rt.link.del(m);
      assert.equal(await ipLink(m), undefined);
      assert.ok(await ipLink(a), "deleting the macvlan leaves its parent");
      rt.link.del(a);
      assert.equal(await ipLink(m2), undefined, "deleting the parent deletes its macvlans");
    });
  });

  it("creates a vlan on a veth parent", { skip: vlanSkip }, async () => {
    await withCleanup(async (c) => {
      const a = `${P}la`, v = `${P}la.10`;
      c.link(a);
      using rt = Rtnl.open();
      rt.link.add({ kind: "veth", name: a, peer: { name: `${P}lb` } });
      rt.link.add({ kind: "vlan", name: v, parent: a, id: 10 });
      const iv = await ipLink(v);
      assert.equal(iv?.linkinfo?.info_kind, "vlan");
      assert.equal(iv?.linkinfo?.info_data?.id, 10);
      assert.equal(rt.link.get(v).data?.id, 10);
      rt.link.del(v);
      assert.equal(await ipLink(v), undefined);
    });
  });

  it("creates an ipvlan on a veth parent", { skip: ipvlanSkip }, async () => {
    await withCleanup(async (c) => {
      const a = `${P}ia`, v = `${P}iv`;
      c.link(a);
      using rt = Rtnl.open();
      rt.link.add({ kind: "veth", name: a, peer: { name: `${P}ib` } });
      rt.link.add({ kind: "ipvlan", name: v, parent: a, mode: "l2" });
      assert.equal((await ipLink(v))?.linkinfo?.info_kind, "ipvlan");
      rt.link.del(v);
      assert.equal(await ipLink(v), undefined);
    });
  });

  it("reports vlan on a kernel without it as EOPNOTSUPP with the kernel's text", {
    skip: SKIP_ROOT || (vlanSkip === false && "kernel has vlan"),
  }, async () => {
    await withCleanup(async (c) => {
      const a = `${P}na`, v = `${P}nv`;
      c.link(a);
      c.link(v);
      using rt = Rtnl.open();
      rt.link.add({ kind: "veth", name: a, peer: { name: `${P}nb` } });
      assert.throws(
        () => rt.link.add({ kind: "vlan", name: v, parent: a, id: 10 }),
        (e: unknown) =>
          e instanceof NetlinkError && e.code === "EOPNOTSUPP" &&
          e.message.startsWith(`RTM_NEWLINK vlan "${v}": EOPNOTSUPP`) &&
          /Unknown device type/.test(e.message),
      );
      assert.equal(await ipLink(v), undefined);
    });
  });

  it("creates a vxlan with vni, port and local address", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const x = `${P}vx`, x6 = `${P}vx6`;
      c.link(x);
      c.link(x6);
      using rt = Rtnl.open();
      rt.link.add({ kind: "vxlan", name: x, vni: 4242, port: 4790, local: "198.51.100.1" });
      const ix = await ipLink(x);
      assert.equal(ix?.linkinfo?.info_kind, "vxlan");
      assert.equal(ix?.linkinfo?.info_data?.id, 4242);
      assert.equal(ix?.linkinfo?.info_data?.port, 4790, "IFLA_VXLAN_PORT is in network order");
      assert.equal(ix?.linkinfo?.info_data?.local, "198.51.100.1");
      assert.equal(rt.link.get(x).kind, "vxlan");
      rt.link.add({ kind: "vxlan", name: x6, vni: 7, local: "2001:db8::1" });
      const ix6 = await ipLink(x6);
      assert.equal(ix6?.linkinfo?.info_data?.id, 7);
      assert.equal(ix6?.linkinfo?.info_data?.port, 4789, "default port");
      assert.equal(ix6?.linkinfo?.info_data?.local6, "2001:db8::1");
      rt.link.del(x);
      rt.link.del(x6);
      assert.equal(await ipLink(x), undefined);
      assert.equal(await ipLink(x6), undefined);
    });
  });
});

describe("Rtnl link: kind options", () => {
  it("creates a bridge with STP and an ageing time", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const br = `${P}bo`;
      c.link(br);
      using rt = Rtnl.open();
      rt.link.add({ kind: "bridge", name: br, stp: true, ageingTime: 1000 });
      const data = (await ipLink(br))?.linkinfo?.info_data;
      assert.equal(data?.stp_state, 1);
      assert.equal(data?.ageing_time, 1000);
      const mine = rt.link.get(br).data;
      assert.equal(mine?.stpState, 1);
      assert.equal(mine?.ageingTime, 1000);
    });
  });

  it("creates a VLAN-filtering bridge", { skip: vlanFilteringSkip }, async () => {
    await withCleanup(async (c) => {
      const br = `${P}bf`;
      c.link(br);
      using rt = Rtnl.open();
      rt.link.add({ kind: "bridge", name: br, vlanFiltering: true });
      assert.equal((await ipLink(br))?.linkinfo?.info_data?.vlan_filtering, 1);
    });
  });

  it("refuses a VLAN-filtering bridge on a kernel without it, leaving nothing half-made", {
    skip: SKIP_ROOT || (vlanFilteringSkip === false && "kernel has bridge VLAN filtering"),
  }, async () => {
    await withCleanup(async (c) => {
      const br = `${P}bn`;
      c.link(br);
      using rt = Rtnl.open();
      // Without CONFIG_BRIDGE_VLAN_FILTERING the kernel refuses the option (no extack).
      assert.throws(
        () => rt.link.add({ kind: "bridge", name: br, vlanFiltering: true }),
        (e: unknown) => e instanceof NetlinkError && e.code === "EOPNOTSUPP",
      );
      assert.equal(await ipLink(br), undefined, "nothing half-made");
    });
  });

  it("creates a vxlan with a multicast group, parent, TTL and no learning", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const a = `${P}ga`, x = `${P}gx`;
      c.link(x);
      c.link(a);
      using rt = Rtnl.open();
      rt.link.add({ kind: "veth", name: a, peer: { name: `${P}gb` } });
      rt.link.add({
        kind: "vxlan",
        name: x,
        vni: 5,
        group: "239.1.1.1",
        parent: a,
        ttl: 9,
        learning: false,
      });
      const data = (await ipLink(x))?.linkinfo?.info_data;
      assert.equal(data?.group, "239.1.1.1");
      assert.equal(data?.link, a);
      assert.equal(data?.ttl, 9);
      assert.equal(data?.learning, false);
      const mine = rt.link.get(x).data;
      assert.equal(mine?.group, "239.1.1.1");
      assert.equal(mine?.link, rt.link.get(a).index);
      assert.equal(mine?.learning, 0);
    });
  });

  it("sets the transmit queue length", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const a = `${P}ta`;
      c.link(a);
      using rt = Rtnl.open();
      rt.link.add({ kind: "veth", name: a, txqlen: 77, peer: { name: `${P}tb` } });
      assert.equal(rt.link.get(a).txqlen, 77);
      rt.link.set(a, { txqlen: 50 });
      assert.equal(rt.link.get(a).txqlen, 50);
      const r = await ipJson<Array<{ txqlen: number }>>(["link", "show", "dev", a]);
      assert.equal(r[0].txqlen, 50);
    });
  });
});

describe("Rtnl link: set", () => {
  it("sets up and down, MTU and MAC", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const a = `${P}sa`, b = `${P}sb`;
      c.link(a);
      using rt = Rtnl.open();
      rt.link.add({ kind: "veth", name: a, peer: { name: b } });
      rt.link.set(a, { up: true });
      assert.ok((await ipLink(a))?.flags.includes("UP"));
      rt.link.set(b, { up: true });
      assert.equal(rt.link.get(a).operstate, "up", "both ends up: carrier");
      rt.link.set(a, { up: false });
      assert.ok(!(await ipLink(a))?.flags.includes("UP"));
      assert.equal(rt.link.get(a).up, false);
      rt.link.set(a, { mtu: 9000 });
      assert.equal((await ipLink(a))?.mtu, 9000);
      rt.link.set(a, { mac: "02:00:5E:10:00:1A" });
      assert.equal((await ipLink(a))?.address, "02:00:5e:10:00:1a");
      const index = rt.link.get(a).index;
      rt.link.set(index, { mtu: 1280, up: true });
      const ia = await ipLink(a);
      assert.equal(ia?.mtu, 1280);
      assert.ok(ia?.flags.includes("UP"));
    });
  });

  it("renames a link, keeping its index", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const a = `${P}ra`, renamed = `${P}rz`;
      c.link(a);
      c.link(renamed);
      using rt = Rtnl.open();
      rt.link.add({ kind: "veth", name: a, peer: { name: `${P}rb` } });
      const index = rt.link.get(a).index;
      rt.link.set(a, { name: renamed, mtu: 1450 });
      assert.equal(await ipLink(a), undefined);
      const ir = await ipLink(renamed);
      assert.equal(ir?.ifindex, index);
      assert.equal(ir?.mtu, 1450);
      assert.equal(rt.link.get(index).name, renamed);
    });
  });

  it("enslaves to a bridge (master) and releases (nomaster)", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const br = `${P}mbr`, a = `${P}ka`, d = `${P}kc`;
      c.link(a);
      c.link(d);
      c.link(br);
      using rt = Rtnl.open();
      rt.link.add({ kind: "bridge", name: br });
      rt.link.add({ kind: "veth", name: a, peer: { name: `${P}kb` } });
      const brIndex = rt.link.get(br).index;
      rt.link.set(a, { master: br });
      assert.equal((await ipLink(a))?.master, br);
      assert.equal(rt.link.get(a).master, brIndex);
      rt.link.set(a, { master: null });
      assert.equal((await ipLink(a))?.master, undefined);
      assert.equal(rt.link.get(a).master, undefined);
      rt.link.set(a, { master: brIndex });
      assert.equal((await ipLink(a))?.master, br, "master by index");
      // master at creation
      rt.link.add({ kind: "veth", name: d, master: br, up: true, peer: { name: `${P}kd` } });
      const id = await ipLink(d);
      assert.equal(id?.master, br);
      assert.equal(id?.linkinfo?.info_slave_kind, "bridge");
      rt.link.del(br);
      assert.equal((await ipLink(a))?.master, undefined, "deleting the bridge releases ports");
    });
  });

  it("puts a bridge port in hairpin mode and out of it, with an alias in the same request", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const br = `${P}hbr`, a = `${P}ha`;
      c.link(a);
      c.link(br);
      using rt = Rtnl.open();
      rt.link.add({ kind: "bridge", name: br });
      rt.link.add({ kind: "veth", name: a, master: br, peer: { name: `${P}hb` } });
      const hairpin = async () => {
        const l = await ipLink(a) as { linkinfo?: { info_slave_data?: { hairpin?: boolean } } };
        return l?.linkinfo?.info_slave_data?.hairpin;
      };
      assert.equal(await hairpin(), false);
      rt.link.set(a, { alias: "nslink:test", hairpin: true });
      assert.equal(await hairpin(), true);
      assert.equal(rt.link.get(a).alias, "nslink:test");
      rt.link.set(a, { hairpin: false });
      assert.equal(await hairpin(), false);
      // Not a bridge port: the kernel refuses slave data for a link without a master.
      rt.link.set(a, { master: null });
      assert.throws(() => rt.link.set(a, { hairpin: true }), NetlinkError);
    });
  });
});

describe("Rtnl link: namespaces", () => {
  it("moves a link into a namespace (set netns)", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const nsName = `${P}mv`, a = `${P}xa`, b = `${P}xb`;
      c.netns(nsName);
      c.link(a);
      const ns = NetNs.create(nsName);
      c.close(ns);
      using rt = Rtnl.open();
      rt.link.add({ kind: "veth", name: a, peer: { name: b } });
      rt.link.set(b, { netns: ns });
      assert.equal(await ipLink(b), undefined, "gone from here");
      const moved = await ipLink(b, nsName);
      assert.equal(moved?.linkinfo?.info_kind, "veth");
      {
        using inside = Rtnl.open({ netns: ns });
        const lb = inside.link.get(b);
        assert.equal(lb.name, b);
        inside.link.set(b, { up: true, mtu: 1400 });
        assert.equal(rt.link.get(a).linkNetnsid !== undefined, true, "peer is now elsewhere");
        // and back again, by fd number
        const home = NetNs.current();
        try {
          inside.link.set(b, { netns: home.fd });
        } finally {
          home.close();
        }
      }
      const back = await ipLink(b);
      assert.equal(back?.mtu, 1400);
      assert.equal(await ipLink(b, nsName), undefined);
    });
  });

  it("creates a veth with its peer directly in a namespace", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const nsName = `${P}pn`, a = `${P}pa`;
      c.netns(nsName);
      c.link(a);
      const ns = NetNs.create(nsName);
      c.close(ns);
      using rt = Rtnl.open();
      rt.link.add({
        kind: "veth",
        name: a,
        up: true,
        peer: { name: "eth0", netns: ns, mtu: 1400, mac: "02:00:5e:10:00:2b" },
      });
      const peer = await ipLink("eth0", nsName);
      assert.equal(peer?.mtu, 1400);
      assert.equal(peer?.address, "02:00:5e:10:00:2b");
      assert.ok(!peer?.flags.includes("UP"));
      const ia = await ipLink(a);
      assert.equal(typeof ia?.link_netnsid, "number", "host end points into another netns");
      assert.equal(rt.link.get(a).linkNetnsid, ia?.link_netnsid);
      {
        using inside = Rtnl.open({ netns: ns });
        inside.link.set("eth0", { up: true });
        assert.equal(inside.link.get("eth0").parent, ia?.ifindex);
      }
      assert.ok((await ipLink("eth0", nsName))?.flags.includes("UP"));
      // Removing the namespace takes the peer, and with it the host end.
      ns.close();
      NetNs.remove(nsName);
      for (let i = 0; i < 60 && await ipLink(a); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(await ipLink(a), undefined, "host end goes with the namespace");
    });
  });
});

describe("Rtnl link: kernel errors", () => {
  it("EEXIST for a name in use, with op, object and errno text", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup((c) => {
      const a = `${P}ea`;
      c.link(a);
      using rt = Rtnl.open();
      rt.link.add({ kind: "veth", name: a, peer: { name: `${P}eb` } });
      assert.throws(
        () => rt.link.add({ kind: "veth", name: a, peer: { name: `${P}ec` } }),
        (e: unknown) => {
          assert.ok(e instanceof NetlinkError);
          assert.equal(e.code, "EEXIST");
          assert.equal(e.errno, 17);
          assert.equal(e.op, "RTM_NEWLINK");
          assert.equal(e.message, `RTM_NEWLINK veth "${a}": EEXIST (File exists)`);
          return true;
        },
      );
      assert.throws(
        () => rt.link.add({ kind: "bridge", name: a }),
        { name: "NetlinkError", code: "EEXIST" },
      );
    });
  });

  it("ENODEV for get, del and set of a missing link; find() gives undefined", {
    skip: SKIP_ROOT,
  }, () => {
    using rt = Rtnl.open();
    const missing = `${P}zz`;
    const enodev = (what: string) => (e: unknown) => {
      assert.ok(e instanceof NetlinkError, `${what}: ${e}`);
      assert.equal(e.code, "ENODEV");
      assert.ok(e.message.includes(`"${missing}"`), e.message);
      return true;
    };
    assert.throws(() => rt.link.get(missing), enodev("get"));
    assert.throws(() => rt.link.del(missing), enodev("del"));
    assert.throws(() => rt.link.set(missing, { up: true }), enodev("set"));
    assert.throws(() => rt.link.get(0x7ffffff0), { name: "NetlinkError", code: "ENODEV" });
    assert.equal(rt.link.find(missing), undefined);
    assert.throws(
      () => rt.link.add({ kind: "macvlan", name: `${P}zm`, parent: missing }),
      enodev("macvlan parent"),
    );
  });
});

describe("Rtnl link: bad input is refused before the kernel", () => {
  type Case = [string, (rt: Rtnl) => void, ErrorConstructor, string];
  const cases: Case[] = [
    [
      "a name of 16 bytes",
      (rt) => rt.link.add({ kind: "bridge", name: `${P}abcdefghi` }),
      RangeError,
      `"${P}abcdefghi"`,
    ],
    [
      "a name with a slash",
      (rt) => rt.link.add({ kind: "bridge", name: `${P}a/b` }),
      TypeError,
      `"${P}a/b"`,
    ],
    [
      "an MTU of 20",
      (rt) => rt.link.add({ kind: "bridge", name: `${P}q0`, mtu: 20 }),
      RangeError,
      `"20"`,
    ],
    [
      "a bad MAC",
      (rt) => rt.link.add({ kind: "bridge", name: `${P}q0`, mac: "02:00:zz:00:00:01" }),
      TypeError,
      `"02:00:zz:00:00:01"`,
    ],
    [
      "a multicast MAC",
      (rt) => rt.link.add({ kind: "bridge", name: `${P}q0`, mac: "01:00:5e:00:00:01" }),
      TypeError,
      `"01:00:5e:00:00:01"`,
    ],
    [
      "a bad peer MTU",
      (rt) => rt.link.add({ kind: "veth", name: `${P}q0`, peer: { name: `${P}q1`, mtu: 70000 } }),
      RangeError,
      `"70000"`,
    ],
    [
      "a bad peer name",
      (rt) => rt.link.add({ kind: "veth", name: `${P}q0`, peer: { name: "a b" } }),
      TypeError,
      `"a b"`,
    ],
    [
      "a VLAN id of 5000",
      (rt) => rt.link.add({ kind: "vlan", name: `${P}q0`, parent: "lo", id: 5000 }),
      RangeError,
      `"5000"`,
    ],
    [
      "a VNI of 2^24",
      (rt) => rt.link.add({ kind: "vxlan", name: `${P}q0`, vni: 0x1000000 }),
      RangeError,
      `"16777216"`,
    ],
    [
      "a bad vxlan local address",
      (rt) => rt.link.add({ kind: "vxlan", name: `${P}q0`, vni: 1, local: "198.51.100.256" }),
      TypeError,
      `"198.51.100.256"`,
    ],
    [
      "an unknown macvlan mode",
      (rt) =>
        rt.link.add({
          kind: "macvlan",
          name: `${P}q0`,
          parent: "lo",
          mode: "nope" as "bridge",
        }),
      TypeError,
      `"nope"`,
    ],
    [
      "an unknown kind",
      (rt) =>
        rt.link.add(
          { kind: "tun", name: `${P}q0` } as unknown as Parameters<Rtnl["link"]["add"]>[0],
        ),
      TypeError,
      `"tun"`,
    ],
    [
      "set() with a bad MTU",
      (rt) => rt.link.set("lo", { mtu: 1.5 }),
      RangeError,
      `"1.5"`,
    ],
    [
      "set() with a bad new name",
      (rt) => rt.link.set("lo", { name: "" }),
      RangeError,
      `""`,
    ],
    [
      "a negative index",
      (rt) => rt.link.del(-3),
      RangeError,
      `"-3"`,
    ],
    // A non-string value is quoted like every other (net/validate.ts once printed
    // "Invalid interface name undefined: expected a string").
    [
      "a name that is not a string",
      (rt) => rt.link.get(undefined as unknown as string),
      TypeError,
      `"undefined"`,
    ],
  ];
  for (const [what, fn, type, quoted] of cases) {
    it(`throws ${type.name} quoting the value for ${what}, and creates nothing`, {
      skip: SKIP_ROOT,
    }, async () => {
      const before = (await ipLinks()).map((l) => l.ifname).sort();
      using rt = Rtnl.open();
      assert.throws(() => fn(rt), (e: unknown) => {
        assert.ok(e instanceof type, `expected ${type.name}, got ${e}`);
        assert.ok(
          e.message.includes(quoted),
          `message ${JSON.stringify(e.message)} quotes ${quoted}`,
        );
        return true;
      });
      const now = (await ipLinks()).map((l) => l.ifname).sort();
      assert.deepEqual(now, before);
      assert.equal(rt.link.get("lo").mtu, 65536, "lo untouched");
    });
  }
});
