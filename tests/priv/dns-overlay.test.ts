/**
 * Privileged test of overlay networks' names across hosts (issue 17): two simulated hosts
 * (network namespaces, one nslink process each, each with its own state directory and its own
 * host agent started on demand) and a one-member etcd inside the throw-away namespace. A
 * container on host B is found by name from a container on host A, through A's agent (which
 * follows the store), with real `dig` and `getent`; its names go when it is unlinked and when
 * its host leaves the network.
 *
 * Names outside the network go to a dead local upstream (127.0.0.1#5399 in the host's
 * namespace): nothing is ever forwarded out of the sandbox.
 *
 * Run through `scripts/in-netns.sh` only.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import type { Interface } from "../../mod.ts";
import { exec, isRoot, runId, SKIP_ROOT } from "./_helpers.ts";
import { dig as digAt } from "./_dig.ts";
import { bare, etcdHosts, type Host, startAgent, until } from "./_overlay_cluster.ts";

const P = runId();
const OPTS = { skip: SKIP_ROOT, timeout: 120_000 };
const GW = "203.0.113.1";

const cluster = etcdHosts(P, 2);
const { hosts } = cluster;
/** The host processes started, in order (the second test goes on with the first's). */
const running: Host[] = [];

/** A simulated host's state directory (as `_overlay_host.ts` names it). */
function stateDirOf(ns: string): string {
  return `/run/nslink-host-${statSync(`/run/netns/${ns}`).ino}`;
}

async function host(i: number): Promise<Host> {
  const h = await cluster.host(i);
  running.push(h);
  return h;
}

/** dig from a container to its gateway (2 s for the one try). */
const dig = (ns: string, args: string[]) => digAt(ns, GW, args, 2);

before(async () => {
  if (isRoot) await cluster.setUp();
});

after(async () => {
  if (!isRoot) return;
  await cluster.tearDown();
  for (const name of ["web", "client", "api"]) {
    if (existsSync(`/run/netns/${name}`)) await exec(["ip", "netns", "del", name]);
  }
});

describe("overlay networks' names across hosts", OPTS, () => {
  it(
    "a container on host B answers by name, alias and NAME.dns.nslink (A, AAAA, PTR) on host A; gone after unlink and when B leaves",
    OPTS,
    async () => {
      const [a, b] = [await host(0), await host(1)];
      const net = `${P}ov`;
      const options = {
        subnet: "203.0.113.0/24",
        subnetIPv6: "2001:db8:30::/64",
        store: cluster.url(),
        dnsServers: ["127.0.0.1#5399"],
      };
      await a.call("new", { name: net, options: { ...options, advertise: hosts[0].v4 } });
      await b.call("new", { name: net, options: { ...options, advertise: hosts[1].v4 } });
      // Both hosts' agents listen on their own gateway (the same address, on each host's bridge).
      for (const h of hosts) {
        const r = await exec(["ip", "netns", "exec", h.ns, "ss", "-lnuH", "sport", "=", ":53"]);
        assert.match(r.stdout, new RegExp(`${GW.replaceAll(".", "\\.")}:53`), h.ns);
      }
      const web = ((await b.call("link", { name: net, endpoints: ["web"], aliases: ["www"] }))
        .interfaces as Record<string, Interface>).web;
      await a.call("link", { name: net, endpoints: ["client"] });
      const v4 = bare(web.address!);
      const v6 = bare(web.addressIPv6!);

      // Host A's agent learns B's endpoint from the store's watch: wait for it (a deadline).
      await until(
        "web.dns.nslink on host A",
        async () => (await dig("client", ["web.dns.nslink", "A"])).answers.includes(`A ${v4}`),
        15_000,
      );
      for (const name of ["web", "www", "WEB.dns.nslink", "www.dns.nslink"]) {
        assert.deepEqual((await dig("client", [name, "A"])).answers, [`A ${v4}`], name);
        assert.deepEqual((await dig("client", [name, "AAAA"])).answers, [`AAAA ${v6}`], name);
      }
      const ptr4 = await dig("client", ["-x", v4]);
      assert.ok(ptr4.answers.includes("PTR web.dns.nslink."), JSON.stringify(ptr4));
      const ptr6 = await dig("client", ["-x", v6]);
      assert.ok(ptr6.answers.includes("PTR web.dns.nslink."), JSON.stringify(ptr6));
      // From host B too (its own endpoint, from its local state), and A's from B.
      await until(
        "client.dns.nslink on host B",
        async () => (await dig("web", ["client.dns.nslink", "A"])).answers.length === 1,
        15_000,
      );
      // Through the resolver library of a named namespace (ip netns exec: /etc/netns/client).
      const g = await exec(["ip", "netns", "exec", "client", "getent", "ahostsv4", "www"]);
      assert.equal(g.code, 0, g.stderr);
      assert.match(g.stdout, new RegExp(`^${v4.replaceAll(".", "\\.")}\\s`));
      const h = await exec(["ip", "netns", "exec", "client", "getent", "hosts", "web"]);
      assert.equal(h.code, 0, h.stderr);
      assert.match(h.stdout, /^2001:db8:30::\w+\s+web\.dns\.nslink/);

      // Unlinked on B: gone on A (NXDOMAIN inside dns.nslink, never forwarded).
      await b.call("unlink", { name: net, endpoint: "web" });
      await until(
        "web.dns.nslink gone on host A",
        async () => (await dig("client", ["web.dns.nslink", "A"])).status === "NXDOMAIN",
        15_000,
      );
      assert.equal((await dig("client", ["www.dns.nslink", "AAAA"])).status, "NXDOMAIN");
      assert.deepEqual((await dig("client", ["-x", v4])).answers, []);

      // Host B leaves the network: its endpoints' names go with it.
      const api = ((await b.call("link", { name: net, endpoints: ["api"] })).interfaces as Record<
        string,
        Interface
      >).api;
      await until(
        "api.dns.nslink on host A",
        async () =>
          (await dig("client", ["api.dns.nslink", "A"])).answers.includes(
            `A ${bare(api.address!)}`,
          ),
        15_000,
      );
      await b.call("delete", { name: net });
      await until(
        "api.dns.nslink gone on host A",
        async () => (await dig("client", ["api.dns.nslink", "A"])).status === "NXDOMAIN",
        15_000,
      );
      await a.call("unlink", { name: net, endpoint: "client" });
      await a.call("delete", { name: net });
    },
  );

  it(
    "nslink agent run by a service manager takes over from the on-demand one, serves other hosts' names, stops on SIGTERM",
    OPTS,
    async () => {
      const [a, b] = [running[0], running[1]];
      const net = `${P}ov2`;
      const options = {
        subnet: "203.0.113.0/24",
        store: cluster.url(),
        dnsServers: ["127.0.0.1#5399"],
      };
      await a.call("new", { name: net, options: { ...options, advertise: hosts[0].v4 } });
      await b.call("new", { name: net, options: { ...options, advertise: hosts[1].v4 } });
      await a.call("link", { name: net, endpoints: ["client"] });
      const agent = startAgent(hosts[0].ns, stateDirOf(hosts[0].ns), [
        "--store",
        cluster.url(),
        "--advertise",
        hosts[0].v4,
        net,
      ]);
      try {
        await agent.ready("the agent to serve", () => agent.err.includes("serving"), 20_000);
        const web = ((await b.call("link", { name: net, endpoints: ["web"], aliases: ["www"] }))
          .interfaces as Record<string, Interface>).web;
        await until(
          "www.dns.nslink on host A",
          async () =>
            (await dig("client", ["www.dns.nslink", "A"])).answers.includes(
              `A ${bare(web.address!)}`,
            ),
          15_000,
        );
        await b.call("unlink", { name: net, endpoint: "web" });
      } finally {
        await agent.stop();
      }
      const [code, signal] = await agent.exited;
      assert.match(agent.out, /stopped\n$/, agent.err);
      assert.ok(code === 0 || (code === null && signal === "SIGTERM"), `exit ${code} ${signal}`);
      await a.call("unlink", { name: net, endpoint: "client" });
      await a.call("delete", { name: net });
      await b.call("delete", { name: net });
    },
  );
});
