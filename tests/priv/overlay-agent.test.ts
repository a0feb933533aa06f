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
import { readdirSync } from "node:fs";
import { spawn } from "node:child_process";
import process from "node:process";
import { askAgent } from "../../mod.ts";
import { EtcdClient } from "../../store/etcd.ts";
import { exec, ipJson, isRoot, runId, SKIP_ROOT, sleep } from "./_helpers.ts";
import { type EtcdCluster, startEtcd } from "./_etcd.ts";
import { cmd, fdb, Host, ping, until } from "./_overlay_cluster.ts";
import { cni, nslinkArgv } from "./_cli_helpers.ts";
import { agentPid, killAgents } from "./_agent_helpers.ts";

const P = runId();
const MGMT = `${P}m`;
const TTL = 2;
const OPTS = { skip: SKIP_ROOT, timeout: 90_000 };

const hosts = [1, 2].map((n) => ({ n, ns: `${P}h${n}`, v4: `198.51.100.${10 + n}` }));
let etcd: EtcdCluster | undefined;
const running: Host[] = [];
const stateDirs: string[] = [];

async function host1(): Promise<Host> {
  const h = new Host(hosts[0].ns, hosts[0].v4);
  await h.start();
  running.push(h);
  return h;
}

/** An nslink command on host 2 (its namespace), with a state directory of its own. */
function onHost2(stateDir: string): string[] {
  return ["env", `NSLINK_STATE_DIR=${stateDir}`, "nsenter", `--net=/run/netns/${hosts[1].ns}`];
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
  if (!isRoot) return;
  await cmd(["ip", "link", "add", MGMT, "type", "bridge"]);
  await cmd(["ip", "link", "set", MGMT, "up"]);
  await cmd(["ip", "addr", "add", "198.51.100.1/24", "dev", MGMT]);
  for (const h of hosts) {
    await cmd(["ip", "netns", "add", h.ns]);
    await cmd(["ip", "-n", h.ns, "link", "set", "lo", "up"]);
    await cmd([
      "ip",
      "link",
      "add",
      `${P}m${h.n}`,
      "type",
      "veth",
      "peer",
      "name",
      "m0",
      "netns",
      h.ns,
    ]);
    await cmd(["ip", "link", "set", `${P}m${h.n}`, "master", MGMT, "up"]);
    await cmd(["ip", "-n", h.ns, "link", "set", "m0", "up"]);
    await cmd(["ip", "-n", h.ns, "addr", "add", `${h.v4}/24`, "dev", "m0"]);
  }
  etcd = await startEtcd(["198.51.100.1"]);
});

after(async () => {
  if (!isRoot) return;
  for (const d of stateDirs) killAgents(d);
  for (const h of running) await h.stop();
  for (const d of stateDirs) killAgents(d);
  await etcd?.stop();
  for (const name of readdirSync("/run/netns").filter((n) => n.startsWith(P))) {
    await exec(["ip", "netns", "del", name]);
  }
  await exec(["ip", "link", "del", MGMT]);
});

describe(
  "overlay networks: the on-demand host agent keeps the host's lease (issue 16, defect 2)",
  OPTS,
  () => {
    it(
      "nslink network connect (names off): the container stays reachable from another host for 3 x TTL",
      OPTS,
      async () => {
        const name = `${P}-cl`;
        const dir = `/run/nslink-oa-${P}-cli`;
        stateDirs.push(dir);
        const h1 = await host1();
        const vni = (await h1.call("new", {
          name,
          options: {
            subnet: "203.0.113.64/28",
            store: etcd!.url,
            advertise: hosts[0].v4,
            ttl: TTL,
          },
        })).vni as number;
        await h1.call("watch", { name });
        await h1.call("link", { name, endpoints: [`${P}cl1`] });
        const cli = async (...args: string[]) => {
          const r = await exec([...onHost2(dir), ...nslinkArgv(), ...args]);
          if (r.code !== 0) throw new Error(`nslink ${args.join(" ")}: ${r.stderr}`);
          return r.stdout;
        };
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
          `store=${etcd!.url}`,
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
        const client = new EtcdClient(etcd!.url);
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
        const name = `${P}-cn`;
        const dir = `/run/nslink-oa-${P}-cni`;
        stateDirs.push(dir);
        const h1 = await host1();
        const vni = (await h1.call("new", {
          name,
          options: {
            subnet: "203.0.113.80/28",
            store: etcd!.url,
            advertise: hosts[0].v4,
            ttl: TTL,
          },
        })).vni as number;
        await h1.call("watch", { name });
        await h1.call("link", { name, endpoints: [`${P}cn1`] });
        await cmd(["ip", "netns", "add", `${P}cn2`]);
        const conf = {
          cniVersion: "1.0.0",
          name,
          type: "nslink",
          driver: "overlay",
          store: etcd!.url,
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
        const name = `${P}-fg`;
        const dir = `/run/nslink-oa-${P}-fg`;
        stateDirs.push(dir);
        const h1 = await host1();
        const vni = (await h1.call("new", {
          name,
          options: {
            subnet: "203.0.113.96/28",
            store: etcd!.url,
            advertise: hosts[0].v4,
            ttl: TTL,
          },
        })).vni as number;
        await h1.call("watch", { name });
        await h1.call("link", { name, endpoints: [`${P}fg1`] });
        const cli = async (...args: string[]) => {
          const r = await exec([...onHost2(dir), ...nslinkArgv(), ...args]);
          if (r.code !== 0) throw new Error(`nslink ${args.join(" ")}: ${r.stderr}`);
          return r.stdout;
        };
        await cli(
          "network",
          "create",
          "-d",
          "overlay",
          "--subnet",
          "203.0.113.96/28",
          "-o",
          `store=${etcd!.url}`,
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
        const argv = ["nsenter", `--net=/run/netns/${hosts[1].ns}`, ...nslinkArgv()];
        const agent = spawn(argv[0], [
          ...argv.slice(1),
          "agent",
          "--store",
          etcd!.url,
          "--advertise",
          hosts[1].v4,
          "-o",
          `ttl=${TTL}`,
          name,
        ], { env: { ...process.env, NSLINK_STATE_DIR: dir }, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        agent.stdout!.on("data", (d) => (out += d));
        agent.stderr!.on("data", (d) => (err += d));
        const exited = new Promise((r) => agent.once("exit", r));
        try {
          await until("the foreground agent to serve", async () => {
            try {
              return (await askAgent(dir, "status", 1000)).pid === agent.pid;
            } catch {
              return false;
            }
          }, 20_000).catch((e) => {
            throw new Error(`${e.message}: ${out} ${err}`);
          });
          const duties = (await askAgent(dir, "status")).duties as Record<
            string,
            { networks: unknown }
          >;
          assert.deepEqual(duties["overlay-foreground"].networks, [name]);
          assert.deepEqual(duties.overlay.networks, {}, "the registered duty leaves it alone");
          await stillReachable(`${P}fg1`, `${P}fg2`, vni, dir);
        } finally {
          agent.kill("SIGTERM");
          await exited;
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
