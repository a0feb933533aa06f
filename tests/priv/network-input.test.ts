/**
 * Privileged tests of the libnetwork API's input checks — bad input is refused before the kernel
 * is touched (the host's links and addresses are unchanged and no state file is written) — and
 * of the bridge driver's subnet picking and bridge adoption.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  listNetworks,
  type Network,
  newNetwork,
  newNetworkNamespace,
  SyscallError,
} from "../../mod.ts";
import {
  ip,
  type IpAddrIf,
  ipAddrs,
  ipJson,
  ipLink,
  ipLinks,
  SKIP_ROOT,
  withCleanup,
} from "./_helpers.ts";
import {
  assertConfigured,
  assertPing,
  bridgeNetwork,
  bridgePorts,
  cleanupNewVeths,
  namespaceAt,
  nsLinkNames,
  nsName,
  readRecord,
  setUpNetworkTestFile,
  stateFile,
  tempStateDir,
} from "./_network_helpers.ts";

const P = setUpNetworkTestFile().prefix;

const OPTS = { skip: SKIP_ROOT, timeout: 30_000 };

/** The host's links and their addresses, as `ip -j addr` shows them (without volatile fields). */
async function hostSnapshot(): Promise<string[]> {
  const all = await ipJson<(IpAddrIf & { flags: string[]; mtu: number; master?: string })[]>(
    ["addr", "show"],
  );
  return all.map((l) =>
    [
      l.ifname,
      l.flags.filter((f) => f === "UP").join(),
      l.mtu,
      l.master ?? "",
      // Link-local addresses come by themselves, some time after a link is up: volatile.
      ...l.addr_info.filter((a) => !a.local.startsWith("fe80:")).map((a) =>
        `${a.local}/${a.prefixlen}`
      ).sort(),
    ].join(" ")
  ).sort();
}

/**
 * Asserts that `run` rejects as `expected` says, and that the host's links, addresses and the
 * saved state are exactly as before.
 */
async function refused(
  stateDir: string,
  run: () => Promise<unknown>,
  expected: (e: unknown) => boolean,
): Promise<void> {
  const host = await hostSnapshot();
  const networks = listNetworks({ stateDir });
  const records = networks.map((n) => readFileSync(stateFile(stateDir, n), "utf8"));
  await assert.rejects(run, expected);
  assert.deepEqual(await hostSnapshot(), host, "the host's links or addresses changed");
  assert.deepEqual(listNetworks({ stateDir }), networks, "a state file appeared or went");
  assert.deepEqual(
    networks.map((n) => readFileSync(stateFile(stateDir, n), "utf8")),
    records,
    "a state file changed",
  );
}

function error(type: ErrorConstructor, re: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof type, `expected a ${type.name}, got ${e}`);
    assert.match((e as Error).message, re);
    return true;
  };
}

describe("bad input is refused before the kernel is touched", () => {
  it("newNetwork: name, type, options, subnets, gateways, MTU, bridge", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const br = `${P}i1`;
      const { network, stateDir } = await bridgeNetwork(c, `${P}-in`, br, {
        subnet: "198.51.100.0/24",
        subnetIPv6: "2001:db8:1::/64",
      });
      const br2 = `${P}i2`;
      c.link(br2);
      const ok = { stateDir, bridgeName: br2, subnet: "203.0.113.0/24" };

      // A duplicate name.
      await refused(
        stateDir,
        () => newNetwork("bridge", network.name, ok),
        error(TypeError, /already exists/),
      );
      // Overlapping another nslink network's subnets.
      await refused(
        stateDir,
        () => newNetwork("bridge", `${P}-in2`, { ...ok, subnet: "198.51.100.128/25" }),
        error(RangeError, /overlaps "198\.51\.100\.0\/24"/),
      );
      await refused(
        stateDir,
        () => newNetwork("bridge", `${P}-in2`, { ...ok, subnetIPv6: "2001:db8::/32" }),
        error(RangeError, /overlaps "2001:db8:1::\/64"/),
      );
      // Gateways outside their subnets, or without one.
      await refused(
        stateDir,
        () => newNetwork("bridge", `${P}-in2`, { ...ok, gateway: "198.51.100.1" }),
        error(RangeError, /outside subnet/),
      );
      await refused(
        stateDir,
        () =>
          newNetwork("bridge", `${P}-in2`, {
            ...ok,
            subnetIPv6: "2001:db8:2::/64",
            gatewayIPv6: "2001:db8:3::1",
          }),
        error(RangeError, /outside subnet/),
      );
      await refused(
        stateDir,
        () =>
          newNetwork("bridge", `${P}-in2`, { stateDir, bridgeName: br2, gateway: "203.0.113.1" }),
        error(TypeError, /needs "subnet"/),
      );
      await refused(
        stateDir,
        () => newNetwork("bridge", `${P}-in2`, { ...ok, subnet: "2001:db8:2::/64" }),
        error(TypeError, /must be IPv4/),
      );
      // MTUs.
      for (const mtu of [10, 70000, 1500.5, "1500", -1]) {
        await refused(
          stateDir,
          () => newNetwork("bridge", `${P}-in2`, { ...ok, mtu }),
          error(RangeError, /Invalid MTU/),
        );
      }
      // Unknown options, for each driver.
      await refused(
        stateDir,
        () => newNetwork("bridge", `${P}-in2`, { ...ok, subnetV6: "2001:db8:2::/64" }),
        error(TypeError, /Unknown bridge option "subnetV6"/),
      );
      for (const type of ["null", "host"]) {
        await refused(
          stateDir,
          () => newNetwork(type, `${P}-in2`, { stateDir, subnet: "203.0.113.0/24" }),
          error(TypeError, /takes no options/),
        );
      }
      // An unknown type lists the known ones.
      await refused(
        stateDir,
        () => newNetwork("vxlan", `${P}-in2`, ok),
        error(
          TypeError,
          /Unknown network type "vxlan": known types are bridge, host, ipvlan, macvlan, null, overlay, simplebridge/,
        ),
      );
      // Bad network names.
      for (const name of ["", " ", "a b", "-a", ".a", "a/b", "../x", "x".repeat(65), "é"]) {
        await refused(
          stateDir,
          () => newNetwork("bridge", name, ok),
          error(TypeError, /Invalid (network name|state name)/),
        );
      }
      // Bridge names: too long, already another network's, or a non-bridge link on the host.
      await refused(
        stateDir,
        () => newNetwork("bridge", `${P}-in2`, { ...ok, bridgeName: "x".repeat(16) }),
        error(RangeError, /Invalid bridge name/),
      );
      await refused(
        stateDir,
        () => newNetwork("bridge", `${P}-in2`, { ...ok, bridgeName: br }),
        error(TypeError, /already used by another nslink network/),
      );
      const veth = `${P}iv`;
      c.link(veth);
      assert.equal((await ip(["link", "add", veth, "type", "veth", "peer", `${P}iw`])).code, 0);
      await refused(
        stateDir,
        () => newNetwork("bridge", `${P}-in2`, { ...ok, bridgeName: veth }),
        error(TypeError, /taken by a veth link/),
      );
      // A bad container interface prefix, pool and pool size.
      await refused(
        stateDir,
        () => newNetwork("bridge", `${P}-in2`, { ...ok, containerInterfacePrefix: "a/b" }),
        error(TypeError, /container interface prefix/),
      );
      await refused(
        stateDir,
        () =>
          newNetwork("bridge", `${P}-in2`, { stateDir, bridgeName: br2, pool: "203.0.113.0/24" }),
        error(TypeError, /"pool" must be a list/),
      );
      // And with all of that refused, the good request still works.
      const good: Network = await newNetwork("bridge", `${P}-in2`, ok);
      c.defer("good.delete()", () => good.delete());
      assert.deepEqual(listNetworks({ stateDir }), [network.name, good.name].sort());
      await good.delete();
    });
  });

  it("link/unlink: endpoint names, a second link, static addresses", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const br = `${P}i3`;
      const { network, stateDir } = await bridgeNetwork(c, `${P}-il`, br, {
        subnet: "198.51.100.0/24",
        subnetIPv6: "2001:db8:1::/64",
      });
      const path = `/run/netns/${P}iln`;
      const ns = await namespaceAt(c, path);
      const [c1] = await network.link("c1", { namespace: ns });
      await ns.addInterface(c1);

      for (const name of ["", "a b", "-a", "../x", "x".repeat(65), "a/b"]) {
        await refused(
          stateDir,
          () => network.link(name),
          error(TypeError, /Invalid endpoint name/),
        );
        await refused(
          stateDir,
          () => network.unlink(name),
          error(TypeError, /Invalid endpoint name/),
        );
      }
      for (const options of [{}, { namespace: ns }]) {
        await refused(
          stateDir,
          () => network.link("c1", options),
          error(TypeError, /already linked/),
        );
      }
      assert.deepEqual(await nsLinkNames(path), ["eth0", "lo"]);
      // Static addresses: outside the subnet, reserved, taken, wrong family, not an address.
      const bad: [Record<string, string>, ErrorConstructor, RegExp][] = [
        [{ address: "203.0.113.5" }, RangeError, /outside subnet/],
        [{ address: "198.51.100.1" }, RangeError, /reserved/],
        [{ address: "198.51.100.255" }, RangeError, /reserved/],
        [{ address: "198.51.100.2" }, Error, /already allocated to "c1"/],
        [{ addressIPv6: "2001:db8:2::5" }, RangeError, /outside subnet/],
        [{ addressIPv6: "2001:db8:1::2" }, Error, /already allocated to "c1"/],
        [{ address: "198.51.100.20/25" }, RangeError, /different prefix/],
        [{ address: "banana" }, TypeError, /Invalid preferred address/],
      ];
      for (const [options, type, re] of bad) {
        await refused(stateDir, () => network.link("c2", options), error(type, re));
      }
      assert.deepEqual(network.endpoints(), ["c1"]);
      // Good static addresses.
      const p2 = `/run/netns/${P}ilm`;
      c.netns(p2);
      const ns2 = await newNetworkNamespace(p2);
      c.defer("ns2.delete()", () => ns2.delete());
      const [c2] = await network.link("c2", {
        address: "198.51.100.50",
        addressIPv6: "2001:db8:1::50",
      });
      assert.equal(c2.address, "198.51.100.50/24");
      assert.equal(c2.addressIPv6, "2001:db8:1::50/64");
      assert.equal(c2.macAddress, "02:42:c6:33:64:32");
      const added = await ns2.addInterface(c2);
      await assertConfigured(p2, added);
      await assertPing(p2, c1.address);
      await assertPing(path, "2001:db8:1::50");
      // The next dynamic address skips neither hole nor static: .3.
      assert.equal((await network.link("c3"))[0].address, "198.51.100.3/24");
    });
  });

  it(
    "newNetworkNamespace refuses a path that holds a namespace (EEXIST) or a file",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const br = `${P}i4`;
        const { network } = await bridgeNetwork(c, `${P}-ie`, br, {
          subnet: "198.51.100.0/24",
        });
        const path = `/run/netns/${P}ien`;
        const ns = await namespaceAt(c, path);
        for (const iface of await network.link("c1", { namespace: ns })) {
          await ns.addInterface(iface);
        }
        const inode = statSync(path).ino;
        const links = await ipLinks(nsName(path));

        await assert.rejects(newNetworkNamespace(path), (e) => {
          assert.ok(e instanceof SyscallError, `not a SyscallError: ${e}`);
          assert.equal(e.code, "EEXIST");
          return true;
        });
        assert.equal(statSync(path).ino, inode, "the namespace at the path was replaced");
        assert.deepEqual(await ipLinks(nsName(path)), links);
        await assertConfigured(path, ns.interfaces[0]);

        const dir = mkdtempSync(join(tmpdir(), `${P}-file-`));
        c.defer("temp dir", () => rmSync(dir, { recursive: true, force: true }));
        const file = join(dir, "ns");
        writeFileSync(file, "precious");
        await assert.rejects(newNetworkNamespace(file), /EEXIST/);
        assert.equal(readFileSync(file, "utf8"), "precious");
      });
    },
  );
});

describe("bridge driver: subnet picking and bridge adoption", () => {
  it(
    "picks the first pool block no host address uses; none left is a RangeError",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const stateDir = tempStateDir();
        const hostBr = `${P}hb`;
        c.link(hostBr);
        assert.equal((await ip(["link", "add", hostBr, "type", "bridge"])).code, 0);
        assert.equal((await ip(["addr", "add", "203.0.113.1/24", "dev", hostBr])).code, 0);
        const pool = ["203.0.113.0/24", "198.51.100.0/24"];
        const br = `${P}pk`;
        c.link(br);
        const network = await newNetwork("bridge", `${P}-pk`, {
          stateDir,
          bridgeName: br,
          pool,
          poolSize: 24,
        });
        c.defer("network.delete()", () => network.delete());
        assert.equal(network.subnet, "198.51.100.0/24");
        assert.equal(network.gateway, "198.51.100.1");
        assert.equal(network.subnetIPv6, "");
        assert.deepEqual(
          (await ipAddrs(br)).filter((a) => a.scope === "global").map((a) => a.local),
          ["198.51.100.1"],
        );
        // Now both blocks are taken (one by the host, one by this network).
        const br2 = `${P}pl`;
        c.link(br2);
        await refused(
          stateDir,
          () => newNetwork("bridge", `${P}-pl`, { stateDir, bridgeName: br2, pool, poolSize: 24 }),
          error(RangeError, /No free \/24 subnet left in the pool/),
        );
        assert.equal(await ipLink(br2), undefined);
        // A smaller block size finds room in neither either; a /25 of a free range works once
        // the network is gone.
        await network.delete();
        const n3 = await newNetwork("bridge", `${P}-pl`, {
          stateDir,
          bridgeName: br2,
          pool,
          poolSize: 25,
        });
        c.defer("n3.delete()", () => n3.delete());
        assert.equal(n3.subnet, "198.51.100.0/25");
        await n3.delete();
      });
    },
  );

  it(
    "adopts an existing bridge, and on delete removes only the addresses it added",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const stateDir = tempStateDir();
        const br = `${P}ab`;
        c.link(br);
        assert.equal((await ip(["link", "add", br, "type", "bridge"])).code, 0);
        assert.equal((await ip(["addr", "add", "198.51.100.1/24", "dev", br])).code, 0);
        assert.equal((await ip(["addr", "add", "203.0.113.9/24", "dev", br])).code, 0);
        const index = (await ipLink(br))!.ifindex;
        const network = await newNetwork("bridge", `${P}-ab`, {
          stateDir,
          bridgeName: br,
          subnet: "198.51.100.0/24",
          subnetIPv6: "2001:db8:1::/64",
        });
        c.defer("network.delete()", () => network.delete());
        assert.equal(network.config.adopted, true);
        assert.deepEqual(network.config.addedAddresses, ["2001:db8:1::1/64"]);
        const bridge = await ipLink(br);
        assert.equal(bridge?.ifindex, index);
        assert.ok(bridge?.flags.includes("UP"), "the adopted bridge was not brought up");
        const global = async () =>
          (await ipAddrs(br)).filter((a) => a.scope === "global").map((a) =>
            `${a.local}/${a.prefixlen}`
          ).sort();
        assert.deepEqual(await global(), ["198.51.100.1/24", "2001:db8:1::1/64", "203.0.113.9/24"]);

        const path = `/run/netns/${P}abn`;
        const ns = await namespaceAt(c, path);
        const [iface] = await network.link("c1");
        assert.equal((await bridgePorts(br)).length, 1);
        await ns.addInterface(iface);
        await assertPing(path, "198.51.100.1");
        await assertPing(path, "2001:db8:1::1");

        await network.delete();
        assert.equal((await ipLink(br))?.ifindex, index, "the adopted bridge was deleted");
        assert.deepEqual(await global(), ["198.51.100.1/24", "203.0.113.9/24"]);
        assert.deepEqual(await bridgePorts(br), []);
        assert.equal(readRecord(stateDir, network.name), undefined);
      });
    },
  );

  it("removes every address it added even when one is already gone", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const stateDir = tempStateDir();
      const br = `${P}ac`;
      c.link(br);
      assert.equal((await ip(["link", "add", br, "type", "bridge"])).code, 0);
      const network = await newNetwork("bridge", `${P}-ac`, {
        stateDir,
        bridgeName: br,
        subnet: "198.51.100.0/24",
        subnetIPv6: "2001:db8:1::/64",
      });
      c.defer("network.delete()", () => network.delete());
      assert.deepEqual(network.config.addedAddresses, ["198.51.100.1/24", "2001:db8:1::1/64"]);
      // Someone removed the IPv4 gateway address by hand.
      assert.equal((await ip(["addr", "del", "198.51.100.1/24", "dev", br])).code, 0);
      await network.delete();
      assert.ok(await ipLink(br), "the adopted bridge was deleted");
      assert.deepEqual(
        (await ipAddrs(br)).filter((a) => a.scope === "global").map((a) => a.local),
        [],
        "the IPv6 gateway address nslink added was left on the adopted bridge",
      );
    });
  });
});
