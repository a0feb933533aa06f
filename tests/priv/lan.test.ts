/**
 * Privileged tests of the macvlan and ipvlan drivers on a simulated LAN: the parent is one end
 * of a veth pair whose other end sits on a bridge in a namespace acting as the LAN's router
 * (198.51.100.254, 2001:db8:30::fe), with another LAN host behind it (198.51.100.200,
 * 2001:db8:30::c8). The host itself has 198.51.100.10 and 2001:db8:30::a on the parent, as a
 * machine on the LAN does. Kernel state is checked with `ip -j`.
 *
 * ipvlan and 802.1q are not in every kernel: their tests are skipped, with the reason, where
 * the kernel lacks them (a probe at registration time), and the refusal is tested there instead.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { gc, type Interface, type Network, type NetworkOptions, newNetwork } from "../../mod.ts";
import { kernelLacks } from "../../drivers/lan.ts";
import { LANHOST, LANHOST6, lanNames, ROUTER, ROUTER6 } from "./_lan.ts";
import {
  type Cleanup,
  exec,
  ipJson,
  type IpLink,
  linkKindSkip,
  SKIP_ROOT,
  withCleanup,
} from "./_helpers.ts";
import {
  assertNoPingReply,
  assertPing,
  bare,
  namespaceAt,
  ping,
  readRecord,
  setUpNetworkTestFile,
  stateFiles,
  tempStateDir,
} from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
const OPTS = { skip: SKIP_ROOT, timeout: 60_000 };
const { UP, LH, LAN, lan, sh } = lanNames(P);
const ipvlanSkip = SKIP_ROOT || ((await linkKindSkip("ipvlan", P)) && kernelLacks("ipvlan"));
const vlanSkip = SKIP_ROOT || ((await linkKindSkip("vlan", P)) && kernelLacks("vlan"));
async function network(
  c: Cleanup,
  type: "macvlan" | "ipvlan",
  name: string,
  options: NetworkOptions = {},
): Promise<{ net: Network; stateDir: string }> {
  const stateDir = tempStateDir();
  const net = await newNetwork(type, `${P}${name}`, { stateDir, ...LAN, ...options });
  c.defer("network.delete()", () => net.delete());
  return { net, stateDir };
}

/** Links `name` into a namespace of its own (the fast path); returns its interface. */
async function container(c: Cleanup, net: Network, name: string): Promise<Interface> {
  const ns = await namespaceAt(c, `/run/netns/${P}${name}`);
  const [iface] = await net.link(name, { namespace: ns });
  await ns.addInterface(iface);
  return iface;
}

function hostPing(address: string) {
  return exec(["ping", "-c1", "-W1", address]);
}

async function nsLinks(name: string): Promise<IpLink[]> {
  return await ipJson<IpLink[]>(["-n", name, "link", "show"]);
}

/** The links of nslink's LAN drivers on the host (container links before a move, shims). */
async function hostLanLinks(): Promise<string[]> {
  return (await ipJson<IpLink[]>(["link", "show"])).map((l) => l.ifname).filter((n) =>
    /^nsl[mv][0-9a-f]{8}$/.test(n)
  );
}

describe("macvlan network on a LAN", () => {
  it(
    "containers reach the router and a LAN host over IPv4 and IPv6 with their own MACs, from the range",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await lan(c);
        const { net } = await network(c, "macvlan", "mv1");
        const c1 = await container(c, net, "c1");
        const c2 = await container(c, net, "c2");
        assert.equal(bare(c1.address), "198.51.100.128");
        assert.equal(bare(c2.address), "198.51.100.129");
        const p1 = `/run/netns/${P}c1`;
        for (const to of [ROUTER, ROUTER6, LANHOST, LANHOST6]) await assertPing(p1, to);
        await assertPing(`/run/netns/${P}c2`, LANHOST);
        // The default routes go to the LAN's router.
        const routes = await ipJson<{ dst: string; gateway?: string }[]>([
          "-n",
          `${P}c1`,
          "route",
          "show",
          "default",
        ]);
        assert.deepEqual(routes.map((r) => r.gateway), [ROUTER]);
        // The LAN host sees each container's own MAC, the one the container's link has.
        const neigh = await ipJson<{ dst: string; lladdr?: string }[]>(["-n", LH, "neigh"]);
        for (const [name, iface] of [["c1", c1], ["c2", c2]] as const) {
          const [link] = await ipJson<IpLink[]>(["-n", `${P}${name}`, "link", "show", "eth0"]);
          assert.equal(link.address, iface.macAddress);
          const seen = neigh.find((n) => n.dst === bare(iface.address));
          assert.equal(seen?.lladdr, link.address, `${name}: ${JSON.stringify(neigh)}`);
        }
        assert.notEqual(c1.macAddress, c2.macAddress);
        // Bridge mode: the two containers talk.
        await assertPing(p1, bare(c2.address));
        await assertPing(p1, bare(c2.addressIPv6));
        // The host does not reach them (no hostAccess): a macvlan's parent never sees them.
        assertNoPingReply(await hostPing(bare(c1.address)), "host to c1 without hostAccess");
      });
    },
  );

  it("private mode: containers reach the LAN but not each other", OPTS, async () => {
    await withCleanup(async (c) => {
      await lan(c);
      const { net } = await network(c, "macvlan", "mv2", { mode: "private" });
      const c1 = await container(c, net, "c1");
      const c2 = await container(c, net, "c2");
      const p1 = `/run/netns/${P}c1`;
      await assertPing(p1, ROUTER);
      await assertPing(`/run/netns/${P}c2`, ROUTER);
      assertNoPingReply(await ping(p1, bare(c2.address), 1), "c1 to c2 in private mode");
      assert.ok(c1.address !== c2.address);
    });
  });

  it(
    "hostAccess: the host and its containers talk both ways; the shim goes with the network",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await lan(c);
        const { net } = await network(c, "macvlan", "mv3", { hostAccess: true });
        const c1 = await container(c, net, "c1");
        const p1 = `/run/netns/${P}c1`;
        const shims = await hostLanLinks();
        assert.equal(shims.length, 1, JSON.stringify(shims));
        const addrs = await ipJson<{ addr_info: { local: string }[] }[]>([
          "addr",
          "show",
          "dev",
          shims[0],
        ]);
        const mine = addrs[0].addr_info.map((a) => a.local);
        assert.ok(mine.includes("198.51.100.253"), JSON.stringify(mine));
        assert.ok(mine.includes("2001:db8:30:0:ffff:ffff:ffff:ffff"), JSON.stringify(mine));
        for (const a of [c1.address, c1.addressIPv6]) {
          const r = await hostPing(bare(a));
          assert.equal(r.code, 0, `host to ${a}: ${r.stdout}${r.stderr}`);
        }
        await assertPing(p1, "198.51.100.253");
        await assertPing(p1, "2001:db8:30:0:ffff:ffff:ffff:ffff");
        await assertPing(p1, ROUTER);
        // The shim's addresses are never a container's.
        await assert.rejects(net.link("c9", { address: "198.51.100.253" }), {
          message: `Address "198.51.100.253" is the host's (hostAccess) on network "${P}mv3"`,
        });
        await net.unlink("c1");
        const routes = await ipJson<{ dst: string }[]>(["route", "show", "dev", shims[0]]);
        assert.deepEqual(routes, [], "the route to c1 goes with it");
        await net.delete();
        assert.deepEqual(await hostLanLinks(), []);
      });
    },
  );

  it(
    "gc looks inside namespaces: keeps live endpoints, collects gone ones; kill -9 during link leaves nothing",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await lan(c);
        const { net, stateDir } = await network(c, "macvlan", "mv4");
        const c1 = await container(c, net, "c1");
        // A live fast-path endpoint: its macvlan exists only in its namespace, not on the host.
        let report = await gc({ stateDir });
        assert.deepEqual(report.endpoints, []);
        await assertPing(`/run/netns/${P}c1`, ROUTER);
        // A namespace deleted without unlink: gc frees its endpoint.
        const c2 = await container(c, net, "c2");
        await sh("ip", "netns", "del", `${P}c2`);
        report = await gc({ stateDir });
        assert.deepEqual(report.endpoints, [`${P}mv4/c2 (kernel objects gone)`]);
        assert.deepEqual(
          report.addresses.sort(),
          [
            `${P}mv4/${bare(c2.address)} (c2)`,
            `${P}mv4/${bare(c2.addressIPv6)} (c2)`,
          ].sort(),
        );
        // kill -9 right after the kernel made the macvlan inside the namespace.
        const path = `/run/netns/${P}k1`;
        c.netns(path);
        const worker = join(dirname(fileURLToPath(import.meta.url)), "_lan_kill_worker.ts");
        const argv = "Bun" in globalThis
          ? [worker, stateDir, `${P}mv4`, path, "k1"]
          : ["run", "-A", worker, stateDir, `${P}mv4`, path, "k1"];
        const exit = await new Promise<string | null>((resolve) => {
          const child = spawn(process.execPath, argv, { stdio: "inherit" });
          child.on("exit", (_code, signal) => resolve(signal));
        });
        assert.equal(exit, "SIGKILL");
        const before = (await nsLinks(`${P}k1`)).filter((l) => l.ifname !== "lo");
        assert.equal(before.length, 1, "the killed link left its macvlan in the namespace");
        assert.equal(readRecord(stateDir, `${P}mv4`)?.endpoints.k1?.state, "creating");
        report = await gc({ stateDir });
        assert.deepEqual(report.endpoints, [`${P}mv4/k1 (interrupted link)`]);
        assert.deepEqual((await nsLinks(`${P}k1`)).map((l) => l.ifname), ["lo"]);
        assert.deepEqual(Object.keys(readRecord(stateDir, `${P}mv4`)?.endpoints ?? {}), ["c1"]);
        assert.deepEqual(await hostLanLinks(), []);
        // Its addresses are free again: the next container gets the first of the range after c1.
        const c3 = await container(c, net, "c3");
        assert.equal(bare(c3.address), "198.51.100.129");
        assert.ok(c1.address);
      });
    },
  );

  it(
    "teardown: delete() removes the links inside the namespaces and leaves nothing",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await lan(c);
        const { net, stateDir } = await network(c, "macvlan", "mv5");
        await container(c, net, "c1");
        await container(c, net, "c2");
        await net.unlink("c2");
        assert.deepEqual((await nsLinks(`${P}c2`)).map((l) => l.ifname), ["lo"]);
        await net.delete();
        assert.deepEqual((await nsLinks(`${P}c1`)).map((l) => l.ifname), ["lo"]);
        assert.deepEqual(await hostLanLinks(), []);
        assert.equal(readRecord(stateDir, `${P}mv5`), undefined);
        assert.deepEqual(stateFiles(stateDir), []);
      });
    },
  );

  it("the seed path: the link is made on the host and moved into the namespace", OPTS, async () => {
    await withCleanup(async (c) => {
      await lan(c);
      const { net, stateDir } = await network(c, "macvlan", "mv6");
      const [iface] = await net.link("c1");
      assert.deepEqual(await hostLanLinks(), [iface.srcName]);
      const ns = await namespaceAt(c, `/run/netns/${P}c1`);
      await ns.addInterface(iface);
      assert.deepEqual(await hostLanLinks(), []);
      await assertPing(`/run/netns/${P}c1`, LANHOST6);
      assert.deepEqual((await gc({ stateDir })).endpoints, []);
      await net.unlink("c1");
      assert.deepEqual((await nsLinks(`${P}c1`)).map((l) => l.ifname), ["lo"]);
    });
  });

  it(
    "internal: an isolated segment among the containers on a port-less bridge of its own",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await lan(c);
        const stateDir = tempStateDir();
        const net = await newNetwork("macvlan", `${P}mv7`, {
          stateDir,
          internal: true,
          subnet: "198.51.100.0/24",
        });
        c.defer("network.delete()", () => net.delete());
        const parent = (await ipJson<IpLink[]>(["-d", "link", "show"])).find((l) =>
          /^nslv[0-9a-f]{8}$/.test(l.ifname)
        );
        assert.equal(parent?.linkinfo?.info_kind, "bridge");
        const c1 = await container(c, net, "c1");
        const c2 = await container(c, net, "c2");
        assert.equal(c1.gateway, "");
        await assertPing(`/run/netns/${P}c1`, bare(c2.address));
        assertNoPingReply(await ping(`/run/netns/${P}c1`, ROUTER, 1), "internal to the LAN");
        await net.delete();
        assert.deepEqual(await hostLanLinks(), []);
      });
    },
  );
});

describe("macvlan and ipvlan refusals, before anything is made", () => {
  it(
    "parent missing, down, a bridge port; conflicting modes; ports and masquerade",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await lan(c);
        const stateDir = tempStateDir();
        const make = (type: string, name: string, o: NetworkOptions) =>
          newNetwork(type, `${P}${name}`, { stateDir, subnet: "203.0.113.0/24", ...o });
        await assert.rejects(make("macvlan", "r1", { parent: `${P}none` }), {
          message: `Parent "${P}none" does not exist on the host`,
        });
        await assert.rejects(make("macvlan", "r1", {}), /needs "parent"/);
        c.link(`${P}dn`);
        await sh("ip", "link", "add", `${P}dn`, "type", "veth", "peer", "name", `${P}dn1`);
        await assert.rejects(make("macvlan", "r1", { parent: `${P}dn` }), {
          message: `Parent "${P}dn" is down: bring it up first`,
        });
        c.link(`${P}br`);
        await sh("ip", "link", "add", `${P}br`, "type", "bridge");
        await sh("ip", "link", "set", `${P}dn`, "master", `${P}br`, "up");
        await assert.rejects(make("macvlan", "r1", { parent: `${P}dn` }), {
          message: new RegExp(`Parent "${P}dn" is a port of bridge "${P}br"`),
        });
        const a = await make("macvlan", "r2", { parent: UP, mode: "bridge" });
        c.defer("delete r2", () => a.delete());
        await assert.rejects(
          make("macvlan", "r3", { parent: UP, mode: "private", subnet: "198.51.100.0/24" }),
          {
            message: new RegExp(
              `Parent "${UP}" is used by another nslink network as macvlan mode bridge`,
            ),
          },
        );
        await assert.rejects(make("macvlan", "r3", { parent: UP, masquerade: true }), /masquerade/);
        // A macvlan made by hand on a parent keeps ipvlan networks off it (on any kernel).
        c.link(`${P}hp`);
        await sh("ip", "link", "add", `${P}hp`, "type", "veth", "peer", "name", `${P}hp1`);
        await sh("ip", "link", "set", `${P}hp`, "up");
        await sh("ip", "link", "add", "link", `${P}hp`, "name", `${P}hm`, "type", "macvlan");
        await assert.rejects(
          make("ipvlan", "r4", { parent: `${P}hp`, subnet: "198.51.100.0/24" }),
          {
            message: `Parent "${P}hp" has macvlan links (${P}hm): ipvlan networks cannot share it`,
          },
        );
        await assert.rejects(a.link("c1", { ports: [{ hostPort: 8080, port: 80 }] }), {
          message:
            `Network "${P}r2" (macvlan) cannot publish ports: only bridge and overlay networks can`,
        });
        // Nothing was made for the refused ones.
        assert.deepEqual(stateFiles(stateDir), [`networks/${P}r2.json`]);
        assert.deepEqual(await hostLanLinks(), []);
      });
    },
  );

  it(
    "ipvlan on a kernel without it is refused in newNetwork, naming CONFIG_IPVLAN",
    { ...OPTS, skip: SKIP_ROOT || (ipvlanSkip === false && "the kernel has ipvlan") },
    async () => {
      await withCleanup(async (c) => {
        await lan(c);
        const stateDir = tempStateDir();
        await assert.rejects(
          newNetwork("ipvlan", `${P}iv0`, { stateDir, ...LAN, mode: "l2" }),
          { message: "the kernel has no ipvlan support (CONFIG_IPVLAN)" },
        );
        assert.deepEqual(stateFiles(stateDir), []);
      });
    },
  );

  it(
    "a dotted parent on a kernel without 802.1q is refused in newNetwork, naming CONFIG_VLAN_8021Q",
    { ...OPTS, skip: SKIP_ROOT || (vlanSkip === false && "the kernel has 802.1q") },
    async () => {
      await withCleanup(async (c) => {
        await lan(c);
        const stateDir = tempStateDir();
        await assert.rejects(
          newNetwork("macvlan", `${P}vl0`, { stateDir, ...LAN, parent: `${UP}.50` }),
          {
            message: `Parent "${UP}.50": the kernel has no 802.1q VLAN support (CONFIG_VLAN_8021Q)`,
          },
        );
        const names = (await ipJson<IpLink[]>(["link", "show"])).map((l) => l.ifname);
        assert.ok(!names.includes(`${UP}.50`));
      });
    },
  );
});

describe("ipvlan network and dotted parents (where the kernel has them)", () => {
  it("ipvlan l2: containers reach the LAN and each other, share the parent's MAC; hostAccess", {
    ...OPTS,
    skip: ipvlanSkip,
  }, async () => {
    await withCleanup(async (c) => {
      await lan(c);
      const { net } = await network(c, "ipvlan", "iv1", { mode: "l2", hostAccess: true });
      const c1 = await container(c, net, "c1");
      const c2 = await container(c, net, "c2");
      const p1 = `/run/netns/${P}c1`;
      for (const to of [ROUTER, ROUTER6, LANHOST, bare(c2.address)]) await assertPing(p1, to);
      const [parent] = await ipJson<IpLink[]>(["link", "show", UP]);
      const [link] = await ipJson<IpLink[]>(["-n", `${P}c1`, "link", "show", "eth0"]);
      assert.equal(link.address, parent.address);
      const r = await hostPing(bare(c1.address));
      assert.equal(r.code, 0, r.stdout + r.stderr);
      // A macvlan network cannot share an ipvlan parent, and the other way round.
      await assert.rejects(
        newNetwork("macvlan", `${P}mv9`, {
          stateDir: tempStateDir(),
          parent: UP,
          subnet: "203.0.113.0/24",
        }),
        /has ipvlan links/,
      );
      await net.delete();
      assert.deepEqual(await hostLanLinks(), []);
    });
  });

  it("a dotted parent makes the 802.1q sub-interface and removes it with the network", {
    ...OPTS,
    skip: vlanSkip,
  }, async () => {
    await withCleanup(async (c) => {
      await lan(c);
      c.link(`${UP}.50`);
      const { net } = await network(c, "macvlan", "vl1", { parent: `${UP}.50` });
      const [vlan] = await ipJson<IpLink[]>(["-d", "link", "show", `${UP}.50`]);
      assert.equal(vlan.linkinfo?.info_kind, "vlan");
      assert.equal((vlan.linkinfo?.info_data as { id?: number })?.id, 50);
      await container(c, net, "c1");
      await assert.rejects(
        newNetwork("macvlan", `${P}vl2`, {
          stateDir: tempStateDir(),
          parent: `${UP}.50`,
          subnet: "203.0.113.0/24",
        }),
        { message: `Parent "${UP}.50" was made by another nslink network (and goes with it)` },
      );
      await net.delete();
      const names = (await ipJson<IpLink[]>(["link", "show"])).map((l) => l.ifname);
      assert.ok(!names.includes(`${UP}.50`));
    });
  });
});
