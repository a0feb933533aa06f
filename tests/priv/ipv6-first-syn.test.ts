/**
 * Privileged test of IPv6 on a just-made bridge (issue 15, point 9): a container is reachable
 * over IPv6 the moment `addInterface` returns. The first forwarded SYNs to a container on a new
 * bridge used to be lost for 1–2 s: the host resolves the container's address on the bridge
 * with a neighbour solicitation, which the kernel sends only from a usable link-local address
 * of the bridge, and that one was still tentative (duplicate address detection).
 *
 * Real traffic, as `firewall-e2e.test.ts`: an "outside" namespace routed through the host, a
 * published port, and the container reaching out. "On its first SYN" is checked by the client
 * namespace's own counter of SYN retransmissions (`TcpExt: TCPSynRetrans`), not by timing.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { exec, ipJson, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  bridgeNetwork,
  cleanupNewVeths,
  namespaceAt,
  nsName,
  setUpNetworkTestFile,
  waitFor,
} from "./_network_helpers.ts";
import { HOST6, OUT6, outside, probe, server } from "./_traffic.ts";

const { prefix: P } = setUpNetworkTestFile();

/** A namespace's count of SYN retransmissions (`/proc/net/netstat`, `TcpExt: TCPSynRetrans`). */
async function synRetrans(netns: string): Promise<number> {
  const r = await exec(["ip", "netns", "exec", netns, "cat", "/proc/net/netstat"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n").filter((l) => l.startsWith("TcpExt:"));
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/);
  const i = names.indexOf("TCPSynRetrans");
  assert.ok(i > 0, "TcpExt has TCPSynRetrans");
  return Number(values[i]);
}

/** Whether a link has an IPv6 address still in duplicate address detection. */
async function tentative(dev: string, netns?: string): Promise<boolean> {
  const [l] = await ipJson<{ addr_info: { family: string; tentative?: boolean }[] }[]>([
    ...(netns ? ["-n", netns] : []),
    "addr",
    "show",
    "dev",
    dev,
  ]);
  return l.addr_info.some((a) => a.family === "inet6" && a.tentative);
}

describe("IPv6 through a new bridge", () => {
  it("a published port and the way out answer the first SYN right after the first link", {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      for (
        const key of ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"]
      ) {
        const path = `/proc/sys/${key}`;
        if (!existsSync(path)) continue;
        const was = readFileSync(path, "utf8").trim();
        c.defer(`restore ${key}`, () => writeFileSync(path, was));
      }
      // The outside's own link, not nslink's, is made ready first.
      const out = `${P}o`;
      await outside(c, out, `${P}x`);
      assert.ok(
        await waitFor(
          async () => !await tentative(`${P}x`) && !await tentative("eth0", out),
          10_000,
        ),
        "the outside link leaves DAD",
      );
      await server(c, out, "out");

      const { network } = await bridgeNetwork(c, `${P}-v6`, `${P}br`, {
        subnet: "198.51.100.0/24",
        subnetIPv6: "2001:db8:1::/64",
      });
      const ns = await namespaceAt(c, `/run/netns/${P}c1`);
      const netns = nsName(ns.path);
      // The container's server listens before it has an interface: nothing waits after link.
      await server(c, netns, "c1");
      const outBefore = await synRetrans(out);
      const [iface] = await network.link("c1", {
        namespace: ns,
        ports: [{ hostPort: 8080, port: 80 }],
      });
      c.defer("unlink c1", () => network.unlink("c1"));
      await ns.addInterface(iface);

      // In from the outside, through the published port: the host forwards to the container.
      assert.equal(await probe(out, "tcp", HOST6, 8080), `c1 from=${OUT6}`);
      assert.equal(await synRetrans(out), outBefore, "SYN retransmissions from the outside");
      // Independently: no IPv6 address of the bridge was waiting for duplicate address detection.
      assert.equal(await tentative(`${P}br`), false, "a tentative address on the bridge");
      // Out from the container (masqueraded).
      const inBefore = await synRetrans(netns);
      assert.equal(await probe(netns, "tcp", OUT6, 80), `out from=${HOST6}`);
      assert.equal(await synRetrans(netns), inBefore, "SYN retransmissions from the container");

      // The last container leaves (the bridge loses its carrier), a new one comes: the same.
      await network.unlink("c1");
      const ns2 = await namespaceAt(c, `/run/netns/${P}c2`);
      const netns2 = nsName(ns2.path);
      await server(c, netns2, "c2");
      const again = await synRetrans(out);
      const [iface2] = await network.link("c2", {
        namespace: ns2,
        ports: [{ hostPort: 8080, port: 80 }],
      });
      c.defer("unlink c2", () => network.unlink("c2"));
      await ns2.addInterface(iface2);
      assert.equal(await probe(out, "tcp", HOST6, 8080), `c2 from=${OUT6}`);
      assert.equal(await synRetrans(out), again, "SYN retransmissions to the second container");
    });
  });
});
