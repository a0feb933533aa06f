/**
 * Privileged tests of the bridge's MAC address (issue 15, point 8): a Linux bridge made without
 * an address takes the lowest MAC among its ports and changes it as ports come and go, while
 * containers keep the gateway's old MAC in their neighbour tables. nslink's bridge gets a fixed
 * MAC at creation, and an adopted bridge is pinned at the MAC it had.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { newNetwork } from "../../mod.ts";
import { exec, ip, ipJson, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  bridgeNetwork,
  cleanupNewVeths,
  namespaceAt,
  ping,
  setUpNetworkTestFile,
  tempStateDir,
} from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();

/** The MAC the first container's neighbour table holds for `address` (`ip -j neigh`). */
async function neighbourMac(path: string, address: string): Promise<string | undefined> {
  const list = await ipJson<{ dst: string; lladdr?: string }[]>([
    "-n",
    path.slice("/run/netns/".length),
    "neigh",
    "show",
    "to",
    address,
  ]);
  return list.find((n) => n.dst === address)?.lladdr;
}

/** The bridge's own address (`ip -j link show dev NAME`). */
async function bridgeMac(name: string): Promise<string> {
  const [l] = await ipJson<{ address: string }[]>(["link", "show", "dev", name]);
  assert.ok(l, `bridge ${name} exists`);
  return l.address;
}

describe("bridge MAC", () => {
  it("stays the same while 100 containers join, and every container reaches the gateway at once", {
    skip: SKIP_ROOT,
    timeout: 180_000,
  }, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const bridge = `${P}br`;
      const { network } = await bridgeNetwork(c, `${P}-mac`, bridge, {
        subnet: "198.51.100.0/24",
        subnetIPv6: "2001:db8:8::/64",
      });
      const gateway = "198.51.100.1";
      const mac = await bridgeMac(bridge);
      // Docker's scheme: 02:42 and the IPv4 gateway.
      assert.equal(mac, "02:42:c6:33:64:01");
      const paths: string[] = [];
      for (let i = 0; i < 100; i++) {
        const path = `/run/netns/${P}c${i}`;
        const ns = await namespaceAt(c, path);
        const [iface] = await network.link(`c${i}`, { namespace: ns });
        c.defer(`unlink c${i}`, () => network.unlink(`c${i}`));
        await ns.addInterface(iface);
        paths.push(path);
        if (i === 0) {
          const r = await ping(path, gateway, 1);
          assert.equal(r.code, 0, `first ping of the gateway: ${r.stdout}${r.stderr}`);
          assert.equal(await neighbourMac(path, gateway), mac);
        }
        // Independently of nslink: the bridge's address, after every join.
        assert.equal(await bridgeMac(bridge), mac, `bridge MAC after container ${i} joined`);
      }
      // The first container still holds the same gateway MAC, which is still the bridge's.
      assert.equal(await neighbourMac(paths[0], gateway), mac);
      // Every container's first ping of the gateway (IPv4 and IPv6) answers, no retry.
      for (const path of paths) {
        for (const to of [gateway, "2001:db8:8::1"]) {
          const r = await ping(path, to, 1);
          assert.equal(r.code, 0, `ping ${to} from ${path}: ${r.stdout}${r.stderr}`);
        }
      }
      assert.equal(await neighbourMac(paths[0], gateway), mac);
    });
  });

  it("an adopted bridge keeps the MAC it had, and no longer follows its ports", {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const bridge = `${P}ad`;
      c.link(bridge);
      const made = await ip(["link", "add", bridge, "type", "bridge"]);
      assert.equal(made.code, 0, made.stderr);
      const mac = await bridgeMac(bridge);
      const stateDir = tempStateDir();
      const network = await newNetwork("bridge", `${P}-ad`, {
        stateDir,
        bridgeName: bridge,
        subnet: "203.0.113.0/24",
      });
      c.defer("network.delete()", () => network.delete());
      assert.equal(await bridgeMac(bridge), mac, "adopting changes no MAC");
      for (let i = 0; i < 8; i++) {
        const ns = await namespaceAt(c, `/run/netns/${P}a${i}`);
        const [iface] = await network.link(`a${i}`, { namespace: ns });
        c.defer(`unlink a${i}`, () => network.unlink(`a${i}`));
        await ns.addInterface(iface);
        assert.equal(await bridgeMac(bridge), mac, `bridge MAC after container ${i} joined`);
      }
      await network.delete();
      // Left in place, with the MAC it had.
      assert.equal(await bridgeMac(bridge), mac);
      const r = await exec(["ip", "link", "del", bridge]);
      assert.equal(r.code, 0, r.stderr);
    });
  });
});
