/**
 * Privileged tests of the libnetwork API's main flows, checked from the kernel with `ip -j`:
 * the seed path (link, then addInterface moves, renames, configures) and the fast path (the
 * container end is born in its namespace), pings over IPv4 and IPv6, two networks side by side,
 * one namespace on two networks, and the null and host drivers.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import {
  type Interface,
  listNetworks,
  type NetworkRecord,
  newNetwork,
  newNetworkNamespace,
} from "../../mod.ts";
import { shortHash } from "../../drivers/bridge.ts";
import { ipAddrs, ipLink, ipLinks, ipRoutes, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  assertConfigured,
  assertNoPingReply,
  assertPing,
  bare,
  bridgeNetwork,
  bridgePorts,
  cleanupNewVeths,
  linkNames,
  namespaceAt,
  nsLinkNames,
  nsName,
  ping,
  readRecord,
  setUpNetworkTestFile,
  stateFile,
  tempStateDir,
} from "./_network_helpers.ts";

const P = setUpNetworkTestFile().prefix;

const OPTS = { skip: SKIP_ROOT, timeout: 30_000 };

describe("bridge network: the seed path (link, then addInterface)", () => {
  it(
    "makes the bridge, the veth pairs and configures two namespaces that ping each other",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const br = `${P}br`;
        const { network, stateDir } = await bridgeNetwork(c, `${P}-seed`, br, {
          subnet: "198.51.100.0/24",
          subnetIPv6: "2001:db8:1::/64",
          mtu: 1450,
        });
        assert.equal(network.name, `${P}-seed`);
        assert.equal(network.type, "bridge");
        assert.match(network.id, /^[0-9a-f]{12}$/);
        assert.equal(network.subnet, "198.51.100.0/24");
        assert.equal(network.gateway, "198.51.100.1");
        assert.equal(network.subnetIPv6, "2001:db8:1::/64");
        assert.equal(network.gatewayIPv6, "2001:db8:1::1");
        assert.equal(network.config.bridgeName, br);
        assert.equal(network.config.mtu, 1450);
        assert.deepEqual(network.endpoints(), []);
        assert.ok(existsSync(stateFile(stateDir, network.name)));
        assert.deepEqual(listNetworks({ stateDir }), [network.name]);

        // The bridge: up, MTU, the gateway addresses.
        const bridge = await ipLink(br);
        assert.equal(bridge?.linkinfo?.info_kind, "bridge");
        assert.ok(bridge.flags.includes("UP"), `bridge not up: ${bridge.flags}`);
        assert.equal(bridge.mtu, 1450);
        const brAddrs = (await ipAddrs(br)).filter((a) => a.scope === "global");
        assert.deepEqual(
          brAddrs.map((a) => `${a.local}/${a.prefixlen}`).sort(),
          ["198.51.100.1/24", "2001:db8:1::1/64"],
        );

        const added: Interface[] = [];
        const paths = [`/run/netns/${P}a`, `/run/netns/${P}b`];
        for (const [i, path] of paths.entries()) {
          c.netns(path);
          const ns = await newNetworkNamespace(path);
          c.defer(`ns.delete() ${path}`, () => ns.delete());
          assert.equal(ns.path, path);
          assert.deepEqual(await nsLinkNames(path), ["lo"]);
          assert.ok((await ipLink("lo", nsName(path)))?.flags.includes("UP"), "lo not up");

          const ifaces = await network.link(`c${i + 1}`);
          assert.equal(ifaces.length, 1);
          const iface = ifaces[0];
          const host = `nslh${iface.srcName.slice(4)}`;
          assert.deepEqual(iface, {
            srcName: iface.srcName,
            dstName: "eth0",
            macAddress: `02:42:c6:33:64:0${i + 2}`,
            address: `198.51.100.${i + 2}/24`,
            addressIPv6: `2001:db8:1::${i + 2}/64`,
            gateway: "198.51.100.1",
            gatewayIPv6: "2001:db8:1::1",
            mtu: 1450,
          });
          assert.match(iface.srcName, /^nslc[0-9a-f]{8}$/);
          // Both veth ends on the host; the host end on the bridge, up.
          const hostEnd = await ipLink(host);
          assert.equal(hostEnd?.linkinfo?.info_kind, "veth");
          assert.equal(hostEnd.master, br);
          assert.ok(hostEnd.flags.includes("UP"), `host end not up: ${hostEnd.flags}`);
          assert.equal(hostEnd.mtu, 1450);
          const src = await ipLink(iface.srcName);
          assert.equal(src?.linkinfo?.info_kind, "veth");
          assert.equal(src.address, iface.macAddress);
          assert.deepEqual(
            network.endpoints(),
            Array.from({ length: i + 1 }, (_, k) => `c${k + 1}`),
          );

          const got = await ns.addInterface(iface);
          assert.deepEqual(got, iface);
          added.push(got);
          // Moved: gone from the host, configured inside.
          assert.equal(await ipLink(iface.srcName), undefined);
          await assertConfigured(path, got);
          assert.deepEqual(await nsLinkNames(path), ["eth0", "lo"]);
          assert.deepEqual(ns.interfaces, [got]);
          // The state knows where it went.
          assert.equal(readRecord(stateDir, network.name)?.endpoints[`c${i + 1}`]?.namespace, path);
        }
        assert.equal((await bridgePorts(br)).length, 2);

        // Ping both ways, IPv4 and IPv6, and the gateways.
        const [a, b] = added;
        for (const [from, to] of [[paths[0], b], [paths[1], a]] as const) {
          await assertPing(from, to.address);
          await assertPing(from, to.addressIPv6);
          await assertPing(from, to.gateway);
          await assertPing(from, to.gatewayIPv6);
        }
      });
    },
  );
});

describe("bridge network: the fast path (link into a namespace)", () => {
  it(
    "creates the container end inside as eth0: no move, no rename, and pings work",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const stateDir = tempStateDir();
        const br = `${P}bf`;
        c.link(br);
        const network = await newNetwork("simplebridge", `${P}-fast`, {
          stateDir,
          bridgeName: br,
          subnet: "198.51.100.0/24",
          subnetIPv6: "2001:db8:1::/64",
        });
        c.defer("network.delete()", () => network.delete());
        assert.equal(network.type, "bridge", "simplebridge is an alias of bridge");
        const hostBefore = await linkNames();

        const added: Interface[] = [];
        const paths = [`/run/netns/${P}fa`, `/run/netns/${P}fb`];
        for (const [i, path] of paths.entries()) {
          c.netns(path);
          const ns = await newNetworkNamespace(path);
          c.defer(`ns.delete() ${path}`, () => ns.delete());
          const [iface, ...rest] = await network.link(`f${i + 1}`, { namespace: ns });
          assert.deepEqual(rest, []);
          assert.equal(iface.dstName, "eth0");
          assert.equal(iface.address, `198.51.100.${i + 2}/24`);
          assert.equal(iface.addressIPv6, `2001:db8:1::${i + 2}/64`);
          assert.equal(iface.mtu, 1500);
          // The container end was born inside, already eth0 with its MAC; only the host end
          // appeared on the host, and the container end's name never did.
          const inside = await ipLink("eth0", nsName(path));
          assert.ok(inside, "eth0 not in the namespace after link()");
          assert.equal(inside.address, iface.macAddress);
          assert.ok(!inside.flags.includes("UP"), "not up before addInterface");
          assert.equal(await ipLink(iface.srcName), undefined);
          const host = `nslh${iface.srcName.slice(4)}`;
          assert.equal((await ipLink(host))?.master, br);
          assert.equal(readRecord(stateDir, network.name)?.endpoints[`f${i + 1}`]?.namespace, path);

          const got = await ns.addInterface(iface);
          assert.deepEqual(got, iface);
          added.push(got);
          await assertConfigured(path, got);
          // Same link (no move: a move could change the index), and still only eth0 and lo.
          assert.equal((await ipLink("eth0", nsName(path)))?.ifindex, inside.ifindex);
          assert.deepEqual(await nsLinkNames(path), ["eth0", "lo"]);
          assert.deepEqual(ns.interfaces, [got]);
        }
        // The host gained exactly the two host ends.
        const gained = (await linkNames()).filter((n) => !hostBefore.includes(n));
        assert.deepEqual(
          gained,
          added.map((i) => `nslh${i.srcName.slice(4)}`).sort(),
        );
        const [a, b] = added;
        for (const [from, to] of [[paths[0], b], [paths[1], a]] as const) {
          await assertPing(from, to.address);
          await assertPing(from, to.addressIPv6);
        }
      });
    },
  );

  it("mixes both paths on one network, and tears down in the README's order", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const br = `${P}bm`;
      const { network, stateDir } = await bridgeNetwork(c, `${P}-mix`, br, {
        subnet: "198.51.100.0/24",
        subnetIPv6: "2001:db8:1::/64",
      });
      const p1 = `/run/netns/${P}ma`;
      const p2 = `/run/netns/${P}mb`;
      c.netns(p1);
      c.netns(p2);
      const ns1 = await newNetworkNamespace(p1);
      const ns2 = await newNetworkNamespace(p2);
      c.defer("ns.delete()", async () => {
        await ns1.delete();
        await ns2.delete();
      });
      for (const iface of await network.link("c1")) await ns1.addInterface(iface);
      for (const iface of await network.link("c2", { namespace: ns2 })) {
        await ns2.addInterface(iface);
      }
      await assertPing(p1, ns2.interfaces[0].address);
      await assertPing(p2, ns1.interfaces[0].addressIPv6);
      await ns1.delete();
      await ns2.delete();
      await network.unlink("c1");
      await network.unlink("c2");
      assert.deepEqual(network.endpoints(), []);
      await network.delete();
      assert.equal(await ipLink(br), undefined);
      assert.equal(existsSync(stateFile(stateDir, network.name)), false);
      assert.deepEqual(listNetworks({ stateDir }), []);
    });
  });
});

describe("two networks", () => {
  it("give two namespaces their own subnets, and do not route between them", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      // Earlier bridge networks of this namespace turned forwarding on (their default): off
      // here, and put back afterwards.
      for (const key of ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"]) {
        const was = readFileSync(`/proc/sys/${key}`, "utf8").trim();
        c.defer(`restore ${key}`, () => writeFileSync(`/proc/sys/${key}`, was));
        writeFileSync(`/proc/sys/${key}`, "0");
      }
      const stateDir = tempStateDir();
      const specs = [
        { name: `${P}-red`, br: `${P}r`, v4: "198.51.100.0/24", v6: "2001:db8:1::/64" },
        { name: `${P}-blu`, br: `${P}u`, v4: "203.0.113.0/24", v6: "2001:db8:2::/64" },
      ];
      const members: { path: string; iface: Interface }[] = [];
      for (const s of specs) {
        c.link(s.br);
        const network = await newNetwork("bridge", s.name, {
          stateDir,
          bridgeName: s.br,
          subnet: s.v4,
          subnetIPv6: s.v6,
          ipForward: false, // leave forwarding alone (it is on by default: see firewall-e2e)
        });
        c.defer("network.delete()", () => network.delete());
        const path = `/run/netns/${s.br}ns`;
        const ns = await namespaceAt(c, path);
        const [iface] = await network.link("c1"); // the same endpoint name on both: fine
        const got = await ns.addInterface(iface);
        await assertConfigured(path, got);
        members.push({ path, iface: got });
      }
      assert.deepEqual(listNetworks({ stateDir }), specs.map((s) => s.name).sort());
      const [red, blue] = members;
      assert.equal(red.iface.address, "198.51.100.2/24");
      assert.equal(red.iface.addressIPv6, "2001:db8:1::2/64");
      assert.equal(red.iface.gateway, "198.51.100.1");
      assert.equal(blue.iface.address, "203.0.113.2/24");
      assert.equal(blue.iface.addressIPv6, "2001:db8:2::2/64");
      assert.equal(blue.iface.gateway, "203.0.113.1");
      assert.equal(blue.iface.macAddress, "02:42:cb:00:71:02");
      assert.notEqual(red.iface.srcName, blue.iface.srcName);
      // Each reaches its own gateway.
      await assertPing(red.path, red.iface.gateway);
      await assertPing(blue.path, blue.iface.gatewayIPv6);
      // With ipForward: false nslink leaves forwarding off: no path between the two networks.
      for (const key of ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"]) {
        const r = readFileSync(`/proc/sys/${key}`, "utf8").trim();
        assert.equal(r, "0", `${key} is on in the test namespace`);
      }
      for (const [from, to] of [[red, blue], [blue, red]]) {
        for (const addr of [to.iface.address, to.iface.addressIPv6]) {
          assertNoPingReply(await ping(from.path, bare(addr), 1), `${from.path} -> ${addr}`);
        }
      }
    });
  });
});

describe("one namespace on two networks", () => {
  for (const fast of [false, true]) {
    it(
      `gets eth0 and eth1, with the first network's default routes (${
        fast ? "fast" : "seed"
      } path)`,
      OPTS,
      async () => {
        await withCleanup(async (c) => {
          await cleanupNewVeths(c);
          const stateDir = tempStateDir();
          const tag = fast ? "f" : "s";
          const n1br = `${P}${tag}1`;
          const n2br = `${P}${tag}2`;
          c.link(n1br);
          c.link(n2br);
          const n1 = await newNetwork("bridge", `${P}-${tag}1`, {
            stateDir,
            bridgeName: n1br,
            subnet: "198.51.100.0/24",
            subnetIPv6: "2001:db8:1::/64",
          });
          c.defer("n1.delete()", () => n1.delete());
          const n2 = await newNetwork("bridge", `${P}-${tag}2`, {
            stateDir,
            bridgeName: n2br,
            subnet: "203.0.113.0/24",
            subnetIPv6: "2001:db8:2::/64",
          });
          c.defer("n2.delete()", () => n2.delete());
          const path = `/run/netns/${P}${tag}2n`;
          const ns = await namespaceAt(c, path);
          const opts = fast ? { namespace: ns } : {};
          const [i1] = await n1.link("c1", opts);
          const a1 = await ns.addInterface(i1);
          const [i2] = await n2.link("c1", opts);
          assert.equal(i2.dstName, fast ? "eth1" : "eth0");
          const a2 = await ns.addInterface(i2);
          assert.equal(a1.dstName, "eth0");
          assert.equal(a2.dstName, "eth1");
          assert.deepEqual(a2, { ...i2, dstName: "eth1" });
          assert.deepEqual(ns.interfaces, [a1, a2]);
          assert.deepEqual(await nsLinkNames(path), ["eth0", "eth1", "lo"]);
          await assertConfigured(path, a1, true);
          await assertConfigured(path, a2, false);
          // Only the first network's default routes: the second's EEXIST was tolerated.
          for (const family of [4, 6] as const) {
            const defaults = (await ipRoutes(family, nsName(path))).filter((r) =>
              r.dst === "default"
            );
            assert.deepEqual(
              defaults.map((r) => [r.gateway, r.dev]),
              [[family === 4 ? "198.51.100.1" : "2001:db8:1::1", "eth0"]],
            );
          }
          // Both subnets are reachable directly.
          await assertPing(path, "198.51.100.1");
          await assertPing(path, "203.0.113.1");
          await assertPing(path, "2001:db8:2::1");
          // Each network saw its endpoint go into this namespace.
          for (const [n, br] of [[n1, n1br], [n2, n2br]] as const) {
            const rec = readRecord(stateDir, n.name) as NetworkRecord;
            assert.equal(rec.endpoints.c1.namespace, path);
            assert.equal((await bridgePorts(br)).length, 1);
          }
        });
      },
    );
  }
});

describe("null and host drivers", () => {
  it("null: link() hands out nothing; the namespace has only lo, up", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const stateDir = tempStateDir();
      const before = await linkNames();
      const network = await newNetwork("null", `${P}-null`, { stateDir });
      c.defer("network.delete()", () => network.delete());
      assert.equal(network.type, "null");
      assert.equal(network.subnet, "");
      assert.equal(network.gateway, "");
      assert.ok(existsSync(stateFile(stateDir, network.name)));
      const path = `/run/netns/${P}nul`;
      const ns = await namespaceAt(c, path);
      assert.deepEqual(await network.link("c1"), []);
      assert.deepEqual(await network.link("c2", { namespace: ns }), []);
      assert.deepEqual(network.endpoints(), ["c1", "c2"]);
      const links = await ipLinks(nsName(path));
      assert.deepEqual(links.map((l) => l.ifname), ["lo"]);
      assert.ok(links[0].flags.includes("UP"));
      assert.deepEqual(ns.interfaces, []);
      assert.deepEqual(await linkNames(), before);
      await network.unlink("c1");
      assert.deepEqual(network.endpoints(), ["c2"]);
      await network.delete();
      assert.equal(existsSync(stateFile(stateDir, network.name)), false);
      await network.delete();
      assert.deepEqual(await linkNames(), before);
    });
  });

  it("host: link() hands out nothing and nothing is created", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const stateDir = tempStateDir();
      const before = await linkNames();
      const network = await newNetwork("host", `${P}-host`, { stateDir });
      c.defer("network.delete()", () => network.delete());
      assert.equal(network.type, "host");
      assert.deepEqual(listNetworks({ stateDir }), [`${P}-host`]);
      assert.deepEqual(await network.link("c1"), []);
      assert.deepEqual(network.endpoints(), ["c1"]);
      assert.deepEqual(await linkNames(), before);
      await network.unlink("c1");
      await network.unlink("c1");
      await network.delete();
      assert.deepEqual(listNetworks({ stateDir }), []);
      assert.equal(existsSync(stateFile(stateDir, network.name)), false);
      assert.deepEqual(await linkNames(), before);
    });
  });
});

describe("bridge options", () => {
  it(
    "default bridge names, containerInterfacePrefix, and a second addInterface",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const stateDir = tempStateDir();
        // A short name gives nsl-NAME; a long one nsl- and a hash.
        const short = `${P}d`;
        c.link(`nsl-${short}`);
        const n1 = await newNetwork("bridge", short, {
          stateDir,
          subnet: "198.51.100.0/24",
          containerInterfacePrefix: "ceth",
        });
        c.defer("n1.delete()", () => n1.delete());
        assert.equal(n1.config.bridgeName, `nsl-${short}`);
        assert.equal((await ipLink(`nsl-${short}`))?.linkinfo?.info_kind, "bridge");
        const long = `${P}-a-rather-long-network-name`;
        const hashed = `nsl-${shortHash(long)}`;
        c.link(hashed);
        const n2 = await newNetwork("bridge", long, { stateDir, subnet: "203.0.113.0/24" });
        c.defer("n2.delete()", () => n2.delete());
        assert.equal(n2.config.bridgeName, hashed);
        assert.equal((await ipLink(hashed))?.linkinfo?.info_kind, "bridge");

        const path = `/run/netns/${P}opt`;
        const ns = await namespaceAt(c, path);
        const [seed] = await n1.link("c1");
        assert.equal(seed.dstName, "ceth0");
        const added = await ns.addInterface(seed);
        assert.equal(added.dstName, "ceth0");
        await assertConfigured(path, added);
        // The same interface a second time is refused, and the first stays as it was.
        await assert.rejects(ns.addInterface(seed), /not on the host/);
        await assertConfigured(path, added);
        assert.deepEqual(ns.interfaces, [added]);
        // Fast path: the prefix applies, numbered after what the namespace has.
        const [fast] = await n2.link("c1", { namespace: ns });
        assert.equal(fast.dstName, "eth0");
        const added2 = await ns.addInterface(fast);
        await assert.rejects(ns.addInterface(fast));
        await assertConfigured(path, added2, false);
        assert.deepEqual(await nsLinkNames(path), ["ceth0", "eth0", "lo"]);
        await assertPing(path, "203.0.113.1");
      });
    },
  );
});
