/**
 * Privileged tests of the libnetwork API's failure behaviour: a failure injected in the middle
 * of `link`, `addInterface` and `newNetwork` leaves nothing behind; `unlink` after the
 * namespace is gone makes no per-link delete; every teardown call is idempotent; a full subnet
 * is reported and leaks nothing.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import {
  gc,
  IpamExhaustedError,
  listNetworks,
  NetlinkError,
  newNetwork,
  newNetworkNamespace,
  openNetworkNamespace,
} from "../../mod.ts";
import { shortHash } from "../../drivers/bridge.ts";
import { exec, ip, ipAddrs, ipLink, ipRoutes, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  assertConfigured,
  assertPing,
  bare,
  bridgeNetwork,
  cleanupNewVeths,
  linkNames,
  namespaceAt,
  nsLinkNames,
  nsName,
  readRecord,
  setUpNetworkTestFile,
  stateFile,
  stateFiles,
  tempStateDir,
  waitFor,
} from "./_network_helpers.ts";

const P = setUpNetworkTestFile().prefix;

const OPTS = { skip: SKIP_ROOT, timeout: 30_000 };

function isNetlink(code: string | string[]): (e: unknown) => boolean {
  const codes = Array.isArray(code) ? code : [code];
  return (e) => {
    assert.ok(e instanceof NetlinkError, `not a NetlinkError: ${e}`);
    assert.ok(codes.includes(e.code), `expected ${codes}, got ${e.message}`);
    return true;
  };
}

const V4V6 = { subnet: "198.51.100.0/24", subnetIPv6: "2001:db8:1::/64" };

describe("a failure in the middle of link()", () => {
  for (const blocked of ["host end", "container end"] as const) {
    it(
      `leaves no record, no address taken and no link (seed path, ${blocked} name taken)`,
      OPTS,
      async () => {
        await withCleanup(async (c) => {
          await cleanupNewVeths(c);
          const br = `${P}l${blocked === "host end" ? "h" : "c"}`;
          const { network, stateDir } = await bridgeNetwork(c, `${P}-lf`, br, { ...V4V6 });
          const hash = shortHash(`${network.id}/c1`);
          const blocker = blocked === "host end" ? `nslh${hash}` : `nslc${hash}`;
          c.link(blocker);
          const made = await ip(["link", "add", blocker, "type", "bridge"]);
          assert.equal(made.code, 0, made.stderr);
          const linksBefore = await linkNames();
          const recordBefore = readRecord(stateDir, network.name);

          await assert.rejects(network.link("c1"), isNetlink("EEXIST"));

          assert.deepEqual(await linkNames(), linksBefore, "a link was left on the host");
          assert.deepEqual(readRecord(stateDir, network.name), recordBefore);
          assert.deepEqual(network.endpoints(), []);
          // The address c1 would have had goes to the next link.
          const [next] = await network.link("c2");
          assert.equal(next.address, "198.51.100.2/24");
          assert.equal(next.addressIPv6, "2001:db8:1::2/64");
          // Once the name is free again, c1 links.
          assert.equal((await ip(["link", "del", blocker])).code, 0);
          const [c1] = await network.link("c1");
          assert.equal(c1.address, "198.51.100.3/24");
          assert.deepEqual(network.endpoints(), ["c1", "c2"]);
        });
      },
    );
  }

  it("leaves no record, no address taken and no link (fast path)", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const br = `${P}lf`;
      const { network, stateDir } = await bridgeNetwork(c, `${P}-lff`, br, { ...V4V6 });
      const path = `/run/netns/${P}lfn`;
      const ns = await namespaceAt(c, path);
      const blocker = `nslh${shortHash(`${network.id}/c1`)}`;
      c.link(blocker);
      assert.equal((await ip(["link", "add", blocker, "type", "bridge"])).code, 0);
      const linksBefore = await linkNames();
      const recordBefore = readRecord(stateDir, network.name);

      await assert.rejects(network.link("c1", { namespace: ns }), isNetlink("EEXIST"));

      assert.deepEqual(await linkNames(), linksBefore);
      assert.deepEqual(await nsLinkNames(path), ["lo"]);
      assert.deepEqual(readRecord(stateDir, network.name), recordBefore);
      assert.deepEqual(network.endpoints(), []);
      assert.deepEqual(ns.interfaces, []);
      const [next] = await network.link("c2", { namespace: ns });
      assert.equal(next.address, "198.51.100.2/24");
      assert.equal(next.dstName, "eth0");
      await assertConfigured(path, await ns.addInterface(next));
    });
  });
});

describe("a failure in the middle of addInterface()", () => {
  it("undoes everything and puts the link back on the host (seed path)", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const br = `${P}ai`;
      const { network, stateDir } = await bridgeNetwork(c, `${P}-ai`, br, { ...V4V6 });
      const path = `/run/netns/${P}ain`;
      const ns = await namespaceAt(c, path);
      const [iface] = await network.link("c1");
      const hostEnd = `nslh${iface.srcName.slice(4)}`;
      // The IPv6 route fails after the move, rename, MAC, MTU, addresses, up and IPv4 route.
      const forged = { ...iface, gatewayIPv6: "2001:db8:ffff::1" };

      await assert.rejects(ns.addInterface(forged), (e) => {
        isNetlink(["ENETUNREACH", "EHOSTUNREACH"])(e);
        assert.match((e as NetlinkError).op, /RTM_NEWROUTE/);
        return true;
      });

      assert.deepEqual(await nsLinkNames(path), ["lo"]);
      assert.deepEqual(await ipRoutes(4, nsName(path)), []);
      assert.deepEqual(
        (await ipRoutes(6, nsName(path))).filter((r) => r.dst === "default"),
        [],
      );
      assert.deepEqual(ns.interfaces, []);
      const back = await ipLink(iface.srcName);
      assert.equal(back?.linkinfo?.info_kind, "veth", "srcName is not back on the host");
      assert.ok(!back.flags.includes("UP"), "srcName was left up");
      assert.deepEqual((await ipAddrs(iface.srcName)).filter((a) => a.scope === "global"), []);
      assert.equal(readRecord(stateDir, network.name)?.endpoints.c1.namespace, undefined);

      // network.unlink removes it from the host, and frees the addresses.
      await network.unlink("c1");
      assert.equal(await ipLink(iface.srcName), undefined);
      assert.equal(await ipLink(hostEnd), undefined);
      assert.deepEqual(network.endpoints(), []);
      // The namespace is still usable, and the address is handed out again.
      const [again] = await network.link("c2");
      assert.equal(again.address, iface.address);
      const added = await ns.addInterface(again);
      await assertConfigured(path, added);
      await assertPing(path, again.gatewayIPv6);
    });
  });

  it("leaves the link in the namespace, down, without addresses (fast path)", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const br = `${P}af`;
      const { network } = await bridgeNetwork(c, `${P}-af`, br, { ...V4V6 });
      const path = `/run/netns/${P}afn`;
      const ns = await namespaceAt(c, path);
      const [iface] = await network.link("c1", { namespace: ns });
      const index = (await ipLink("eth0", nsName(path)))?.ifindex;

      await assert.rejects(
        ns.addInterface({ ...iface, gatewayIPv6: "2001:db8:ffff::1" }),
        isNetlink(["ENETUNREACH", "EHOSTUNREACH"]),
      );

      assert.deepEqual(await nsLinkNames(path), ["eth0", "lo"]);
      const eth0 = await ipLink("eth0", nsName(path));
      assert.ok(eth0, "eth0 is gone");
      assert.equal(eth0.ifindex, index);
      assert.ok(!eth0.flags.includes("UP"), "eth0 was left up");
      assert.deepEqual(
        (await ipAddrs("eth0", nsName(path))).filter((a) => a.scope === "global"),
        [],
      );
      assert.deepEqual(await ipRoutes(4, nsName(path)), []);
      assert.deepEqual(
        (await ipRoutes(6, nsName(path))).filter((r) => r.dst === "default"),
        [],
      );
      assert.deepEqual(ns.interfaces, []);
      // The real interface still goes in.
      const added = await ns.addInterface(iface);
      await assertConfigured(path, added);
      assert.deepEqual(ns.interfaces, [added]);
    });
  });
});

describe("a failure in the middle of newNetwork()", () => {
  it("removes the bridge it made and saves nothing (IPv6 disabled)", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const stateDir = tempStateDir();
      const br = `${P}nf`;
      c.link(br);
      const keys = ["net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"];
      const saved = keys.map((k) =>
        readFileSync(`/proc/sys/${k.replaceAll(".", "/")}`, "utf8").trim()
      );
      c.defer("restore disable_ipv6", async () => {
        for (const [i, k] of keys.entries()) {
          const r = await exec(["sysctl", "-w", `${k}=${saved[i]}`]);
          if (r.code !== 0) throw new Error(`sysctl ${k}: ${r.stderr}`);
        }
      });
      for (const k of keys) assert.equal((await exec(["sysctl", "-w", `${k}=1`])).code, 0);
      const linksBefore = await linkNames();

      await assert.rejects(
        newNetwork("bridge", `${P}-nf`, { stateDir, bridgeName: br, ...V4V6 }),
        (e) => {
          assert.ok(e instanceof NetlinkError, `not a NetlinkError: ${e}`);
          assert.match(e.op, /RTM_NEWADDR/);
          return true;
        },
      );

      assert.equal(await ipLink(br), undefined, "the bridge was left behind");
      assert.deepEqual(await linkNames(), linksBefore);
      assert.equal(existsSync(stateFile(stateDir, `${P}-nf`)), false);
      assert.deepEqual(listNetworks({ stateDir }), []);
    });
  });
});

describe("unlink() after the namespace is gone", () => {
  for (const fast of [false, true]) {
    it(
      `makes no per-link delete, and frees the address only once the kernel removed the pair (${
        fast ? "fast" : "seed"
      } path)`,
      OPTS,
      async () => {
        await withCleanup(async (c) => {
          await cleanupNewVeths(c);
          const stateDir = tempStateDir();
          const tag = fast ? "f" : "s";
          const br = `${P}u${tag}`;
          c.link(br);
          const network = await newNetwork("bridge", `${P}-u${tag}`, {
            stateDir,
            bridgeName: br,
            ...V4V6,
          });
          c.defer("network.delete()", () => network.delete());

          // 1. Plain: delete the namespace, unlink; the host end goes by itself, and only then
          // is the address handed out again.
          const path = `/run/netns/${P}u${tag}1`;
          const ns = await namespaceAt(c, path);
          const [iface] = await network.link("c1", fast ? { namespace: ns } : {});
          const added = await ns.addInterface(iface);
          const hostEnd = `nslh${iface.srcName.slice(4)}`;
          assert.ok(await ipLink(hostEnd));
          await ns.delete();
          await network.unlink("c1");
          assert.deepEqual(network.endpoints(), []);
          if (await ipLink(hostEnd)) {
            assert.equal(
              readRecord(stateDir, network.name)?.pools.v4?.allocated[bare(added.address)],
              "c1",
              "the address was freed while its veth was still on the host",
            );
          }
          assert.ok(
            await waitFor(async () => (await ipLink(hostEnd)) === undefined),
            `${hostEnd} still on the host 2 s after its namespace was deleted`,
          );

          // 2. The regression: a namespace kept alive by an open fd after its mount is gone
          // keeps its veth, with its address, on the bridge. unlink must not free that address.
          const path2 = `/run/netns/${P}u${tag}2`;
          c.netns(path2);
          const ns2 = await newNetworkNamespace(path2);
          c.defer("ns2.delete()", () => ns2.delete());
          const [iface2] = await network.link("c2", fast ? { namespace: ns2 } : {});
          assert.equal(iface2.address, added.address, "c1's address was not freed");
          const added2 = await ns2.addInterface(iface2);
          const hostEnd2 = `nslh${iface2.srcName.slice(4)}`;
          const holder = await openNetworkNamespace(path2);
          c.defer("holder.close()", () => holder.close());
          assert.deepEqual(holder.interfaces, [{ ...added2, srcName: "" }]);
          await ns2.delete();
          assert.equal(existsSync(path2), false);
          await network.unlink("c2");
          assert.deepEqual(network.endpoints(), []);
          assert.ok(await ipLink(hostEnd2), "unlink deleted the host end at once");
          // The address is still live in the held namespace: the next link gets another one.
          const [iface3] = await network.link("c3");
          assert.notEqual(iface3.address, added2.address, "a live address was handed out twice");
          assert.notEqual(iface3.addressIPv6, added2.addressIPv6);
          assert.equal(
            readRecord(stateDir, network.name)?.pools.v4?.allocated[bare(added2.address)],
            "c2",
          );
          // After the grace period (1 s) the held veth is deleted and the address freed, with
          // no further call (gc() or the next link would do the same sooner).
          assert.ok(
            await waitFor(async () => (await ipLink(hostEnd2)) === undefined, 4000),
            `${hostEnd2} (kept alive by an fd) still on the host 4 s after unlink`,
          );
          assert.ok(
            await waitFor(
              () =>
                readRecord(stateDir, network.name)?.pools.v4?.allocated[bare(added2.address)] ===
                  undefined,
              2000,
            ),
            "the address was not freed once the veth was gone",
          );
          assert.deepEqual(await gc({ stateDir, dryRun: true }).then((r) => r.endpoints), []);
          holder.close();
          const [iface4] = await network.link("c4");
          assert.equal(iface4.address, added2.address);
          await network.unlink("c3");
          await network.unlink("c4");
          await network.delete();
          assert.equal(await ipLink(br), undefined);
          assert.deepEqual(stateFiles(stateDir), []);
        });
      },
    );
  }
});

describe("idempotent teardown", () => {
  it("unlink twice, unlink unknown, delete twice, ns.delete twice", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const br = `${P}id`;
      const { network, stateDir } = await bridgeNetwork(c, `${P}-id`, br, { ...V4V6 });
      const path = `/run/netns/${P}idn`;
      const ns = await namespaceAt(c, path);
      const [iface] = await network.link("c1");
      await ns.addInterface(iface);
      await network.link("c2");
      const c2 = readRecord(stateDir, network.name)!.endpoints.c2.interfaces[0];

      await network.unlink("nope");
      assert.deepEqual(network.endpoints(), ["c1", "c2"]);
      await network.unlink("c2");
      await network.unlink("c2");
      assert.equal(await ipLink(c2.srcName), undefined);
      assert.deepEqual(network.endpoints(), ["c1"]);
      await ns.delete();
      await ns.delete();
      assert.equal(existsSync(path), false);
      await network.unlink("c1");
      await network.unlink("c1");
      await network.delete();
      await network.delete();
      assert.equal(await ipLink(br), undefined);
      assert.deepEqual(listNetworks({ stateDir }), []);
      // The object of a deleted network: unlink still resolves, link says it is gone.
      await network.unlink("c1");
      assert.deepEqual(network.endpoints(), []);
      await assert.rejects(network.link("c3"), /no longer exists: it was deleted/);
      assert.deepEqual(stateFiles(stateDir), []);
    });
  });

  for (const fast of [false, true]) {
    it(
      `deleting the network first, then the namespace (${fast ? "fast" : "seed"} path)`,
      OPTS,
      async () => {
        await withCleanup(async (c) => {
          await cleanupNewVeths(c);
          const stateDir = tempStateDir();
          const tag = fast ? "f" : "s";
          const br = `${P}d${tag}`;
          c.link(br);
          const network = await newNetwork("bridge", `${P}-d${tag}`, {
            stateDir,
            bridgeName: br,
            ...V4V6,
          });
          c.defer("network.delete()", () => network.delete());
          const path = `/run/netns/${P}d${tag}n`;
          const ns = await namespaceAt(c, path);
          const [iface] = await network.link("c1", fast ? { namespace: ns } : {});
          await ns.addInterface(iface);
          const hostEnd = `nslh${iface.srcName.slice(4)}`;

          await network.delete();
          assert.equal(await ipLink(br), undefined);
          assert.equal(await ipLink(hostEnd), undefined);
          assert.equal(existsSync(stateFile(stateDir, network.name)), false);
          // The namespace's end went with the pair.
          assert.deepEqual(await nsLinkNames(path), ["lo"]);
          await ns.delete();
          await ns.delete();
          await network.delete();
          assert.equal(existsSync(path), false);
        });
      },
    );
  }

  it("delete() after the bridge was removed by hand", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const br = `${P}hd`;
      const { network, stateDir } = await bridgeNetwork(c, `${P}-hd`, br, { ...V4V6 });
      const [iface] = await network.link("c1");
      assert.equal((await ip(["link", "del", br])).code, 0);
      await network.delete();
      assert.equal(await ipLink(iface.srcName), undefined);
      assert.deepEqual(listNetworks({ stateDir }), []);
    });
  });

  it("await using / asyncDispose deletes what the objects created", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const stateDir = tempStateDir();
      const br = `${P}ud`;
      c.link(br);
      const path = `/run/netns/${P}udn`;
      c.netns(path);
      const network = await newNetwork("bridge", `${P}-ud`, { stateDir, bridgeName: br, ...V4V6 });
      c.defer("network.delete()", () => network.delete());
      const ns = await newNetworkNamespace(path);
      c.defer("ns.delete()", () => ns.delete());
      for (const iface of await network.link("c1", { namespace: ns })) await ns.addInterface(iface);
      await ns[Symbol.asyncDispose]();
      await network[Symbol.asyncDispose]();
      assert.equal(existsSync(path), false);
      assert.equal(await ipLink(br), undefined);
      assert.deepEqual(listNetworks({ stateDir }), []);
    });
  });
});

describe("a full subnet", () => {
  it(
    "IPv4 /29: the sixth link fails with IpamExhaustedError and leaves nothing",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const br = `${P}x4`;
        const { network, stateDir } = await bridgeNetwork(c, `${P}-x4`, br, {
          subnet: "198.51.100.0/29",
        });
        const got: string[] = [];
        for (let i = 1; i <= 5; i++) got.push((await network.link(`c${i}`))[0].address);
        assert.deepEqual(got, [2, 3, 4, 5, 6].map((n) => `198.51.100.${n}/29`));
        const linksBefore = await linkNames();
        const recordBefore = readRecord(stateDir, network.name);

        await assert.rejects(network.link("c6"), (e) => {
          assert.ok(e instanceof IpamExhaustedError, `not an IpamExhaustedError: ${e}`);
          assert.equal(e.subnet, "198.51.100.0/29");
          assert.match(e.message, /198\.51\.100\.0\/29/);
          return true;
        });

        assert.deepEqual(await linkNames(), linksBefore);
        assert.deepEqual(readRecord(stateDir, network.name), recordBefore);
        assert.equal(network.endpoints().length, 5);
        await network.unlink("c3");
        assert.equal((await network.link("c6"))[0].address, "198.51.100.4/29");
      });
    },
  );

  it("IPv6 /126: the third link fails and its IPv4 address is not leaked", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const br = `${P}x6`;
      const { network, stateDir } = await bridgeNetwork(c, `${P}-x6`, br, {
        subnet: "198.51.100.0/24",
        subnetIPv6: "2001:db8:1::/126",
      });
      assert.equal((await network.link("c1"))[0].addressIPv6, "2001:db8:1::2/126");
      assert.equal((await network.link("c2"))[0].addressIPv6, "2001:db8:1::3/126");
      const linksBefore = await linkNames();
      await assert.rejects(network.link("c3"), (e) => {
        assert.ok(e instanceof IpamExhaustedError, `not an IpamExhaustedError: ${e}`);
        assert.equal(e.subnet, "2001:db8:1::/126");
        return true;
      });
      assert.deepEqual(await linkNames(), linksBefore);
      const record = readRecord(stateDir, network.name)!;
      assert.deepEqual(Object.keys(record.pools.v4!.allocated).sort(), [
        "198.51.100.2",
        "198.51.100.3",
      ]);
      assert.deepEqual(network.endpoints(), ["c1", "c2"]);
    });
  });
});
