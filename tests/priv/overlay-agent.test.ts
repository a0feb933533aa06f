/**
 * Privileged tests of issue 16's defect 2: a container linked on an overlay network by a
 * short-lived process (`nslink network connect`, a CNI ADD) stays reachable from another host
 * after that process exited, because the host's agent, started on demand, keeps the host's
 * lease, registration and watcher (agent/overlay.ts). No `nslink agent` is started here.
 *
 * Two simulated hosts (network namespaces) on a management bridge (198.51.100.0/24) carrying
 * etcd's traffic and VXLAN; host 1 runs a long-lived nslink process (tests/priv/_overlay_host.ts),
 * host 2 only short-lived CLI and CNI calls, each case with its own state directory.
 *
 * Run through `scripts/in-netns.sh` only.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { askAgent } from "../../mod.ts";
import { EtcdClient } from "../../store/etcd.ts";
import { exec, ipJson, isRoot, runId, SKIP_ROOT, sleep } from "./_helpers.ts";
import { cmd, etcdHosts, fdb, type Host, ping, startAgent, until } from "./_overlay_cluster.ts";
import { cni, nslinkArgv } from "./_cli_helpers.ts";
import { agentPid, killAgents } from "./_agent_helpers.ts";

const P = runId();
const TTL = 2;
const OPTS = { skip: SKIP_ROOT, timeout: 90_000 };

const cluster = etcdHosts(P, 2);
const { hosts } = cluster;
const stateDirs: string[] = [];

const host1 = (): Promise<Host> => cluster.host(0);

/** The nslink command line on host 2 (its namespace), with a state directory of its own. */
function host2Cli(stateDir: string): (...args: string[]) => Promise<string> {
  const argv = [
    "env",
    `NSLINK_STATE_DIR=${stateDir}`,
    "nsenter",
    `--net=/run/netns/${hosts[1].ns}`,
  ];
  return async (...args) => {
    const r = await exec([...argv, ...nslinkArgv(), ...args]);
    if (r.code !== 0) throw new Error(`nslink ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
}

/**
 * A case's start: its network `${P}-TAG` made on `subnet` by host 1's process, which watches it
 * and links container `${P}TAG1`; host 2's state directory for the case (its agents killed in
 * after()).
 */
async function onHost1(tag: string, dirTag: string, subnet: string) {
  const name = `${P}-${tag}`;
  const dir = `/run/nslink-oa-${P}-${dirTag}`;
  stateDirs.push(dir);
  const h1 = await host1();
  const vni = (await h1.call("new", {
    name,
    options: { subnet, store: cluster.url(), advertise: hosts[0].v4, ttl: TTL },
  })).vni as number;
  await h1.call("watch", { name });
  await h1.call("link", { name, endpoints: [`${P}${tag}1`] });
  return { name, dir, h1, vni };
}

async function eth0(ns: string): Promise<{ v4: string; mac: string }> {
  const [link] = await ipJson<
    { address: string; addr_info: { family: string; local: string }[] }[]
  >(["-n", ns, "addr", "show", "dev", "eth0"]);
  return { v4: link.addr_info.find((i) => i.family === "inet")!.local, mac: link.address };
}

/**
 * From host 1's container: reaches host 2's container now, and still after 3 x TTL (the short-
 * lived process long gone), with host 1's FDB entry for it (MAC -> host 2) still there.
 */
async function stillReachable(from: string, to: string, vni: number, stateDir: string) {
  const { v4, mac } = await eth0(to);
  await until(`${from} -> ${to}`, () => ping(from, v4), 10_000);
  // Host 2's agent (started on demand by the short-lived process) is what keeps the lease.
  assert.ok(agentPid(stateDir) !== undefined, "host 2's agent runs");
  await sleep(3 * TTL * 1000);
  const entries = await fdb(hosts[0].ns, vni);
  assert.ok(
    entries.some((e) => e.mac === mac && e.dst === hosts[1].v4),
    `host 1's FDB entry for ${to} after 3 x TTL: ${JSON.stringify(entries)}`,
  );
  assert.ok(await ping(from, v4), `${to} still reachable from host 1 after 3 x TTL`);
}

before(async () => {
  if (isRoot) await cluster.setUp();
});

after(async () => {
  if (!isRoot) return;
  for (const d of stateDirs) killAgents(d);
  await cluster.tearDown();
  for (const d of stateDirs) killAgents(d);
});

describe(
  "overlay networks: the on-demand host agent keeps the host's lease (issue 16, defect 2)",
  OPTS,
  () => {
    it(
      "nslink network connect (names off): the container stays reachable from another host for 3 x TTL",
      OPTS,
      async () => {
        const { name, dir, h1, vni } = await onHost1("cl", "cli", "203.0.113.64/28");
        const cli = host2Cli(dir);
        // Host 2 joins with names off: the agent is needed for the lease all the same.
        await cli(
          "network",
          "create",
          "-d",
          "overlay",
          "--subnet",
          "203.0.113.64/28",
          "--disable-dns",
          "-o",
          `store=${cluster.url()}`,
          "-o",
          `advertise=${hosts[1].v4}`,
          "-o",
          `ttl=${TTL}`,
          name,
        );
        await cmd(["ip", "netns", "add", `${P}cl2`]);
        await cli("network", "connect", name, `${P}cl2`, "--netns", `/run/netns/${P}cl2`);
        await stillReachable(`${P}cl1`, `${P}cl2`, vni, dir);
        await cli("network", "disconnect", name, `${P}cl2`);
        await cli("network", "rm", name);
        // Host 2 left: its agent (still running a tick or two) does not register it again.
        await sleep(2 * TTL * 1000);
        const client = new EtcdClient(cluster.url());
        assert.equal(
          await client.get(`/nslink/ov/${name}/hosts/${hosts[1].v4}`),
          undefined,
          "host 2 stays deregistered after leaving",
        );
        killAgents(dir);
        await exec(["ip", "netns", "del", `${P}cl2`]);
        await h1.call("delete", { name });
      },
    );

    it(
      'CNI ADD with "driver": "overlay": the container stays reachable from another host for 3 x TTL',
      OPTS,
      async () => {
        const { name, dir, h1, vni } = await onHost1("cn", "cni", "203.0.113.80/28");
        await cmd(["ip", "netns", "add", `${P}cn2`]);
        const conf = {
          cniVersion: "1.0.0",
          name,
          type: "nslink",
          driver: "overlay",
          store: cluster.url(),
          advertise: hosts[1].v4,
          subnet: "203.0.113.80/28",
          ttl: TTL,
        };
        const env = { containerId: `${P}cn2`, netns: `/run/netns/${P}cn2`, stateDir: dir };
        const inHost2 = ["nsenter", `--net=/run/netns/${hosts[1].ns}`, ...nslinkArgv()];
        const add = await cni("ADD", conf, env, inHost2);
        assert.equal(add.code, 0, add.stdout + add.stderr);
        await stillReachable(`${P}cn1`, `${P}cn2`, vni, dir);
        const del = await cni("DEL", conf, env, inHost2);
        assert.equal(del.code, 0, del.stdout + del.stderr);
        killAgents(dir);
        await exec(["ip", "netns", "del", `${P}cn2`]);
        await h1.call("delete", { name });
      },
    );

    it(
      "nslink agent NETWORK run by a service manager takes over and keeps that network itself: no double duty",
      OPTS,
      async () => {
        const { name, dir, h1, vni } = await onHost1("fg", "fg", "203.0.113.96/28");
        const cli = host2Cli(dir);
        await cli(
          "network",
          "create",
          "-d",
          "overlay",
          "--subnet",
          "203.0.113.96/28",
          "-o",
          `store=${cluster.url()}`,
          "-o",
          `advertise=${hosts[1].v4}`,
          "-o",
          `ttl=${TTL}`,
          name,
        );
        await cmd(["ip", "netns", "add", `${P}fg2`]);
        await cli("network", "connect", name, `${P}fg2`, "--netns", `/run/netns/${P}fg2`);
        const onDemand = (await askAgent(dir, "status")).duties?.overlay as {
          networks: Record<string, unknown>;
        };
        assert.ok(name in onDemand.networks, `the on-demand agent keeps ${name}`);
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
          await agent.ready("the foreground agent to serve", async () => {
            try {
              return (await askAgent(dir, "status", 1000)).pid === agent.pid;
            } catch {
              return false;
            }
          }, 20_000);
          const duties = (await askAgent(dir, "status")).duties as Record<
            string,
            { networks: unknown }
          >;
          assert.deepEqual(duties["overlay-foreground"].networks, [name]);
          assert.deepEqual(duties.overlay.networks, {}, "the registered duty leaves it alone");
          await stillReachable(`${P}fg1`, `${P}fg2`, vni, dir);
        } finally {
          await agent.stop();
        }
        await cli("network", "disconnect", name, `${P}fg2`);
        await cli("network", "rm", name);
        killAgents(dir);
        await exec(["ip", "netns", "del", `${P}fg2`]);
        await h1.call("delete", { name });
      },
    );
  },
);
