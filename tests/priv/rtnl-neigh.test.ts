/**
 * Privileged tests of `Rtnl#neigh` and `Rtnl#fdb`: a vxlan device as the overlay driver makes it
 * (learning off, ARP/NDP proxy on, on a bridge), permanent IPv4/IPv6 neighbour entries and FDB
 * entries towards a remote tunnel endpoint — checked against `ip -j neigh` and `bridge -j fdb`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import $ from "dax-sh";
import { NetlinkError, Rtnl } from "../../mod.ts";
import {
  assertNoLeftovers,
  type Cleanup,
  ipJson,
  isRoot,
  runId,
  SKIP_ROOT,
  withCleanup,
} from "./_helpers.ts";

const P = runId();
const MAC = "02:42:cb:00:71:03";

after(async () => {
  if (isRoot) await assertNoLeftovers(P);
});

interface IpNeigh {
  dst: string;
  dev: string;
  lladdr?: string;
  state?: string[];
}
interface BridgeFdb {
  mac: string;
  ifname: string;
  dst?: string;
  flags?: string[];
  state?: string;
}

async function bridgeFdb(ns: string, dev: string): Promise<BridgeFdb[]> {
  const r = await $`bridge -n ${ns} -j fdb show dev ${dev}`.stdout("piped");
  const text = r.stdout.trim();
  return text === "" ? [] : JSON.parse(text);
}

function setup(c: Cleanup, suffix: string): { name: string; rt: Rtnl } {
  const name = `${P}${suffix}`;
  const ns = c.namespace(name);
  const rt = Rtnl.open({ netns: ns });
  c.close(rt);
  rt.link.add({ kind: "bridge", name: "br0", up: true });
  rt.link.add({
    kind: "vxlan",
    name: "vx0",
    vni: 42,
    port: 4789,
    local: "198.51.100.11",
    learning: false,
    proxy: true,
  });
  rt.link.set("vx0", { master: "br0", up: true });
  return { name, rt };
}

describe("Rtnl neigh and fdb on a vxlan device", () => {
  it("the vxlan device has learning off and proxy on", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const { name } = setup(c, "v");
      const [l] = await ipJson<
        { linkinfo: { info_data: { learning: boolean; proxy: boolean; port: number } } }[]
      >(["-n", name, "-d", "link", "show", "vx0"]);
      assert.equal(l.linkinfo.info_data.learning, false);
      assert.equal(l.linkinfo.info_data.proxy, true);
      assert.equal(l.linkinfo.info_data.port, 4789);
    });
  });

  it("adds, lists, replaces and deletes permanent IPv4 and IPv6 neighbours", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const { name, rt } = setup(c, "n");
      rt.neigh.add({ dev: "vx0", address: "203.0.113.3", lladdr: MAC });
      rt.neigh.add({ dev: "vx0", address: "2001:db8:20::3", lladdr: MAC });
      // (the kernel may add noarp multicast entries of its own: only permanent ones are ours)
      const seen = (await ipJson<IpNeigh[]>(["-n", name, "neigh", "show", "dev", "vx0"]))
        .filter((n) => n.state?.includes("PERMANENT"));
      assert.deepEqual(
        seen.map((n) => `${n.dst} ${n.lladdr} ${n.state?.join(",")}`).sort(),
        [`2001:db8:20::3 ${MAC} PERMANENT`, `203.0.113.3 ${MAC} PERMANENT`],
      );
      const mine = rt.neigh.list({ dev: "vx0" }).filter((n) => n.state.includes("permanent"));
      assert.deepEqual(mine.map((n) => `${n.family} ${n.address} ${n.lladdr} ${n.state}`).sort(), [
        `4 203.0.113.3 ${MAC} permanent`,
        `6 2001:db8:20::3 ${MAC} permanent`,
      ]);
      assert.deepEqual(
        rt.neigh.list({ dev: "vx0", family: 6 }).filter((n) => n.state.includes("permanent"))
          .map((n) => n.address),
        ["2001:db8:20::3"],
      );
      // add twice: EEXIST; replace: fine
      assert.throws(
        () => rt.neigh.add({ dev: "vx0", address: "203.0.113.3", lladdr: MAC }),
        (e: unknown) => e instanceof NetlinkError && e.code === "EEXIST",
      );
      rt.neigh.replace({ dev: "vx0", address: "203.0.113.3", lladdr: "02:42:cb:00:71:09" });
      assert.equal(
        rt.neigh.list({ dev: "vx0", family: 4 })[0].lladdr,
        "02:42:cb:00:71:09",
      );
      rt.neigh.del({ dev: "vx0", address: "203.0.113.3" });
      rt.neigh.del({ dev: "vx0", address: "2001:db8:20::3" });
      assert.deepEqual(
        (await ipJson<IpNeigh[]>(["-n", name, "neigh", "show", "dev", "vx0"]))
          .filter((n) => n.state?.includes("PERMANENT")),
        [],
      );
      assert.throws(
        () => rt.neigh.del({ dev: "vx0", address: "203.0.113.3" }),
        (e: unknown) =>
          e instanceof NetlinkError && e.code === "ENOENT" && /203\.0\.113\.3/.test(e.message),
      );
    });
  });

  it("adds, lists, replaces and deletes FDB entries towards remote VTEPs", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const { name, rt } = setup(c, "f");
      rt.fdb.add({ dev: "vx0", lladdr: MAC, dst: "198.51.100.12" });
      rt.fdb.add({ dev: "vx0", lladdr: "02:42:cb:00:71:04", dst: "198.51.100.14" });
      let seen = (await bridgeFdb(name, "vx0")).filter((e) => e.dst);
      assert.deepEqual(seen.map((e) => `${e.mac} ${e.dst} ${e.state}`).sort(), [
        `${MAC} 198.51.100.12 permanent`,
        `02:42:cb:00:71:04 198.51.100.14 permanent`,
      ]);
      const mine = rt.fdb.list({ dev: "vx0" }).filter((e) => e.dst);
      assert.deepEqual(mine.map((e) => `${e.lladdr} ${e.dst}`).sort(), [
        `${MAC} 198.51.100.12`,
        `02:42:cb:00:71:04 198.51.100.14`,
      ]);
      assert.ok(mine.every((e) => e.state.includes("permanent") && (e.flags & 2) === 2));
      assert.throws(
        () => rt.fdb.add({ dev: "vx0", lladdr: MAC, dst: "198.51.100.12" }),
        (e: unknown) => e instanceof NetlinkError && e.code === "EEXIST",
      );
      // an IPv4 tunnel cannot send to an IPv6 VTEP: the kernel's error, named
      assert.throws(
        () => rt.fdb.add({ dev: "vx0", lladdr: MAC, dst: "2001:db8:10::13" }),
        (e: unknown) =>
          e instanceof NetlinkError && e.code === "EAFNOSUPPORT" &&
          /RTM_NEWNEIGH fdb 02:42:cb:00:71:03 dev "vx0" dst 2001:db8:10::13/.test(e.message),
      );
      // replace moves the MAC to another VTEP
      rt.fdb.replace({ dev: "vx0", lladdr: MAC, dst: "198.51.100.13" });
      seen = (await bridgeFdb(name, "vx0")).filter((e) => e.mac === MAC);
      assert.deepEqual(seen.map((e) => e.dst), ["198.51.100.13"]);
      rt.fdb.del({ dev: "vx0", lladdr: MAC, dst: "198.51.100.13" });
      rt.fdb.del({ dev: "vx0", lladdr: "02:42:cb:00:71:04", dst: "198.51.100.14" });
      assert.deepEqual((await bridgeFdb(name, "vx0")).filter((e) => e.dst), []);
      assert.throws(
        () => rt.fdb.del({ dev: "vx0", lladdr: MAC, dst: "198.51.100.13" }),
        (e: unknown) => e instanceof NetlinkError && /RTM_DELNEIGH/.test(e.message),
      );
    });
  });

  it("batches FDB and neighbour entries in one sendmsg", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const { name, rt } = setup(c, "b");
      const vx = rt.link.index("vx0");
      const errors = rt.batch((b) => {
        for (let i = 2; i < 12; i++) {
          const mac = `02:42:cb:00:71:${i.toString(16).padStart(2, "0")}`;
          b.fdb.add({ dev: vx, lladdr: mac, dst: "198.51.100.12" });
          b.neigh.add({ dev: vx, address: `203.0.113.${i}`, lladdr: mac });
        }
      });
      assert.deepEqual(errors.filter(Boolean), []);
      assert.equal((await bridgeFdb(name, "vx0")).filter((e) => e.dst).length, 10);
      assert.equal(
        (await ipJson<IpNeigh[]>(["-n", name, "neigh", "show", "dev", "vx0"]))
          .filter((n) => n.state?.includes("PERMANENT")).length,
        10,
      );
    });
  });
});
