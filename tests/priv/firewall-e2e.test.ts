/**
 * Published ports, masquerade and isolation end to end, with real traffic: the test's
 * namespace is the host; an "outside" client namespace is joined to it by a veth
 * (203.0.113.1 ↔ .2, 2001:db8:2::1 ↔ ::2); containers sit on two nslink bridge networks.
 * Rules are read back independently with `nft -j`, conntrack entries with `conntrack -L`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import {
  forwardDropChains,
  gc,
  type Network,
  newNetwork,
  openNetwork,
  repairFirewall,
} from "../../mod.ts";
import { agentOffForTests } from "./_agent_helpers.ts";
import { type Cleanup, exec, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { keepSysctls, nft } from "./_nft_helpers.ts";
import {
  bridgePorts,
  cleanupNewVeths,
  linkedContainer,
  setUpNetworkTestFile,
  tempStateDir,
  waitFor,
} from "./_network_helpers.ts";
import { BLOCKED, HOST4, HOST6, OUT4, OUT6, outside, probe, server, settled } from "./_traffic.ts";

const { prefix: P } = setUpNetworkTestFile();
// No host agent: its firewall repair would put back at once what these tests remove on purpose
// to watch repairFirewall() and gc do it (agent-firewall.test.ts tests the agent's repair).
let agentBack = () => {};
before(() => void (agentBack = agentOffForTests()));
after(() => agentBack());

interface NftJsonElem {
  elem?: { val?: unknown; concat?: unknown[] };
}

/** The host ports in a map of nslink's table, read with `nft -j`. */
async function mapPorts(map: string): Promise<number[]> {
  const json = JSON.parse(await nft("-j", "list", "map", "inet", "nslink", map));
  const m = json.nftables.find((x: { map?: unknown }) => x.map).map;
  return ((m.elem ?? []) as unknown[][]).map((pair) => {
    const key = pair[0] as { concat: unknown[] };
    return key.concat[key.concat.length - 1] as number;
  }).sort((a, b) => a - b);
}

async function conntrackLines(): Promise<string[]> {
  const r = await exec(["conntrack", "-L"]);
  return r.stdout.split("\n").filter((l) => l.trim() !== "");
}

/** A container of the test: `/run/netns/${P}NAME`, linked and configured (see linkedContainer). */
const container = (
  c: Cleanup,
  net: Network,
  name: string,
  options: Record<string, unknown> = {},
) => linkedContainer(c, net, P, name, options);

describe("firewall: published ports, masquerade, isolation (real traffic)", () => {
  it(
    "inbound, outbound, host, hairpin, isolation, publish/unpublish, conflicts, UDP conntrack, atomic failure, flush + repair, teardown",
    { skip: SKIP_ROOT, timeout: 90_000 },
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        keepSysctls(c);
        const stateDir = tempStateDir();
        const out = `${P}o`;
        await outside(c, out, `${P}x`);
        c.link(`${P}ba`);
        c.link(`${P}bb`);
        const a = await newNetwork("bridge", `${P}a`, {
          stateDir,
          bridgeName: `${P}ba`,
          subnet: "198.51.100.0/25",
          subnetIPv6: "2001:db8:1::/64",
        });
        c.defer("delete a", () => a.delete());
        const b = await newNetwork("bridge", `${P}b`, {
          stateDir,
          bridgeName: `${P}bb`,
          subnet: "198.51.100.128/25",
        });
        c.defer("delete b", () => b.delete());
        assert.equal(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim(), "1");
        assert.equal(
          readFileSync("/proc/sys/net/ipv6/conf/all/forwarding", "utf8").trim(),
          "1",
        );

        const c1 = await container(c, a, "c1", {
          ports: [
            { hostPort: 8080, port: 80 },
            { hostPort: 5353, port: 53, protocol: "udp", hostIP: HOST4 },
            { hostPort: 0, port: 443 },
          ],
        });
        const c2 = await container(c, b, "c2");
        await server(c, c1.netns, "c1");
        await server(c, c2.netns, "c2");
        await server(c, out, "out");

        // The bindings, chosen port filled in, from the saved state.
        const ports = await a.ports("c1");
        assert.deepEqual(ports.slice(0, 2), [
          { protocol: "tcp", hostIP: "", hostPort: 8080, port: 80 },
          { protocol: "udp", hostIP: HOST4, hostPort: 5353, port: 53 },
        ]);
        const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim()
          .split(/\s+/).map(Number);
        assert.equal(ports[2].port, 443);
        assert.ok(ports[2].hostPort >= lo && ports[2].hostPort <= hi, String(ports[2].hostPort));
        // Independently: one element per port in the maps, no rule per port.
        assert.deepEqual(await mapPorts("pub4"), [8080, ports[2].hostPort].sort((x, y) => x - y));
        assert.deepEqual(await mapPorts("pub6"), [8080, ports[2].hostPort].sort((x, y) => x - y));
        assert.deepEqual(await mapPorts("pub4a"), [5353]);
        const rulesBefore = (await nft("-a", "list", "table", "inet", "nslink")).split("\n")
          .filter((l) => l.includes("# handle")).length;

        // Inbound, TCP and UDP, IPv4 and IPv6: the container sees the client's address.
        assert.equal(
          await settled(`c1 from=${OUT4}`, [out, "tcp", HOST4, 8080]),
          `c1 from=${OUT4}`,
        );
        assert.equal(
          await settled(`c1 from=${OUT6}`, [out, "tcp", HOST6, 8080]),
          `c1 from=${OUT6}`,
        );
        assert.equal(await probe(out, "udp", HOST4, 5353), `c1 from=${OUT4}`);
        // Outbound: the outside sees the host's address (masquerade).
        assert.equal(await probe(c1.netns, "tcp", OUT4, 80), `out from=${HOST4}`);
        assert.equal(await probe(c1.netns, "tcp", OUT6, 80), `out from=${HOST6}`);
        assert.equal(await probe(c2.netns, "udp", OUT4, 53), `out from=${HOST4}`);
        // From the host itself: its own address, and 127.0.0.1 (route_localnet + masquerade).
        assert.match(await probe(undefined, "tcp", HOST4, 8080), /^c1 from=/);
        assert.match(await probe(undefined, "tcp", "127.0.0.1", 8080), /^c1 from=198\.51\.100\.1$/);
        // Hairpin: its own published port, and another network's container through it.
        assert.match(await probe(c1.netns, "tcp", HOST4, 8080), /^c1 from=/);
        assert.match(await probe(c2.netns, "tcp", HOST4, 8080), /^c1 from=/);
        // Isolation: network B cannot reach network A's container directly.
        assert.match(await probe(c2.netns, "tcp", "198.51.100.2", 80), BLOCKED);
        assert.match(await probe(c1.netns, "tcp", "198.51.100.130", 80), BLOCKED);

        // publish / unpublish, seen by another process's view of the state too.
        const added = await a.publish("c1", [{ hostPort: 9090, port: 53, protocol: "udp" }]);
        assert.deepEqual(added, [{ protocol: "udp", hostIP: "", hostPort: 9090, port: 53 }]);
        assert.equal(await probe(out, "udp", HOST4, 9090), `c1 from=${OUT4}`);
        assert.equal(await probe(out, "udp", HOST6, 9090), `c1 from=${OUT6}`);
        // One host address (IPv6 here), and every address of one family (0.0.0.0).
        await a.publish("c1", [
          { hostPort: 8443, port: 80, hostIP: HOST6 },
          { hostPort: 8444, port: 80, hostIP: "0.0.0.0" },
        ]);
        assert.equal(await probe(out, "tcp", HOST6, 8443), `c1 from=${OUT6}`);
        assert.match(await probe(out, "tcp", HOST4, 8443), BLOCKED);
        assert.equal(await probe(out, "tcp", HOST4, 8444), `c1 from=${OUT4}`);
        assert.match(await probe(out, "tcp", HOST6, 8444), BLOCKED);
        await assert.rejects(
          b.publish("c2", [{ hostPort: 8444, port: 80, hostIP: HOST4 }]),
          /Port tcp 203\.0\.113\.1:8444 is already published by endpoint "c1"/,
        );
        await a.unpublish("c1", [{ hostPort: 8443, hostIP: "2001:db8:2:0::1" }, {
          hostPort: 8444,
        }]);
        // SCTP: this kernel has no SCTP sockets to carry traffic, but the map takes the port.
        await a.publish("c1", [{ hostPort: 3868, port: 3868, protocol: "sctp" }]);
        assert.match(await nft("list", "map", "inet", "nslink", "pub4"), /sctp \. 3868 :/);
        await a.unpublish("c1", [{ hostPort: 3868, protocol: "sctp" }]);
        assert.equal((await a.ports("c1")).length, 4);
        // Part of the saved state: another opener sees the same ports.
        const reopened = await openNetwork(`${P}a`, { stateDir });
        assert.deepEqual(await reopened.ports("c1"), await a.ports("c1"));
        // A conflict on any nslink network is refused, naming the holder; nothing changes.
        await assert.rejects(
          b.publish("c2", [{ hostPort: 8080, port: 80 }]),
          new RegExp(`already published by endpoint "c1" of network "${P}a"`),
        );
        await assert.rejects(
          b.publish("c2", [{ hostPort: 5353, port: 53, protocol: "udp" }]),
          /already published by endpoint "c1"/,
        );
        assert.deepEqual(await b.ports("c2"), []);
        assert.deepEqual(
          await a.unpublish("c1", [{ hostPort: 9090, protocol: "udp" }]),
          added,
        );
        assert.match(await probe(out, "udp", HOST4, 9090), BLOCKED);
        assert.equal((await a.ports("c1")).length, 3);
        // Port ranges, as Docker has them.
        const range = await b.publish("c2", [{ hostPort: "7000-7001", port: "80-81" }]);
        assert.deepEqual(range.map((x) => [x.hostPort, x.port]), [[7000, 80], [7001, 81]]);
        assert.equal(await probe(out, "tcp", HOST4, 7000), `c2 from=${OUT4}`);
        assert.deepEqual(await b.unpublish("c2"), range);

        // A UDP flow seen before its port was published gets NATed once it is (conntrack).
        assert.match(await probe(out, "udp", HOST4, 7070, 40000), BLOCKED);
        assert.ok((await conntrackLines()).some((l) => l.includes("dport=7070")));
        await a.publish("c1", [{ hostPort: 7070, port: 53, protocol: "udp" }]);
        assert.equal(await probe(out, "udp", HOST4, 7070, 40000), `c1 from=${OUT4}`);

        // A failure in the middle of a publish (an element someone else added) changes nothing.
        await nft("add", "element", "inet", "nslink", "pub4", "{ tcp . 6061 : 198.51.100.99 . 1 }");
        const before = await a.ports("c1");
        await assert.rejects(
          a.publish("c1", [{ hostPort: 6060, port: 80 }, { hostPort: 6061, port: 80 }]),
          /NFT_MSG_NEWSETELEM map inet nslink pub4 element .*: EEXIST/,
        );
        assert.deepEqual(await a.ports("c1"), before);
        assert.ok(!(await mapPorts("pub4")).includes(6060));
        await nft("delete", "element", "inet", "nslink", "pub4", "{ tcp . 6061 }");
        // Still no rule per port.
        assert.equal(
          (await nft("-a", "list", "table", "inet", "nslink")).split("\n")
            .filter((l) => l.includes("# handle")).length,
          rulesBefore,
        );

        // Another table's FORWARD drop policy is detected.
        await nft("add", "table", "ip", `${P}f`);
        c.defer("delete drop table", async () => {
          await exec(["nft", "delete", "table", "ip", `${P}f`]);
        });
        await nft(
          "add",
          "chain",
          "ip",
          `${P}f`,
          "FORWARD",
          "{ type filter hook forward priority 0; policy drop; }",
        );
        assert.deepEqual(forwardDropChains(), [`table ip ${P}f chain FORWARD`]);
        await nft("delete", "table", "ip", `${P}f`);
        assert.deepEqual(forwardDropChains(), []);

        // `nft flush ruleset` (a firewall reload) removes everything; repairFirewall() restores it.
        const ruleset = await nft("list", "ruleset");
        await nft("flush", "ruleset");
        assert.match(await probe(out, "tcp", HOST4, 8080), BLOCKED);
        await repairFirewall({ stateDir });
        await repairFirewall({ stateDir }); // idempotent
        assert.equal(await nft("list", "ruleset"), ruleset);
        assert.equal(await probe(out, "tcp", HOST4, 8080), `c1 from=${OUT4}`);

        // Teardown: unlink removes the container's ports and flows, delete() its rules, and the
        // last network takes nslink's table with it.
        await a.unlink("c1");
        assert.deepEqual(await mapPorts("pub4"), []);
        assert.deepEqual(await mapPorts("pub4a"), []);
        await a.delete();
        await b.unlink("c2");
        await b.delete();
        assert.equal((await nft("list", "ruleset")).trim(), "");
        const left = (await conntrackLines()).filter((l) =>
          l.includes("198.51.100.") || l.includes("2001:db8:1::")
        );
        assert.deepEqual(left, []);
      });
    },
  );

  it("gc() of a container whose namespace went without unlink removes its ports and claims", {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      keepSysctls(c);
      const stateDir = tempStateDir();
      c.link(`${P}bg`);
      const n = await newNetwork("bridge", `${P}g`, {
        stateDir,
        bridgeName: `${P}bg`,
        subnet: "198.51.100.0/25",
      });
      c.defer("delete g", () => n.delete());
      const gone = await container(c, n, "gone", { ports: [{ hostPort: 8090, port: 80 }] });
      assert.deepEqual(await mapPorts("pub4"), [8090]);
      await gone.ns.delete();
      // The kernel removes the veth pair with the namespace (asynchronously: wait for it); then
      // one gc() pass forgets the endpoint.
      assert.ok(
        await waitFor(async () => (await bridgePorts(`${P}bg`)).length === 0, 10_000),
        "the veth of the deleted namespace is still on the bridge after 10 s",
      );
      await gc({ stateDir });
      assert.equal(n.endpoint("gone"), undefined);
      assert.deepEqual(await mapPorts("pub4"), []);
      // The port is free again for another container.
      const other = await container(c, n, "other", { ports: [{ hostPort: 8090, port: 80 }] });
      assert.deepEqual(await n.ports("other"), [
        { protocol: "tcp", hostIP: "", hostPort: 8090, port: 80 },
      ]);
      await other.ns.delete();
      await n.unlink("other");
      await n.delete();
    });
  });

  it("icc: false walls containers of one network off; internal: true lets nothing out", {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      keepSysctls(c);
      const stateDir = tempStateDir();
      const out = `${P}p`;
      await outside(c, out, `${P}y`);
      c.link(`${P}bc`);
      c.link(`${P}bd`);
      const n = await newNetwork("bridge", `${P}c`, {
        stateDir,
        bridgeName: `${P}bc`,
        subnet: "198.51.100.0/25",
        icc: false,
      });
      c.defer("delete c", () => n.delete());
      const internal = await newNetwork("bridge", `${P}d`, {
        stateDir,
        bridgeName: `${P}bd`,
        subnet: "198.51.100.128/25",
        internal: true,
      });
      c.defer("delete d", () => internal.delete());
      await assert.rejects(
        newNetwork("bridge", `${P}e`, { stateDir, bridgeName: `${P}be`, icc: "no" }),
        /Bridge option "icc" must be true or false, got "no"/,
      );
      await assert.rejects(
        n.link("bad", { ports: [{ hostPort: 8081, port: 80, protocol: "icmp" }] }),
        /Invalid protocol "icmp"/,
      );
      const x = await container(c, n, "x", { ports: [{ hostPort: 8081, port: 80 }] });
      const y = await container(c, n, "y");
      const z = await container(c, internal, "z");
      await server(c, x.netns, "x");
      await server(c, y.netns, "y");
      await server(c, z.netns, "z");
      await server(c, out, "out");
      if (existsSync("/proc/sys/net/bridge/bridge-nf-call-iptables")) {
        assert.match(await probe(y.netns, "tcp", "198.51.100.2", 80), BLOCKED);
      }
      // Published ports still work, and so does the way out.
      assert.equal(await settled(`x from=${OUT4}`, [out, "tcp", HOST4, 8081]), `x from=${OUT4}`);
      assert.equal(await probe(y.netns, "tcp", OUT4, 80), `out from=${HOST4}`);
      // Internal: nothing out, nothing published.
      assert.match(await probe(z.netns, "tcp", OUT4, 80), BLOCKED);
      await assert.rejects(
        internal.publish("z", [{ hostPort: 8082, port: 80 }]),
        /is internal: it publishes no ports/,
      );
      await n.unlink("x");
      await n.unlink("y");
      await internal.unlink("z");
      await n.delete();
      await internal.delete();
      assert.equal((await nft("list", "ruleset")).trim(), "");
    });
  });
});
