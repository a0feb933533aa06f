/**
 * Privileged tests of issue 16's overlay defects, on two simulated hosts (network namespaces,
 * one nslink process each) and a one-member etcd inside the throw-away namespace:
 *
 * - a management bridge (IPv4, 198.51.100.0/24) carries etcd's traffic and, for the IPv4 tests,
 *   VXLAN; an underlay bridge carries only IPv6 (2001:db8:10::/64): VXLAN over IPv6;
 * - a host is cut off from etcd by an nft rule in its namespace dropping TCP to port 2379
 *   (VXLAN untouched).
 *
 * Run through `scripts/in-netns.sh` only.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Interface, newNetwork, type OverlayNetwork } from "../../mod.ts";
import { EtcdClient } from "../../store/etcd.ts";
import { removeStateDir } from "./_agent_helpers.ts";
import { exec, ipJson, isRoot, runId, SKIP_ROOT, sleep } from "./_helpers.ts";
import {
  bare,
  cmd,
  etcdHosts,
  fdb,
  type Host,
  ping,
  startAgent,
  until,
} from "./_overlay_cluster.ts";
import { cni, nslinkArgv } from "./_cli_helpers.ts";

const P = runId();
const cluster = etcdHosts(P, 2, { ipv6Underlay: true });
const { hosts, host } = cluster;
const TTL = 2;
const OPTS = { skip: SKIP_ROOT, timeout: 90_000 };

/**
 * A network's options for host `i`: `extra` (the subnets) with the test's store and TTL, the
 * host advertising its IPv4 (management) or IPv6 (underlay) address.
 */
function options(i: number, extra: Record<string, unknown>, family: 4 | 6 = 4) {
  return {
    ...extra,
    store: cluster.url(),
    advertise: family === 4 ? hosts[i].v4 : hosts[i].v6,
    ttl: TTL,
  };
}

/** Both hosts (a process each) in a new network, both watching it. */
async function pair(
  name: string,
  extra: Record<string, unknown>,
  family: 4 | 6 = 4,
): Promise<{ h1: Host; h2: Host; vni: number }> {
  const h1 = await host(0, family);
  const h2 = await host(1, family);
  const vni = (await h1.call("new", { name, options: options(0, extra, family) })).vni as number;
  await h2.call("new", { name, options: options(1, extra, family) });
  await h1.call("watch", { name });
  await h2.call("watch", { name });
  return { h1, h2, vni };
}

/** The nslink table in a host's namespace, as `nft list` prints it. */
async function nftTable(ns: string): Promise<string> {
  return (await exec(["ip", "netns", "exec", ns, "nft", "list", "table", "inet", "nslink"])).stdout;
}

/** Cuts a host off from etcd (TCP to 2379 dropped in its namespace), or reconnects it. */
async function partition(i: number, on: boolean): Promise<void> {
  const ns = hosts[i].ns;
  if (on) {
    await cmd([
      "ip",
      "netns",
      "exec",
      ns,
      "nft",
      "add table inet cut; add chain inet cut o { type filter hook output priority 0; }; " +
      "add rule inet cut o tcp dport 2379 drop",
    ]);
  } else {
    await cmd(["ip", "netns", "exec", ns, "nft", "delete table inet cut"]);
  }
}

before(async () => {
  if (isRoot) await cluster.setUp();
});

after(async () => {
  if (isRoot) await cluster.tearDown();
});

describe("overlay networks, issue 16", OPTS, () => {
  it(
    "a second newNetwork that joins is not the creator: disposing of it unlinks nothing (defect 6)",
    OPTS,
    async () => {
      const name = `${P}-d6`;
      const opts = options(0, { subnet: "203.0.113.0/26" });
      const h1 = await host(0);
      const made = await h1.call("new", { name, options: opts });
      const vni = made.vni as number;
      await h1.link(name, [`${P}d6a`]);
      // A second process of the same host joins the network, then ends as `await using` would.
      const h1b = await host(0);
      await h1b.call("new", { name, options: opts });
      await h1b.call("dispose", { name });
      const client = new EtcdClient(cluster.url());
      assert.ok(
        await client.get(`/nslink/ov/${name}/endpoints/${P}d6a`),
        "the endpoint is still registered",
      );
      assert.equal(
        (await ipJson<unknown[]>(["-n", hosts[0].ns, "link", "show", `nslov${vni}`])).length,
        1,
        "the bridge is still there",
      );
      assert.ok(await ping(`${P}d6a`, "203.0.113.1"), "the container still reaches its gateway");
      await h1b.stop();
      await h1.call("delete", { name });
    },
  );

  it(
    "VXLAN over an IPv6-only underlay: containers on two hosts reach each other (defect 7)",
    OPTS,
    async () => {
      const name = `${P}-d7`;
      const { h1, h2, vni } = await pair(
        name,
        { subnet: "203.0.113.64/26", subnetIPv6: "2001:db8:20::/64" },
        6,
      );
      const a = (await h1.link(name, [`${P}d7a`]))[`${P}d7a`];
      const b = (await h2.link(name, [`${P}d7b`]))[`${P}d7b`];
      const [dev] = await ipJson<
        { mtu: number; linkinfo: { info_data: { local?: string; local6?: string } } }[]
      >(["-d", "-n", hosts[0].ns, "link", "show", `nslvx${vni}`]);
      const local = dev.linkinfo.info_data.local ?? dev.linkinfo.info_data.local6;
      assert.equal(local, hosts[0].v6, "the tunnel's local end is the IPv6 address");
      assert.equal(dev.mtu, 1500 - 70, "IPv6's VXLAN overhead is 70 bytes");
      await until(
        "h1's FDB entry for b over IPv6",
        async () =>
          (await fdb(hosts[0].ns, vni)).some((e) =>
            e.mac === b.macAddress && e.dst === hosts[1].v6
          ),
      );
      await until("a -> b over IPv4", () => ping(`${P}d7a`, bare(b.address)), 10_000);
      await until("b -> a over IPv6", () => ping(`${P}d7b`, bare(a.addressIPv6!)), 10_000);
      await h2.call("delete", { name });
      await h1.call("delete", { name });
    },
  );

  it(
    "a host cut off from etcd longer than the TTL keeps its addresses, is reachable again after, and reports a lost claim (defect 1)",
    OPTS,
    async () => {
      const name = `${P}-d1`;
      const { h1, h2, vni } = await pair(name, { subnet: "203.0.113.128/26" });
      const a = (await h1.link(name, [`${P}d1a`]))[`${P}d1a`];
      await h2.link(name, [`${P}d1b`]);
      await until("b -> a", () => ping(`${P}d1b`, bare(a.address)), 10_000);
      const hasA = async () => (await fdb(hosts[1].ns, vni)).some((e) => e.mac === a.macAddress);

      await partition(0, true);
      try {
        // h1's lease expires: h2 stops reaching a (its registration went with the lease).
        await until("h2 to drop a's entries (lease expired)", async () => !(await hasA()), 20_000);
        // a's address is still a's: a static link of it fails, dynamic links never get it.
        const taken = await h2.try("link", {
          name,
          endpoints: [`${P}d1x`],
          address: bare(a.address),
        });
        await exec(["ip", "netns", "del", `${P}d1x`]);
        assert.equal(taken.ok, false, "a's address was handed out again during the outage");
        const more = await h2.link(name, [`${P}d1y`, `${P}d1z`]);
        for (const i of Object.values(more)) assert.notEqual(bare(i.address), bare(a.address));
        await sleep(TTL * 1000); // well past the TTL
      } finally {
        await partition(0, false);
      }
      await until("h2 to reach a again", async () => await hasA(), 20_000);
      await until("b -> a again", () => ping(`${P}d1b`, bare(a.address)), 10_000);
      assert.deepEqual((await h1.call("conflicts", { name })).conflicts, []);

      // A claim lost meanwhile (removed behind nslink's back, then taken by another endpoint)
      // is reported as a conflict when the host registers again, never overwritten.
      await partition(0, true);
      try {
        await until("h2 to drop a's entries again", async () => !(await hasA()), 20_000);
        const client = new EtcdClient(cluster.url());
        await client.delete(`/nslink/ov/${name}/ipam/4/${bare(a.address)}`);
        await h2.link(name, [`${P}d1w`], bare(a.address));
      } finally {
        await partition(0, false);
      }
      await until("h1 to report the conflict", async () => {
        const c = (await h1.call("conflicts", { name })).conflicts as {
          key: string;
          holder: string;
        }[];
        return c.some((x) =>
          x.key.endsWith(`/ipam/4/${bare(a.address)}`) && x.holder === `${P}d1w`
        );
      }, 20_000);
      await h2.call("delete", { name });
      await h1.call("delete", { name });
    },
  );

  it(
    "kill -9 during links on an overlay network: gc on each host leaves nothing, never touches a live container",
    OPTS,
    async () => {
      const name = `${P}-k9`;
      const { h1, h2 } = await pair(name, { subnet: "203.0.113.192/26" });
      const live1 = (await h1.link(name, [`${P}k9l1`]))[`${P}k9l1`];
      const live2 = (await h2.link(name, [`${P}k9l2`]))[`${P}k9l2`];
      await until("l2 -> l1", () => ping(`${P}k9l2`, bare(live1.address)), 10_000);
      const client = new EtcdClient(cluster.url());
      const keys = async () =>
        (await client.range(`/nslink/ov/${name}/`, { prefix: true })).kvs.map((k) => k.key)
          .filter((k) => /\/(endpoints|ipam)\//.test(k)).sort();
      const expected = [
        `/nslink/ov/${name}/endpoints/${P}k9l1`,
        `/nslink/ov/${name}/endpoints/${P}k9l2`,
        `/nslink/ov/${name}/ipam/4/${bare(live1.address)}`,
        `/nslink/ov/${name}/ipam/4/${bare(live2.address)}`,
      ].sort();
      const hostLinks = async (i: number) =>
        (await ipJson<{ ifname: string }[]>(["-n", hosts[i].ns, "link", "show"]))
          .map((l) => l.ifname).filter((n) => n.startsWith("nslh"));
      const before = [await hostLinks(0), await hostLinks(1)];
      for (let round = 0; round < 6; round++) {
        const i = round % 2;
        // Another process of the host links, and is killed at some point of it.
        const doomed = await host(i);
        await doomed.call("open", {
          name,
          options: { store: cluster.url(), advertise: hosts[i].v4 },
        });
        doomed.send("link", { name, endpoints: [`${P}k9d${round}`] });
        await sleep(round * 40);
        await doomed.kill();
        await exec(["ip", "netns", "del", `${P}k9d${round}`]);
        // gc on that host, until the kernel has let go of the dead container's links.
        const gcHost = i === 0 ? h1 : h2;
        await until(`gc on host ${i + 1} to leave nothing (round ${round})`, async () => {
          await gcHost.call("gc");
          const now = await hostLinks(i);
          return now.length === before[i].length && now.every((l) => before[i].includes(l));
        }, 15_000);
      }
      // One more gc on each host, then: the store holds the live containers only, and they
      // still reach each other.
      await h1.call("gc");
      await h2.call("gc");
      assert.deepEqual(await keys(), expected);
      assert.ok(await ping(`${P}k9l2`, bare(live1.address)), "l2 -> l1 after the gc runs");
      assert.ok(await ping(`${P}k9l1`, bare(live2.address)), "l1 -> l2 after the gc runs");
      await h2.call("delete", { name });
      await h1.call("delete", { name });
    },
  );

  it(
    "published ports and internal on overlay networks, and the command line creates, connects and removes one",
    OPTS,
    async () => {
      const name = `${P}-pt`;
      const h1 = await host(0);
      await h1.call("new", {
        name,
        options: options(0, { subnet: "203.0.113.0/28" }),
      });
      const r = await h1.call("link", {
        name,
        endpoints: [`${P}pt1`],
        ports: [{ hostPort: 8080, port: 80 }],
      });
      const pt1 = (r.interfaces as Record<string, Interface>)[`${P}pt1`];
      assert.match(
        await nftTable(hosts[0].ns),
        new RegExp(`8080 : ${bare(pt1.address).replaceAll(".", "\\.")} \\. 80`),
      );
      await h1.call("unlink", { name, endpoint: `${P}pt1` });
      assert.doesNotMatch(await nftTable(hosts[0].ns), /8080 :/);
      await h1.call("delete", { name });

      // internal: no published ports
      const internal = `${P}-in`;
      await h1.call("new", {
        name: internal,
        options: options(0, { subnet: "203.0.113.16/28", internal: true }),
      });
      const refused = await h1.try("link", {
        name: internal,
        endpoints: [`${P}in1`],
        ports: [{ hostPort: 8081, port: 80 }],
      });
      assert.equal(refused.ok, false);
      assert.match(refused.error!, /is internal/);
      await exec(["ip", "netns", "del", `${P}in1`]);
      await h1.call("delete", { name: internal });

      // The command line, in host 2's namespace, with its own state directory.
      const cli = async (...args: string[]) => {
        const out = await exec([
          "env",
          `NSLINK_STATE_DIR=/run/nslink-cli-${P}`,
          "nsenter",
          `--net=/run/netns/${hosts[1].ns}`,
          ...nslinkArgv(),
          ...args,
        ]);
        if (out.code !== 0) throw new Error(`nslink ${args.join(" ")}: ${out.stderr}`);
        return out.stdout;
      };
      const ov = `${P}-cli`;
      await cli(
        "network",
        "create",
        "-d",
        "overlay",
        "--subnet",
        "203.0.113.32/28",
        "-o",
        `store=${cluster.url()}`,
        "-o",
        `advertise=${hosts[1].v4}`,
        ov,
      );
      assert.match(await cli("network", "ls"), new RegExp(ov));
      await cmd(["ip", "netns", "add", `${P}cli1`]);
      await cli("network", "connect", ov, `${P}cli1`, "--netns", `/run/netns/${P}cli1`);
      const client = new EtcdClient(cluster.url());
      assert.ok(await client.get(`/nslink/ov/${ov}/endpoints/${P}cli1`), "registered in the store");
      assert.ok(await ping(`${P}cli1`, "203.0.113.33"), "the container reaches its gateway");
      await cli("network", "disconnect", ov, `${P}cli1`);
      assert.equal(await client.get(`/nslink/ov/${ov}/endpoints/${P}cli1`), undefined);
      await cli("network", "rm", ov);
      assert.equal(
        await client.get(`/nslink/ov/${ov}/config`),
        undefined,
        "the last host removed it",
      );
    },
  );

  it(
    "CNI ADD on an overlay network creates or joins it and registers the container; DEL removes it",
    OPTS,
    async () => {
      const name = `${P}-cn`;
      const h1 = await host(0);
      const vni = (await h1.call("new", {
        name,
        options: options(0, { subnet: "203.0.113.48/28" }),
      })).vni as number;
      await h1.call("watch", { name });
      await cmd(["ip", "netns", "add", `${P}cn1`]);
      const conf = {
        cniVersion: "1.0.0",
        name,
        type: "nslink",
        driver: "overlay",
        store: cluster.url(),
        advertise: hosts[1].v4,
        subnet: "203.0.113.48/28",
      };
      const env = {
        containerId: `${P}cn1`,
        netns: `/run/netns/${P}cn1`,
        stateDir: `/run/nslink-cni-${P}`,
      };
      const inHost2 = ["nsenter", `--net=/run/netns/${hosts[1].ns}`, ...nslinkArgv()];
      const add = await cni("ADD", conf, env, inHost2);
      assert.equal(add.code, 0, add.stdout + add.stderr);
      const ips = (add.json!.ips as { address: string }[]).map((i) => bare(i.address));
      const client = new EtcdClient(cluster.url());
      const registered = (await client.range(`/nslink/ov/${name}/ipam/4/`, { prefix: true })).kvs
        .map((k) => k.key.split("/").pop());
      assert.ok(registered.includes(ips[0]), `${ips[0]} claimed in the store: ${registered}`);
      const mac = (add.json!.interfaces as { mac: string; sandbox?: string }[])
        .find((i) => i.sandbox)!.mac;
      await until(
        "host 1's FDB entry for the CNI container",
        async () =>
          (await fdb(hosts[0].ns, vni)).some((e) => e.mac === mac && e.dst === hosts[1].v4),
      );
      const del = await cni("DEL", conf, env, inHost2);
      assert.equal(del.code, 0, del.stdout + del.stderr);
      const left = (await client.range(`/nslink/ov/${name}/ipam/4/`, { prefix: true })).kvs
        .map((k) => k.key.split("/").pop());
      assert.ok(!left.includes(ips[0]), "released in the store");
      await exec(["ip", "netns", "del", `${P}cn1`]);
      await h1.call("delete", { name });
    },
  );

  it(
    "a container connected by a short-lived process stays reachable while the host's agent keeps its lease (3 x TTL)",
    OPTS,
    async () => {
      const name = `${P}-ag`;
      const h1 = await host(0);
      await h1.call("new", {
        name,
        options: options(0, { subnet: "203.0.113.64/28" }),
      });
      await h1.call("watch", { name });
      await h1.link(name, [`${P}ag1`]);
      const dir = `/run/nslink-agent-${P}`;
      const inHost2 = ["nsenter", `--net=/run/netns/${hosts[1].ns}`, ...nslinkArgv()];
      // The host's background process: it joins (the network's record in the host's state) and
      // keeps the host's lease, registration and watcher.
      const agent = startAgent(hosts[1].ns, dir, [
        "--store",
        cluster.url(),
        "--advertise",
        hosts[1].v4,
        "-o",
        `ttl=${TTL}`,
        name,
      ]);
      try {
        await agent.ready("the agent to watch", () => agent.out.includes("watching"), 15_000);
        // A short-lived process connects a container by name, and exits.
        await cmd(["ip", "netns", "add", `${P}ag2`]);
        const r = await exec([
          "env",
          `NSLINK_STATE_DIR=${dir}`,
          ...inHost2,
          "network",
          "connect",
          name,
          `${P}ag2`,
          "--netns",
          `/run/netns/${P}ag2`,
        ]);
        assert.equal(r.code, 0, r.stderr);
        const addr = (await ipJson<{ addr_info: { family: string; local: string }[] }[]>([
          "-n",
          `${P}ag2`,
          "addr",
          "show",
          "dev",
          "eth0",
        ]))[0].addr_info.find((i) => i.family === "inet")!.local;
        await until("ag1 -> ag2", () => ping(`${P}ag1`, addr), 10_000);
        await sleep(3 * TTL * 1000);
        assert.ok(await ping(`${P}ag1`, addr), "still reachable after 3 x TTL");
      } finally {
        await agent.stop();
        // Host 2's state directory: the network it joined and the container connected to it.
        removeStateDir(dir);
      }
      await exec(["ip", "netns", "del", `${P}ag2`]);
      await h1.call("delete", { name });
    },
  );

  it(
    "watchEndpoints(): the endpoints of every host, then each change, with addresses and host",
    OPTS,
    async () => {
      const name = `${P}-we`;
      const h1 = await host(0);
      await h1.call("new", {
        name,
        options: options(0, { subnet: "203.0.113.80/28" }),
      });
      const first = (await h1.link(name, [`${P}we1`]))[`${P}we1`];
      // This process joins as a third host (the sandbox's own address on the management bridge).
      const net = await newNetwork("overlay", name, {
        subnet: "203.0.113.80/28",
        store: cluster.url(),
        advertise: "198.51.100.1",
        ttl: TTL,
        stateDir: `/run/nslink-we-${P}`,
      }) as OverlayNetwork;
      const names = new Map<string, { addresses: string[]; host?: string }>();
      const w = net.watchEndpoints((changes) => {
        for (const c of changes) {
          if (c.addresses.length) names.set(c.endpoint, { addresses: c.addresses, host: c.host });
          else names.delete(c.endpoint);
        }
      });
      try {
        await w.ready;
        assert.deepEqual(names.get(`${P}we1`), {
          addresses: [bare(first.address)],
          host: hosts[0].v4,
        });
        const second = (await h1.link(name, [`${P}we2`]))[`${P}we2`];
        await until("the second endpoint", () => Promise.resolve(names.has(`${P}we2`)));
        assert.deepEqual(names.get(`${P}we2`)?.addresses, [bare(second.address)]);
        await h1.call("unlink", { name, endpoint: `${P}we1` });
        await until("the first endpoint to go", () => Promise.resolve(!names.has(`${P}we1`)));
      } finally {
        await w.stop();
        await net.delete();
      }
      await h1.call("delete", { name });
    },
  );
});
