/**
 * Privileged tests of the overlay driver: three simulated hosts (network namespaces joined by
 * an underlay bridge, 198.51.100.0/24 and 2001:db8:10::/64), each running its own nslink
 * process, against a three-member etcd cluster started inside the throw-away namespace.
 * Overlay subnets 203.0.113.0/24 and 2001:db8:20::/64 (a second network: 198.51.100.128/25 and
 * 2001:db8:21::/64). Kernel state is checked with `ip -j` and `bridge -j`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, rmSync } from "node:fs";
import type { Interface } from "../../mod.ts";
import { EtcdClient } from "../../store/etcd.ts";
import { agentOffForTests, removeStateDir } from "./_agent_helpers.ts";
import { exec, ip, ipJson, isRoot, runId, SKIP_ROOT, sleep } from "./_helpers.ts";
import { assertNoPingReply } from "./_network_helpers.ts";
import { type EtcdCluster, startEtcd } from "./_etcd.ts";
import {
  bare,
  cmd,
  fdb,
  Host as ClusterHost,
  killHostAgents,
  neigh,
  ping,
  plug,
  removeHostState,
  startAgent,
  until,
} from "./_overlay_cluster.ts";

const P = runId();
const UNDERLAY = `${P}u`;
const ETCD_ADDRS = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];
const TTL = 2;
const OV1 = `${P}-ov1`;
const OV2 = `${P}-ov2`;
const OPTS = { skip: SKIP_ROOT, timeout: 60_000 };

/** One simulated host (see _overlay_cluster.ts), numbered: host n advertises 198.51.100.(10 + n). */
class Host extends ClusterHost {
  readonly addr6: string;

  constructor(readonly n: number) {
    super(`${P}h${n}`, `198.51.100.${10 + n}`);
    this.addr6 = `2001:db8:10::${10 + n}`;
  }
}

const hosts = [new Host(1), new Host(2), new Host(3)];
let etcd: EtcdCluster | undefined;

function options(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    subnet: "203.0.113.0/24",
    subnetIPv6: "2001:db8:20::/64",
    store: etcd!.url,
    ttl: TTL,
    // No names, so no host agent started on demand, whose firewall duty would repair the table
    // a test deletes on purpose (names across hosts: dns-overlay.test.ts).
    dns: false,
    ...extra,
  };
}

// No host agents (the hosts' processes inherit the variable): their firewall duty would put back
// at once the table the isolation test deletes to watch repairFirewall() do it.
let agentBack = () => {};

before(async () => {
  agentBack = agentOffForTests();
  if (!isRoot) return;
  await cmd(["ip", "link", "add", UNDERLAY, "type", "bridge"]);
  await cmd(["ip", "link", "set", UNDERLAY, "up"]);
  for (const a of ETCD_ADDRS) await cmd(["ip", "addr", "add", `${a}/24`, "dev", UNDERLAY]);
  await cmd(["ip", "addr", "add", "2001:db8:10::1/64", "dev", UNDERLAY, "nodad"]);
  for (const h of hosts) {
    await cmd(["ip", "netns", "add", h.ns]);
    await cmd(["ip", "-n", h.ns, "link", "set", "lo", "up"]);
    await plug(UNDERLAY, `${P}v${h.n}`, h.ns, "eth0");
    await cmd(["ip", "-n", h.ns, "addr", "add", `${h.addr}/24`, "dev", "eth0"]);
    await cmd(["ip", "-n", h.ns, "addr", "add", `${h.addr6}/64`, "dev", "eth0", "nodad"]);
  }
  etcd = await startEtcd(ETCD_ADDRS);
  await Promise.all(hosts.map((h) => h.start()));
});

after(async () => {
  agentBack();
  if (!isRoot) return;
  await Promise.all(hosts.map((h) => h.stop()));
  // Overlay networks have names: the library started each host's agent. A host's networks'
  // kernel objects go with its namespace below; their records go with its state directory.
  for (const h of hosts) removeHostState(h.ns);
  // `nslink agent --store … OV1` joined with the default state directory and never leaves: its
  // definition of OV1 (kept across reboots, in /var/lib/nslink) goes with the test.
  rmSync(`/var/lib/nslink/networks/${OV1}.json`, { force: true });
  await etcd?.stop();
  // Container namespaces the hosts made (also those of a killed process), then the hosts.
  for (const name of readdirSync("/run/netns").filter((n) => n.startsWith(P))) {
    await exec(["ip", "netns", "del", name]);
  }
  await exec(["ip", "link", "del", UNDERLAY]);
  for (const h of hosts) await exec(["ip", "link", "del", `${P}v${h.n}`]);
});

/** Asserts that a ping gets no answer, ping itself working (see assertNoPingReply). */
async function assertNoReply(fromNs: string, to: string): Promise<void> {
  const r = await exec(["ip", "netns", "exec", fromNs, "ping", "-c1", "-W1", to]);
  assertNoPingReply(r, `${fromNs} -> ${to}`);
}

let vni = 0;
const ifaces: Record<string, Interface> = {};

async function link(h: Host, network: string, eps: string[]): Promise<void> {
  const r = await h.call("link", { name: network, endpoints: eps });
  Object.assign(ifaces, r.interfaces as Record<string, Interface>);
}

describe("overlay networks across three hosts, state in a three-member etcd", OPTS, () => {
  it(
    "the first newNetwork creates the network, the others join it; a conflicting config is an error",
    OPTS,
    async () => {
      const [h1, h2, h3] = hosts;
      const a = await h1.call("new", { name: OV1, options: options({ advertise: h1.addr }) });
      const b = await h2.call("new", { name: OV1, options: options({ advertise: h2.addr }) });
      const c = await h3.call("new", { name: OV1, options: options({ advertise: h3.addr }) });
      assert.equal(a.vni, b.vni);
      assert.equal(a.vni, c.vni);
      assert.equal(a.netId, b.netId);
      assert.equal(a.mtu, 1450); // underlay 1500 - 50
      vni = a.vni as number;
      assert.ok(vni >= 4096);
      const bad = await h2.try("new", {
        name: OV1,
        options: options({ advertise: h2.addr, subnet: "203.0.113.0/25" }),
      });
      assert.equal(bad.ok, false);
      assert.match(
        bad.error!,
        /exists in "etcd:\/\/.*" with another configuration: subnet "203\.0\.113\.0\/25"/,
      );
      // The kernel: a VXLAN device with learning off on UDP 4789 on the underlay address, on a bridge.
      for (const h of hosts) {
        const [vx] = await ipJson<
          {
            mtu: number;
            master?: string;
            linkinfo: { info_data: { id: number; learning: boolean; port: number; local: string } };
          }[]
        >(["-n", h.ns, "-d", "link", "show", `nslvx${vni}`]);
        assert.equal(vx.linkinfo.info_data.id, vni);
        assert.equal(vx.linkinfo.info_data.learning, false);
        assert.equal(vx.linkinfo.info_data.port, 4789);
        assert.equal(vx.linkinfo.info_data.local, h.addr);
        assert.equal(vx.master, `nslov${vni}`);
        assert.equal(vx.mtu, 1450);
      }
      for (const h of hosts) await h.call("watch", { name: OV1 });
    },
  );

  it("containers on different hosts ping each other over IPv4 and IPv6", OPTS, async () => {
    const [h1, h2, h3] = hosts;
    await link(h1, OV1, [`${P}a1`]);
    await link(h2, OV1, [`${P}b1`]);
    await link(h3, OV1, [`${P}c1`]);
    const a1 = ifaces[`${P}a1`], b1 = ifaces[`${P}b1`];
    assert.equal(a1.mtu, 1450);
    // h2 learned a1 from the store: MAC -> h1's VTEP, IP -> MAC
    await until(
      "h2's entries for a1",
      async () =>
        (await fdb(h2, vni)).some((e) => e.mac === a1.macAddress && e.dst === h1.addr) &&
        (await neigh(h2, vni)).some((n) =>
          n.dst === bare(a1.address) && n.lladdr === a1.macAddress
        ),
    );
    assert.ok((await neigh(h2, vni)).some((n) => n.dst === bare(a1.addressIPv6)));
    for (const [from, to] of [[`${P}a1`, b1], [`${P}b1`, a1], [`${P}c1`, a1]] as const) {
      await until(`${from} -> ${to.address}`, () => ping(from, bare(to.address)));
      await until(`${from} -> ${to.addressIPv6}`, () => ping(from, bare(to.addressIPv6)));
    }
    // no entries for a host's own containers
    assert.ok(!(await fdb(h1, vni)).some((e) => e.mac === a1.macAddress));
  });

  it("containers on different overlay networks cannot reach each other", OPTS, async () => {
    const [h1, h2] = hosts;
    const o2 = { subnet: "198.51.100.128/25", subnetIPv6: "2001:db8:21::/64" };
    const r1 = await h1.call("new", { name: OV2, options: options({ ...o2, advertise: h1.addr }) });
    await h2.call("new", { name: OV2, options: options({ ...o2, advertise: h2.addr }) });
    assert.notEqual(r1.vni, vni);
    await h1.call("watch", { name: OV2 });
    await h2.call("watch", { name: OV2 });
    await link(h1, OV2, [`${P}x1`]);
    await link(h2, OV2, [`${P}x2`]);
    const x1 = ifaces[`${P}x1`], x2 = ifaces[`${P}x2`];
    const a1 = ifaces[`${P}a1`], b1 = ifaces[`${P}b1`];
    await until("x1 -> x2 on ov2", () => ping(`${P}x1`, bare(x2.address)));
    for (
      const [from, to] of [[`${P}x2`, a1], [`${P}x1`, b1], [`${P}a1`, x2], [`${P}b1`, x1]] as const
    ) {
      await assertNoReply(from, bare(to.address));
      assert.equal(
        await ping(from, bare(to.addressIPv6)),
        false,
        `${from} reached ${to.addressIPv6}`,
      );
    }
  });

  it(
    "with forwarding on, an overlay's containers reach neither another overlay's nor a bridge network's on the same host",
    OPTS,
    async () => {
      const [h1] = hosts;
      const br = `${P}-br`;
      const sysctl = (v: string) =>
        exec([
          "ip",
          "netns",
          "exec",
          h1.ns,
          "sysctl",
          "-qw",
          `net.ipv4.ip_forward=${v}`,
          `net.ipv6.conf.all.forwarding=${v}`,
        ]);
      await h1.call("new", {
        name: br,
        type: "bridge",
        options: { subnet: "198.51.100.96/28", subnetIPv6: "2001:db8:22::/64", dns: false },
      });
      try {
        await link(h1, br, [`${P}y1`]);
        await sysctl("1");
        const a1 = ifaces[`${P}a1`], x1 = ifaces[`${P}x1`], y1 = ifaces[`${P}y1`];
        const pairs = [[`${P}x1`, a1], [`${P}a1`, x1], [`${P}a1`, y1], [`${P}y1`, a1]] as const;
        // Without nslink's table, the host routes between them: the isolation is what stops it.
        // The host's agent (its overlay networks') would repair the table: not during this test.
        killHostAgents(h1.ns);
        await exec(["ip", "netns", "exec", h1.ns, "nft", "delete", "table", "inet", "nslink"]);
        for (const [from, to] of pairs) {
          await until(`${from} -> ${to.address} unfiltered`, () => ping(from, bare(to.address)));
          await until(
            `${from} -> ${to.addressIPv6} unfiltered`,
            () => ping(from, bare(to.addressIPv6)),
          );
        }
        await h1.call("repairFirewall");
        for (const [from, to] of pairs) {
          await assertNoReply(from, bare(to.address));
          assert.equal(
            await ping(from, bare(to.addressIPv6)),
            false,
            `${from} reached ${to.addressIPv6}`,
          );
        }
        // Each network still works inside itself.
        await until("x1 -> x2", () => ping(`${P}x1`, bare(ifaces[`${P}x2`].address)));
      } finally {
        await sysctl("0");
        await h1.call("unlink", { name: br, endpoint: `${P}y1` }).catch(() => {});
        await h1.call("delete", { name: br });
      }
    },
  );

  it("3 hosts x 50 concurrent links: 150 distinct addresses, as in the kernel", OPTS, async () => {
    const eps = hosts.map((h) => Array.from({ length: 50 }, (_, i) => `${P}m${h.n}x${i}`));
    await Promise.all(hosts.map((h, i) => link(h, OV1, eps[i])));
    const all = eps.flat();
    const v4 = new Set(all.map((e) => ifaces[e].address));
    const v6 = new Set(all.map((e) => ifaces[e].addressIPv6));
    const macs = new Set(all.map((e) => ifaces[e].macAddress));
    assert.equal(v4.size, 150);
    assert.equal(v6.size, 150);
    assert.equal(macs.size, 150);
    // no clash with the containers linked before either
    for (const e of [`${P}a1`, `${P}b1`, `${P}c1`]) assert.ok(!v4.has(ifaces[e].address));
    // what each container really has
    const seen = await Promise.all(all.map(async (e) => {
      const [l] = await ipJson<
        { addr_info: { family: string; local: string; prefixlen: number }[] }[]
      >(
        ["-n", e, "addr", "show", "eth0"],
      );
      return l.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`);
    }));
    assert.deepEqual(seen.flat().sort(), [...v4].sort());
    // and remote hosts got an entry for each
    await until(
      "h1 has FDB entries for the 100 remote containers",
      async () => (await fdb(hosts[0], vni)).length >= 100 + 2,
      10_000,
    );
    for (let i = 0; i < 3; i++) {
      await Promise.all(eps[i].map((e) => hosts[i].call("unlink", { name: OV1, endpoint: e })));
    }
    await until(
      "h1's entries for them are gone",
      async () => (await fdb(hosts[0], vni)).length === 2,
      10_000,
    );
  });

  it(
    "an unlink on host A removes host B's FDB and neighbour entries",
    OPTS,
    async () => {
      const [h1, h2] = hosts;
      await link(h1, OV1, [`${P}a2`]);
      const a2 = ifaces[`${P}a2`];
      await until(
        "h2's entries for a2",
        async () => (await fdb(h2, vni)).some((e) => e.mac === a2.macAddress),
      );
      await h1.call("unlink", { name: OV1, endpoint: `${P}a2` });
      // A deadline, not a speed target (bench/overlay measures how fast the watcher follows).
      await until(
        "h2's entries for a2 to go",
        async () =>
          !(await fdb(h2, vni)).some((e) => e.mac === a2.macAddress) &&
          !(await neigh(h2, vni)).some((n) => n.lladdr === a2.macAddress),
      );
    },
  );

  it("a watcher killed with kill -9 and restarted catches up", OPTS, async () => {
    const [h1, h2] = hosts;
    await link(h1, OV1, [`${P}a3`]);
    const a3 = ifaces[`${P}a3`];
    await until("h2 has a3", async () => (await fdb(h2, vni)).some((e) => e.mac === a3.macAddress));
    // The whole host's nslink dies: its process and its agent (which runs a watcher too).
    await h2.kill();
    killHostAgents(h2.ns);
    // while h2's watcher is dead: a4 comes, a3 goes (in this order, so that a4 does not get
    // a3's address and MAC back)
    await link(h1, OV1, [`${P}a4`]);
    await h1.call("unlink", { name: OV1, endpoint: `${P}a3` });
    const a4 = ifaces[`${P}a4`];
    assert.ok(
      (await fdb(h2, vni)).some((e) => e.mac === a3.macAddress),
      "stale entry kept while dead",
    );
    await h2.start();
    await h2.call("open", {
      name: OV1,
      options: { store: etcd!.url, advertise: h2.addr, ttl: TTL },
    });
    await h2.call("watch", { name: OV1 });
    const f = await fdb(h2, vni);
    assert.ok(f.some((e) => e.mac === a4.macAddress && e.dst === h1.addr), "a4 installed");
    assert.ok(!f.some((e) => e.mac === a3.macAddress), "a3 removed");
    const n = await neigh(h2, vni);
    assert.ok(n.some((x) => x.dst === bare(a4.address)));
    assert.ok(!n.some((x) => x.dst === bare(a3.address)));
    await h1.call("unlink", { name: OV1, endpoint: `${P}a4` });
  });

  it(
    "a host whose process dies stops being reachable; its entries go when its lease expires",
    OPTS,
    async () => {
      const [h1, , h3] = hosts;
      const c1 = ifaces[`${P}c1`];
      await until("a1 -> c1", () => ping(`${P}a1`, bare(c1.address)));
      // The host's processes die, its agent (which keeps the host's lease) included.
      await h3.kill();
      killHostAgents(h3.ns);
      const took = await until(
        "h1's entries for c1 to go",
        async () => !(await fdb(h1, vni)).some((e) => e.mac === c1.macAddress),
        (TTL + 4) * 1000,
      );
      await assertNoReply(`${P}a1`, bare(c1.address));
      assert.ok(took >= 500, `removed after ${took} ms: before the lease could expire?`);
      // h3 comes back (its containers are gone from the store; its kernel devices are still there)
      await h3.start();
      await h3.call("open", {
        name: OV1,
        options: { store: etcd!.url, advertise: h3.addr, ttl: TTL },
      });
      await exec(["ip", "netns", "del", `${P}c1`]);
    },
  );

  it("nslink agent keeps a host's entries in step, and stops on SIGTERM", OPTS, async () => {
    const [h1, , h3] = hosts;
    // Its own state directory, removed afterwards: the network it joined there must not outlive
    // the test in nslink's table (one table serves every state directory of a namespace).
    const agentDir = `/run/nslink-agent-${P}`;
    const agent = startAgent(h3.ns, agentDir, ["--store", etcd!.url, "--advertise", h3.addr, OV1]);
    try {
      await agent.ready("the agent to watch", () => agent.out.includes("watching"), 15_000);
      await link(h1, OV1, [`${P}a7`]);
      const a7 = ifaces[`${P}a7`];
      await until(
        "h3 has a7",
        async () => (await fdb(h3, vni)).some((e) => e.mac === a7.macAddress && e.dst === h1.addr),
      );
      await h1.call("unlink", { name: OV1, endpoint: `${P}a7` });
      await until(
        "h3 lost a7",
        async () => !(await fdb(h3, vni)).some((e) => e.mac === a7.macAddress),
      );
    } finally {
      await agent.stop();
    }
    const [code, signal] = await agent.exited;
    removeStateDir(agentDir);
    rmSync(`${agentDir}.config`, { recursive: true, force: true });
    // It stopped its watchers and said so; Deno's child_process reports a child it sent SIGTERM
    // to as killed by it even when the child handled it and exited 0 (Bun and bash see 0).
    assert.match(agent.out, /stopped\n$/, agent.err);
    assert.ok(code === 0 || (code === null && signal === "SIGTERM"), `exit ${code} ${signal}`);
  });

  it("one etcd member killed: link, unlink and watches go on", OPTS, async () => {
    const [h1, h2] = hosts;
    await etcd!.members[0].kill();
    try {
      await link(h1, OV1, [`${P}a5`]);
      const a5 = ifaces[`${P}a5`];
      await until(
        "h2 has a5",
        async () => (await fdb(h2, vni)).some((e) => e.mac === a5.macAddress),
        10_000,
      );
      await until("b1 -> a5", () => ping(`${P}b1`, bare(a5.address)));
      await h1.call("unlink", { name: OV1, endpoint: `${P}a5` });
      await until(
        "h2 lost a5",
        async () => !(await fdb(h2, vni)).some((e) => e.mac === a5.macAddress),
        10_000,
      );
    } finally {
      await etcd!.members[0].start();
    }
  });

  it(
    "all of etcd down: link fails naming the store and leaves nothing; works again once etcd is back",
    OPTS,
    async () => {
      const [h1] = hosts;
      const names = async () =>
        (await ipJson<{ ifname: string }[]>(["-n", h1.ns, "link", "show"])).map((l) => l.ifname);
      const linksBefore = new Set(await names());
      await Promise.all(etcd!.members.map((m) => m.kill()));
      try {
        const r = await h1.try("link", { name: OV1, endpoints: [`${P}a6`] });
        assert.equal(r.ok, false);
        assert.match(
          r.error!,
          new RegExp(`etcd "${etcd!.url.replace(/[.]/g, "\\.")}": .*unreachable`),
        );
        // nothing new (an earlier unlink's veth may still be going away)
        const added = (await names()).filter((n) => !linksBefore.has(n));
        assert.deepEqual(added, [], "no veth left behind");
      } finally {
        await Promise.all(etcd!.members.map((m) => m.start()));
      }
      await exec(["ip", "netns", "del", `${P}a6`]);
      const end = Date.now() + 20_000;
      for (;;) {
        const r = await h1.try("link", { name: OV1, endpoints: [`${P}a6`] });
        if (r.ok) {
          Object.assign(ifaces, r.interfaces as Record<string, Interface>);
          break;
        }
        await exec(["ip", "netns", "del", `${P}a6`]);
        if (Date.now() > end) throw new Error(`link never worked again: ${r.error}`);
        await sleep(300);
      }
      await until("b1 -> a6", () => ping(`${P}b1`, bare(ifaces[`${P}a6`].address)), 10_000);
    },
  );

  it(
    "delete: each host removes its part, the last one removes the network from the store",
    OPTS,
    async () => {
      const client = new EtcdClient(etcd!.url);
      for (const h of hosts) await h.call("delete", { name: OV2 }).catch(() => {});
      await hosts[0].call("delete", { name: OV1 });
      assert.ok(
        (await client.get(`/nslink/ov/${OV1}/config`)) !== undefined,
        "others still joined",
      );
      assert.equal(
        (await ipJson<unknown[]>(["-n", hosts[0].ns, "link", "show", `nslvx${vni}`]).catch(
          () => [],
        )).length,
        0,
      );
      await hosts[1].call("delete", { name: OV1 });
      await hosts[2].call("delete", { name: OV1 });
      const left = await client.range(`/nslink/ov/${OV1}/`, { prefix: true });
      assert.deepEqual(left.kvs.map((kv) => kv.key), []);
      assert.equal(await client.get(`/nslink/vni/${vni}`), undefined);
      for (const h of hosts) {
        const r = await ip(["-n", h.ns, "link", "show", `nslov${vni}`]);
        assert.equal(r.code, 1, `bridge left on ${h.ns} (or ip failed: ${r.stderr})`);
        assert.match(r.stderr, /does not exist/);
        // The table goes with the last nslink network of the host (a host whose process was
        // killed earlier may still hold the second overlay's bridge).
        const bridges = (await ipJson<{ ifname: string }[]>(["-n", h.ns, "link", "show"]))
          .map((l) => l.ifname).filter((n) => /^nslov\d+$/.test(n));
        const t = await exec([
          "ip",
          "netns",
          "exec",
          h.ns,
          "nft",
          "list",
          "table",
          "inet",
          "nslink",
        ]);
        // nft exits 1 with "No such file or directory" for a missing table; anything else is
        // nft failing, not an answer.
        assert.ok(t.code === 0 || /No such file or directory/.test(t.stderr), t.stderr);
        assert.equal(t.code === 0, bridges.length > 0, `${h.ns}: table vs bridges ${bridges}`);
      }
    },
  );
});
