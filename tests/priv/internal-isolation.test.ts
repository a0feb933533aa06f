/**
 * Privileged test of `internal: true` against other networks' published ports (issue 15,
 * point 3), with real traffic as `firewall-e2e.test.ts`: the test's namespace is the host, an
 * "outside" namespace is routed through it, and three bridge networks hold containers: `pub`
 * publishes a port, `peer` is an ordinary network (the positive control), `int` is internal.
 *
 * A published port is DNAT to any local address, the internal bridge's own gateway included;
 * the forward chain used to jump to the publishing network's chain (which accepts DNATed flows)
 * before the internal network's drop, so a container of an internal network reached any other
 * network's published ports. Internal means nothing leaves the bridge: from an internal network,
 * its gateway, the other bridges' gateways, the host's other addresses and 127.0.0.1 all fail,
 * while the very same probes from the ordinary network and from the outside get through.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { type Network, type NetworkOptions, newNetwork } from "../../mod.ts";
import { type Cleanup, exec, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { keepSysctls } from "./_nft_helpers.ts";
import {
  assertPing,
  cleanupNewVeths,
  linkedContainer,
  setUpNetworkTestFile,
  tempStateDir,
} from "./_network_helpers.ts";
import { HOST4, HOST6, OUT4, OUT6, outside, probe, server, settled } from "./_traffic.ts";

const { prefix: P } = setUpNetworkTestFile();

/** A container of the test: `/run/netns/${P}NAME`, linked and configured (see linkedContainer). */
const container = (
  c: Cleanup,
  net: Network,
  name: string,
  options: Record<string, unknown> = {},
) => linkedContainer(c, net, P, name, options);

/** Runs `ip ARGS` inside a named namespace, failing the test when it fails. */
async function ipIn(netns: string, ...args: string[]): Promise<void> {
  const r = await exec(["ip", "-n", netns, ...args]);
  assert.equal(r.code, 0, `ip -n ${netns} ${args.join(" ")}: ${r.stderr}`);
}

describe("internal networks and other networks' published ports (real traffic)", () => {
  it("from an internal network no published port is reachable; from others it is", {
    skip: SKIP_ROOT,
    timeout: 120_000,
  }, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      keepSysctls(c);
      const out = `${P}o`;
      await outside(c, out, `${P}x`);
      // One state directory: the firewall is made from every network saved there.
      const stateDir = tempStateDir();
      const network = async (name: string, bridgeName: string, options: NetworkOptions) => {
        c.link(bridgeName);
        const n = await newNetwork("bridge", name, { stateDir, bridgeName, ...options });
        c.defer(`delete ${name}`, () => n.delete());
        return n;
      };
      const pub = await network(`${P}-pub`, `${P}bp`, {
        subnet: "198.51.100.0/26",
        subnetIPv6: "2001:db8:1::/64",
      });
      const peer = await network(`${P}-peer`, `${P}bq`, {
        subnet: "198.51.100.64/26",
        subnetIPv6: "2001:db8:3::/64",
      });
      const int = await network(`${P}-int`, `${P}bi`, {
        subnet: "198.51.100.128/26",
        subnetIPv6: "2001:db8:4::/64",
        internal: true,
      });
      const web = await container(c, pub, "web", {
        ports: [
          { hostPort: 8080, port: 80 },
          { hostPort: 5353, port: 53, protocol: "udp" },
        ],
      });
      const p1 = await container(c, peer, "p1");
      const i1 = await container(c, int, "i1");
      await server(c, web.netns, "web");
      await server(c, i1.netns, "i1");
      // The internal container's own network works: its gateway answers.
      await assertPing(i1.ns.path, "198.51.100.129");
      await assertPing(i1.ns.path, "2001:db8:4::1");

      // Positive controls: the outside, the host itself and an ordinary network reach the port,
      // through every address the internal container tries below.
      const reached = /^web from=/;
      assert.equal(
        await settled(`web from=${OUT4}`, [out, "tcp", HOST4, 8080]),
        `web from=${OUT4}`,
      );
      assert.equal(
        await settled(`web from=${OUT6}`, [out, "tcp", HOST6, 8080]),
        `web from=${OUT6}`,
      );
      assert.match(await probe(undefined, "tcp", "127.0.0.1", 8080), reached);
      for (const to of ["198.51.100.65", "2001:db8:3::1", "198.51.100.1", HOST4, HOST6]) {
        assert.match(await settled(reached, [p1.netns, "tcp", to, 8080]), reached, `peer → ${to}`);
      }
      assert.match(await probe(p1.netns, "udp", "198.51.100.65", 5353), reached);

      // From the internal network: its own gateway, the other bridges' gateways (host
      // addresses too), the host's outside addresses: nothing gets through, TCP or UDP. Every
      // answer is collected, so that a failure lists every way through.
      const leaks: string[] = [];
      const blocked = async (proto: "tcp" | "udp", to: string, port: number) => {
        const got = await probe(i1.netns, proto, to, port);
        if (!got.startsWith("FAIL")) leaks.push(`${proto} ${to}:${port} → ${got}`);
      };
      for (
        const to of [
          "198.51.100.129",
          "2001:db8:4::1",
          "198.51.100.1",
          "198.51.100.65",
          "2001:db8:1::1",
          HOST4,
          HOST6,
        ]
      ) {
        await blocked("tcp", to, 8080);
      }
      await blocked("udp", "198.51.100.129", 5353);
      await blocked("udp", HOST4, 5353);
      // 127.0.0.1 in a container is the container's own loopback: it never reaches the host
      // (for an ordinary network neither). The honest version of the case: the container's
      // root routes 127.0.0.1 to the gateway itself (local routes gone, route_localnet on), so
      // the packet does reach the host with that destination, and must still get nowhere.
      await blocked("tcp", "127.0.0.1", 8080);
      await ipIn(i1.netns, "route", "del", "local", "127.0.0.1", "dev", "lo", "table", "local");
      await ipIn(i1.netns, "route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local");
      const sysctl = await exec([
        "ip",
        "netns",
        "exec",
        i1.netns,
        "sysctl",
        "-qw",
        "net.ipv4.conf.all.route_localnet=1",
        "net.ipv4.conf.eth0.route_localnet=1",
      ]);
      assert.equal(sysctl.code, 0, sysctl.stderr);
      await ipIn(i1.netns, "route", "add", "127.0.0.1/32", "via", "198.51.100.129", "dev", "eth0");
      await blocked("tcp", "127.0.0.1", 8080);

      // The host itself (a server in the test's namespace, named for `ip netns exec`): from the
      // internal network through its gateway, as Docker's internal networks reach theirs (DNS);
      // not through the host's other addresses, which are beyond the bridge.
      const host = `${P}h`;
      c.netns(host);
      const attach = await exec(["ip", "netns", "attach", host, String(process.pid)]);
      assert.equal(attach.code, 0, attach.stderr);
      await server(c, host, "host", 9000, 9053);
      assert.match(await probe(p1.netns, "tcp", HOST4, 9000), /^host from=/);
      assert.equal(
        await probe(i1.netns, "tcp", "198.51.100.129", 9000),
        "host from=198.51.100.130",
      );
      assert.equal(await probe(i1.netns, "tcp", "2001:db8:4::1", 9000), "host from=2001:db8:4::2");
      assert.equal(
        await probe(i1.netns, "udp", "198.51.100.129", 9053),
        "host from=198.51.100.130",
      );
      for (const to of ["198.51.100.1", "2001:db8:1::1", HOST4, HOST6]) {
        await blocked("tcp", to, 9000);
      }
      await blocked("udp", HOST4, 9053);
      assert.deepEqual(leaks, [], "from the internal network");

      // Nothing into the internal network from the others either (its server is up).
      assert.match(await probe(p1.netns, "tcp", "198.51.100.130", 80), /^FAIL/);
      assert.match(await probe(out, "tcp", "198.51.100.130", 80), /^FAIL/);
    });
  });
});
