/**
 * Privileged test of a VXLAN overlay over an IPv6 underlay, made only with nslink's rtnl API (the
 * kernel part an overlay driver needs): two namespaces as "hosts" joined by a veth that carries
 * IPv6 only (2001:db8:10::11/64 and ::12/64, nodad); on each, a bridge and a VXLAN device whose
 * tunnel endpoint is the host's IPv6 address (`IFLA_VXLAN_LOCAL6`), FDB entries (the flood list
 * and one per remote MAC) and neighbour entries pointing at the other host, and a container
 * namespace on the bridge. The containers reach each other over IPv4 and IPv6 overlay addresses;
 * `ip -j -d link show` and `bridge -j fdb show` check the kernel independently.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import $ from "dax-sh";
import { NetlinkError, NetNs, Rtnl, vxlanOverhead } from "../../mod.ts";
import {
  assertNoLeftovers,
  type Cleanup,
  exec,
  ipJson,
  isRoot,
  runId,
  SKIP_ROOT,
  withCleanup,
} from "./_helpers.ts";

const P = runId();
const ZERO = "00:00:00:00:00:00";
const VNI = 42;
const MTU = 1500 - vxlanOverhead(6); // 1430

after(async () => {
  if (isRoot) await assertNoLeftovers(P);
});

interface Host {
  /** The host namespace's name. */
  ns: string;
  rt: Rtnl;
  /** The underlay (tunnel endpoint) address. */
  underlay: string;
  container: { ns: string; mac: string; v4: string; v6: string };
}

interface BridgeFdb {
  mac: string;
  ifname: string;
  dst?: string;
  state?: string;
}

async function bridgeFdb(ns: string, dev: string): Promise<BridgeFdb[]> {
  const r = await $`bridge -n ${ns} -j fdb show dev ${dev}`.stdout("piped");
  const text = r.stdout.trim();
  return text === "" ? [] : JSON.parse(text);
}

/** Two host namespaces joined by an IPv6-only veth: `ul0` on each side. */
function underlay(c: Cleanup): [Host, Host] {
  const hosts: Host[] = [
    {
      ns: `${P}ha`,
      underlay: "2001:db8:10::11",
      container: {
        ns: `${P}ca`,
        mac: "02:42:c6:33:64:02",
        v4: "198.51.100.2",
        v6: "2001:db8:20::2",
      },
    },
    {
      ns: `${P}hb`,
      underlay: "2001:db8:10::12",
      container: {
        ns: `${P}cb`,
        mac: "02:42:c6:33:64:03",
        v4: "198.51.100.3",
        v6: "2001:db8:20::3",
      },
    },
  ].map((h) => {
    const ns = c.namespace(h.ns);
    const rt = Rtnl.open({ netns: ns });
    c.close(rt);
    rt.link.set("lo", { up: true });
    return { ...h, rt };
  });
  const [a, b] = hosts;
  using nsB = NetNs.open(b.ns);
  a.rt.link.add({ kind: "veth", name: "ul0", peer: { name: "ul0", netns: nsB } });
  for (const h of hosts) {
    h.rt.addr.add("ul0", `${h.underlay}/64`, { nodad: true });
    h.rt.link.set("ul0", { up: true });
  }
  return [a, b];
}

/** The overlay's kernel part on one host, as a driver makes it: bridge, VXLAN over IPv6. */
function overlayDevices(h: Host): void {
  h.rt.link.add({ kind: "bridge", name: "br0", mtu: MTU, up: true });
  h.rt.link.add({
    kind: "vxlan",
    name: "vx0",
    vni: VNI,
    port: 4789,
    local: h.underlay,
    learning: false,
    proxy: true,
    mtu: MTU,
  });
  h.rt.link.set("vx0", { master: "br0", up: true });
}

/** A container namespace on the host's bridge. */
function container(c: Cleanup, h: Host): void {
  const ns = c.namespace(h.container.ns);
  h.rt.link.add({
    kind: "veth",
    name: "ve0",
    mtu: MTU,
    up: true,
    master: "br0",
    peer: { name: "eth0", netns: ns, mtu: MTU, mac: h.container.mac },
  });
  using inside = Rtnl.open({ netns: ns });
  inside.link.set("lo", { up: true });
  inside.link.set("eth0", { up: true });
  inside.addr.add("eth0", `${h.container.v4}/24`);
  inside.addr.add("eth0", `${h.container.v6}/64`, { nodad: true });
}

/** On `h`, what an overlay's watcher installs for the other host's container. */
function pointAt(h: Host, other: Host): void {
  h.rt.fdb.append({ dev: "vx0", lladdr: ZERO, dst: other.underlay });
  h.rt.fdb.replace({ dev: "vx0", lladdr: other.container.mac, dst: other.underlay });
  h.rt.neigh.replace({ dev: "vx0", address: other.container.v4, lladdr: other.container.mac });
  h.rt.neigh.replace({ dev: "vx0", address: other.container.v6, lladdr: other.container.mac });
}

async function ping(from: string, to: string): Promise<void> {
  const r = await exec(["ip", "netns", "exec", from, "ping", "-c1", "-W2", to]);
  assert.equal(r.code, 0, `ping ${to} from ${from}: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /1 received/);
}

describe("VXLAN over an IPv6 underlay, made with nslink's rtnl API", () => {
  it("containers on two hosts reach each other over IPv4 and IPv6 through VXLAN over IPv6", {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    await withCleanup(async (c) => {
      const [a, b] = underlay(c);
      for (const h of [a, b]) {
        overlayDevices(h);
        container(c, h);
      }
      pointAt(a, b);
      pointAt(b, a);

      // the kernel's view, independently: the tunnel endpoint is IPv6 (local6), no IPv4 local
      for (const h of [a, b]) {
        const [l] = await ipJson<
          { linkinfo: { info_kind: string; info_data: Record<string, unknown> } }[]
        >(["-n", h.ns, "-d", "link", "show", "vx0"]);
        assert.equal(l.linkinfo.info_kind, "vxlan");
        assert.equal(l.linkinfo.info_data.local6, h.underlay);
        assert.equal(l.linkinfo.info_data.local, undefined);
        assert.equal(l.linkinfo.info_data.id, VNI);
        assert.equal(l.linkinfo.info_data.port, 4789);
        assert.equal(l.linkinfo.info_data.learning, false);
        assert.equal(l.linkinfo.info_data.proxy, true);
        // and nslink decodes the same from its own dump
        const mine = h.rt.link.list().find((x) => x.name === "vx0");
        assert.equal(mine?.data?.local6, h.underlay);
      }
      // the FDB entries point at the other host's IPv6 address
      const other = new Map([[a, b], [b, a]]);
      for (const [h, o] of other) {
        const seen = (await bridgeFdb(h.ns, "vx0")).filter((e) => e.dst);
        assert.deepEqual(
          seen.map((e) => `${e.mac} ${e.dst}`).sort(),
          [
            `${ZERO} ${o.underlay}`,
            `${o.container.mac} ${o.underlay}`,
          ].sort(),
        );
        const listed = h.rt.fdb.list({ dev: "vx0" }).filter((e) => e.dst);
        assert.deepEqual(
          listed.map((e) => `${e.lladdr} ${e.dst}`).sort(),
          [
            `${ZERO} ${o.underlay}`,
            `${o.container.mac} ${o.underlay}`,
          ].sort(),
        );
      }
      // the underlay carries no IPv4 at all: only VXLAN over IPv6 joins the containers
      for (const h of [a, b]) {
        assert.deepEqual(
          h.rt.addr.list({ family: 4 }).filter((x) => x.address !== "127.0.0.1"),
          [],
        );
      }
      for (const [from, to] of [[a, b], [b, a]]) {
        await ping(from.container.ns, to.container.v4);
        await ping(from.container.ns, to.container.v6);
      }
      // without its FDB entries the other container is unreachable: the path is the tunnel
      a.rt.fdb.del({ dev: "vx0", lladdr: b.container.mac, dst: b.underlay });
      a.rt.fdb.del({ dev: "vx0", lladdr: ZERO, dst: b.underlay });
      const r = await exec([
        "ip",
        "netns",
        "exec",
        a.container.ns,
        "ping",
        "-c1",
        "-W1",
        b.container.v4,
      ]);
      assert.notEqual(r.code, 0, "reached the other container without an FDB entry");
      pointAt(a, b);
      await ping(a.container.ns, b.container.v4);
    });
  });

  it(
    "the flood list holds one all-zero entry per remote host; append() twice is a no-op; del() removes one by dst",
    {
      skip: SKIP_ROOT,
    },
    async () => {
      await withCleanup(async (c) => {
        const [a] = underlay(c);
        overlayDevices(a);
        for (const dst of ["2001:db8:10::12", "2001:db8:10::13", "2001:db8:10::14"]) {
          a.rt.fdb.append({ dev: "vx0", lladdr: ZERO, dst });
        }
        const flood = async () =>
          (await bridgeFdb(a.ns, "vx0")).filter((e) => e.mac === ZERO).map((e) => e.dst).sort();
        assert.deepEqual(await flood(), ["2001:db8:10::12", "2001:db8:10::13", "2001:db8:10::14"]);
        // appending a host that is already listed changes nothing (the kernel answers 0): a
        // watcher may re-apply its entries after a resync
        a.rt.fdb.append({ dev: "vx0", lladdr: ZERO, dst: "2001:db8:10::13" });
        assert.deepEqual(await flood(), ["2001:db8:10::12", "2001:db8:10::13", "2001:db8:10::14"]);
        a.rt.fdb.del({ dev: "vx0", lladdr: ZERO, dst: "2001:db8:10::13" });
        assert.deepEqual(await flood(), ["2001:db8:10::12", "2001:db8:10::14"]);
      });
    },
  );

  it("mixing IPv4 and IPv6 is refused: a clear TypeError before the kernel, or its named error", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const [a] = underlay(c);
      overlayDevices(a);
      // local IPv6 with an IPv4 group: nothing is created
      assert.throws(
        () =>
          a.rt.link.add({
            kind: "vxlan",
            name: "vx1",
            vni: 43,
            local: a.underlay,
            group: "239.1.1.1",
            parent: "ul0",
          }),
        (e: unknown) =>
          e instanceof TypeError && /Invalid VXLAN option "group" "239\.1\.1\.1"/.test(e.message) &&
          /"local" "2001:db8:10::11" is IPv6/.test(e.message),
      );
      assert.throws(
        () =>
          a.rt.link.add({
            kind: "vxlan",
            name: "vx1",
            vni: 43,
            local: "198.51.100.11",
            group: "ff05::42",
          }),
        (e: unknown) =>
          e instanceof TypeError && /"group" "ff05::42": an IPv6 address/.test(e.message),
      );
      assert.equal(a.rt.link.find("vx1"), undefined);
      // an IPv4 tunnel endpoint on an IPv6 device: the kernel's EAFNOSUPPORT, naming the entry
      assert.throws(
        () => a.rt.fdb.append({ dev: "vx0", lladdr: ZERO, dst: "198.51.100.12" }),
        (e: unknown) =>
          e instanceof NetlinkError && e.code === "EAFNOSUPPORT" &&
          /RTM_NEWNEIGH fdb 00:00:00:00:00:00 dev "vx0" dst 198\.51\.100\.12/.test(e.message),
      );
      assert.deepEqual((await bridgeFdb(a.ns, "vx0")).filter((e) => e.dst), []);
    });
  });
});
