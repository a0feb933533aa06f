/**
 * Privileged end-to-end test of container names: networks made with `newNetwork`, containers
 * linked with `link`, names served by nslink's host agent (started on demand by the library),
 * queried with real `dig` and `getent` from container namespaces. Inside the throw-away
 * namespace only: `/etc/netns` gets a tmpfs and `/etc/resolv.conf` a bind mount naming a fake
 * upstream this test runs on 127.0.0.1:53 (never the machine's resolver). Every test leaves no
 * agent process behind (after() kills what is left, by the pid in the state directory).
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeMessage, encodeMessage, RCODE } from "../../dns/message.ts";
import { gc, type Network, newNetwork, openNetwork } from "../../mod.ts";
import { agentPid, agentsOf, killAgents } from "./_agent_helpers.ts";
import { Cleanup, exec, isRoot, SKIP_ROOT } from "./_helpers.ts";
import { dig } from "./_dig.ts";
import { namespaceAt, setUpNetworkTestFile, tempStateDir, waitFor } from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
const GOOD = 5398;
const DEAD = 5399;
const OUTSIDE = "203.0.113.99";

const sockets: dgram.Socket[] = [];
let upstreamQueries = 0;
const mounted: string[] = [];
const stateDirs: string[] = [];

/** A fake upstream: answers every A query with OUTSIDE. */
async function fakeUpstream(port: number, answer: boolean): Promise<void> {
  const s = dgram.createSocket("udp4");
  s.on("message", (msg, rinfo) => {
    upstreamQueries++;
    if (!answer) return;
    const q = decodeMessage(msg);
    const reply = encodeMessage({
      id: q.id,
      qr: true,
      rd: q.rd,
      ra: true,
      rcode: RCODE.NOERROR,
      questions: q.questions,
      answers: [{
        name: q.questions[0].name,
        type: "A",
        class: 1,
        ttl: 60,
        data: { address: OUTSIDE },
      }],
    });
    s.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => s.bind({ address: "127.0.0.1", port }, () => r()));
  sockets.push(s);
}

/** A fresh state directory; with `c`, its agents are killed when `c` is disposed of. */
function newStateDir(c?: Cleanup): string {
  const d = tempStateDir();
  stateDirs.push(d);
  c?.defer("kill agent", () => killAgents(d));
  return d;
}

/** `dig +short -f FILE` from `ns` to blue's gateway (one try per query, `timeout` s each). */
function digFile(ns: string, file: string, timeout: number): ReturnType<typeof exec> {
  return exec([
    "ip",
    "netns",
    "exec",
    ns,
    "dig",
    "@198.51.100.1",
    "+tries=1",
    `+timeout=${timeout}`,
    "+short",
    "-f",
    file,
  ]);
}

/** Sockets listening on port 53 but the fake upstream's. */
async function listeners53(proto = "u"): Promise<string> {
  const r = await exec(["ss", `-ln${proto}H`, "sport", "=", ":53"]);
  return r.stdout.split("\n").filter((l) => l.trim() && !l.includes("127.0.0.1:53")).join("\n");
}

const nsName = (n: string) => `${P}${n}`;
const nsPath = (n: string) => `/run/netns/${nsName(n)}`;

before(async () => {
  if (!isRoot) return;
  mkdirSync("/etc/netns", { recursive: true });
  assert.equal((await exec(["mount", "-t", "tmpfs", "nslink-etc-netns", "/etc/netns"])).code, 0);
  mounted.push("/etc/netns");
  const rc = join(newStateDir(), "resolv.conf");
  writeFileSync(rc, "nameserver 127.0.0.1\n");
  assert.equal((await exec(["mount", "--bind", rc, "/etc/resolv.conf"])).code, 0);
  mounted.push("/etc/resolv.conf");
  await fakeUpstream(53, true);
  await fakeUpstream(GOOD, true);
  await fakeUpstream(DEAD, false);
});

after(async () => {
  for (const d of stateDirs) killAgents(d);
  for (const s of sockets.splice(0)) s.close();
  for (const m of mounted.splice(0).reverse()) await exec(["umount", "-l", m]);
});

/** A bridge network `P+name` on bridge `P+bridge`, deleted (and the bridge) by `c`. */
async function bridgeNetwork(
  c: Cleanup,
  stateDir: string,
  name: string,
  bridge: string,
  options: Record<string, unknown>,
): Promise<Network> {
  const network = await newNetwork("bridge", `${P}${name}`, {
    stateDir,
    bridgeName: `${P}${bridge}`,
    ...options,
  });
  c.link(`${P}${bridge}`);
  c.defer(`${name}.delete()`, () => network.delete());
  return network;
}

function blue(c: Cleanup, stateDir: string, options: Record<string, unknown> = {}) {
  return bridgeNetwork(c, stateDir, "blue", "b", {
    subnet: "198.51.100.0/24",
    subnetIPv6: "2001:db8:1::/64",
    ...options,
  });
}

async function container(c: Cleanup, net: Network, name: string, aliases?: string[]) {
  const ns = await namespaceAt(c, nsPath(name));
  for (const i of await net.link(name, { namespace: ns, ...(aliases ? { aliases } : {}) })) {
    await ns.addInterface(i);
  }
  return ns;
}

/** Bun's default of 5 s is too short for some of these. */
const LONG = { timeout: 60_000 };

describe("container names served by the host agent", { skip: SKIP_ROOT }, () => {
  it(
    "a name answers the moment link() returns and is gone the moment unlink() returns",
    LONG,
    async () => {
      await using c = new Cleanup();
      const stateDir = newStateDir(c);
      const net = await blue(c, stateDir);
      // newNetwork waited for the agent's sockets.
      assert.ok(agentPid(stateDir), "the agent runs once a DNS-enabled network exists");
      const ss = await exec(["ss", "-lnuH", "sport", "=", ":53"]);
      assert.match(ss.stdout, /198\.51\.100\.1:53/);
      assert.match(ss.stdout, /\[2001:db8:1::1\]:53/);
      await container(c, net, "client");
      const ws = await container(c, net, "web", ["www", "api"]);
      const web = net.endpoint("web")!;
      const v4 = web.interfaces[0].address.split("/")[0];
      const v6 = web.interfaces[0].addressIPv6.split("/")[0];
      const q = (args: string[]) => dig(nsName("client"), "198.51.100.1", args);
      assert.deepEqual((await q(["web", "A"])).answers, [`A ${v4}`]);
      assert.deepEqual((await q(["WWW", "AAAA"])).answers, [`AAAA ${v6}`]);
      assert.deepEqual((await q(["api.dns.nslink", "A"])).answers, [`A ${v4}`]);
      // Over IPv6 and over TCP too.
      assert.deepEqual((await dig(nsName("client"), "2001:db8:1::1", ["web", "AAAA"])).answers, [
        `AAAA ${v6}`,
      ]);
      assert.deepEqual((await q(["+tcp", "www.dns.nslink", "A"])).answers, [`A ${v4}`]);
      const ptr = await q(["-x", v4]);
      assert.deepEqual(ptr.answers.sort(), [
        "PTR api.dns.nslink.",
        "PTR web.dns.nslink.",
        "PTR www.dns.nslink.",
      ]);
      await ws.delete();
      await net.unlink("web");
      const gone = await q(["web.dns.nslink", "A"]);
      assert.equal(gone.status, "NXDOMAIN");
      // Link and unlink over and over: every answer is current at once, none is lost.
      for (let i = 0; i < 5; i++) {
        await net.link(`tmp${i}`, { aliases: [`alias${i}`] });
        const r = await q([`alias${i}.dns.nslink`, "A"]);
        assert.equal(r.status, "NOERROR", `alias${i} right after link()`);
        assert.equal(r.answers.length, 1);
        await net.unlink(`tmp${i}`);
        assert.equal((await q([`tmp${i}.dns.nslink`, "A"])).status, "NXDOMAIN");
      }
    },
  );

  it(
    "no query is lost while containers link and unlink (icc: false: the gateway still answers)",
    LONG,
    async () => {
      await using c = new Cleanup();
      const stateDir = newStateDir(c);
      const net = await blue(c, stateDir, { icc: false });
      await container(c, net, "client");
      await container(c, net, "web");
      const batch = join(stateDir, "stable");
      writeFileSync(batch, "web.dns.nslink A\n".repeat(300));
      const queries = digFile(nsName("client"), batch, 2);
      let churn = 0;
      let done = false;
      void queries.finally(() => (done = true));
      while (!done && churn < 200) {
        await net.link(`churn${churn}`);
        await net.unlink(`churn${churn}`);
        churn++;
      }
      const r = await queries;
      const answers = r.stdout.trim().split("\n");
      const web = net.endpoint("web")!.interfaces[0].address.split("/")[0];
      assert.equal(
        answers.length,
        300,
        `every query answered (${churn} links and unlinks meanwhile)`,
      );
      assert.ok(answers.every((a) => a === web), r.stdout);
    },
  );

  it(
    "two networks: a container on both resolves both; one only on red does not see blue; internal forwards nothing",
    LONG,
    async () => {
      await using c = new Cleanup();
      const stateDir = newStateDir(c);
      const b = await blue(c, stateDir);
      const red = await bridgeNetwork(c, stateDir, "red", "r", {
        subnet: "203.0.113.0/26",
        internal: true,
      });
      await container(c, b, "web");
      const multi = await namespaceAt(c, nsPath("multi"));
      for (const i of await b.link("multi", { namespace: multi })) await multi.addInterface(i);
      for (const i of await red.link("multi", { namespace: multi })) await multi.addInterface(i);
      await container(c, red, "redonly");
      const fromMulti = await dig(nsName("multi"), "203.0.113.1", ["web", "A"]);
      assert.equal(fromMulti.answers.length, 1, "multi sees blue's web through red's gateway");
      assert.equal(
        (await dig(nsName("multi"), "198.51.100.1", ["redonly", "A"])).answers.length,
        1,
      );
      const fromRed = await dig(nsName("redonly"), "203.0.113.1", ["web.dns.nslink", "A"]);
      assert.equal(fromRed.status, "NXDOMAIN");
      const before = upstreamQueries;
      const outside = await dig(nsName("redonly"), "203.0.113.1", ["outside.example", "A"]);
      assert.equal(outside.status, "NXDOMAIN");
      assert.equal(upstreamQueries, before, "an internal network forwards nothing");
    },
  );

  it(
    "forwards other names: the network's dnsServers past a dead first one, else the host's resolv.conf",
    LONG,
    async () => {
      await using c = new Cleanup();
      const stateDir = newStateDir(c);
      const net = await blue(c, stateDir, {
        dnsServers: [`127.0.0.1#${DEAD}`, `127.0.0.1#${GOOD}`],
      });
      await container(c, net, "client");
      const r = await dig(nsName("client"), "198.51.100.1", ["outside.example", "A"]);
      assert.deepEqual(r.answers, [`A ${OUTSIDE}`]);
      const green = await bridgeNetwork(c, stateDir, "green", "g", { subnet: "203.0.113.64/26" });
      await container(c, green, "gclient");
      const viaHost = await dig(nsName("gclient"), "203.0.113.65", ["outside.example", "A"]);
      assert.deepEqual(viaHost.answers, [`A ${OUTSIDE}`]);
    },
  );

  it(
    "ip netns exec NAME getent hosts: /etc/netns/NAME/resolv.conf while the namespace lives",
    LONG,
    async () => {
      await using c = new Cleanup();
      const stateDir = newStateDir(c);
      const net = await blue(c, stateDir);
      await container(c, net, "web", ["www"]);
      const cl = await container(c, net, "c1");
      const conf = `/etc/netns/${nsName("c1")}/resolv.conf`;
      assert.match(readFileSync(conf, "utf8"), /^nameserver 198\.51\.100\.1$/m);
      assert.match(readFileSync(conf, "utf8"), /^search dns\.nslink$/m);
      const r = await exec(["ip", "netns", "exec", nsName("c1"), "getent", "hosts", "www"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^2001:db8:1::\w+\s+(web|www)\.dns\.nslink/);
      const r4 = await exec(["ip", "netns", "exec", nsName("c1"), "getent", "ahostsv4", "web"]);
      assert.match(r4.stdout, /^198\.51\.100\.\d+\s/);
      await cl.delete();
      assert.equal(existsSync(conf), false, "removed with the namespace");
    },
  );

  it(
    "the agent killed with kill -9 comes back with every name on the next call (gc, openNetwork, link)",
    LONG,
    async () => {
      await using c = new Cleanup();
      const stateDir = newStateDir(c);
      const net = await blue(c, stateDir);
      await container(c, net, "client");
      await container(c, net, "web");
      for (const revive of ["gc", "openNetwork", "link"]) {
        const pid = agentPid(stateDir)!;
        process.kill(pid, "SIGKILL");
        assert.ok(await waitFor(() => agentPid(stateDir) !== pid, 5000), "killed");
        if (revive === "gc") await gc({ stateDir });
        else if (revive === "openNetwork") await openNetwork(`${P}blue`, { stateDir });
        else await net.link("late");
        const now = agentPid(stateDir);
        assert.ok(now !== undefined && now !== pid, `${revive} started the agent again`);
        const r = await dig(nsName("client"), "198.51.100.1", ["web", "A"]);
        assert.equal(r.answers.length, 1, `web answers after ${revive}`);
      }
      await net.unlink("late");
      // Three calls at once after a kill: each may start an agent; one serves, the others leave.
      process.kill(agentPid(stateDir)!, "SIGKILL");
      assert.ok(await waitFor(() => agentPid(stateDir) === undefined, 5000), "killed");
      await Promise.all([0, 1, 2].map(() => openNetwork(`${P}blue`, { stateDir })));
      assert.ok(
        await waitFor(() => agentsOf(stateDir).length === 1, 5000),
        `one agent left: ${agentsOf(stateDir)}`,
      );
      assert.equal(agentsOf(stateDir)[0], agentPid(stateDir));
      const r = await dig(nsName("client"), "198.51.100.1", ["web", "A"]);
      assert.equal(r.answers.length, 1);
    },
  );

  it("100 containers all resolvable", LONG, async () => {
    await using c = new Cleanup();
    const stateDir = newStateDir(c);
    const net = await blue(c, stateDir);
    await container(c, net, "client");
    const names = Array.from({ length: 100 }, (_, i) => `n${i}`);
    c.defer("unlink 100", async () => {
      for (const n of names) await net.unlink(n);
    });
    for (const n of names) await net.link(n);
    const batch = join(stateDir, "queries");
    writeFileSync(batch, names.map((n) => `${n}.dns.nslink A`).join("\n") + "\n");
    const r = await digFile(nsName("client"), batch, 3);
    const got = r.stdout.trim().split("\n").filter((l) => l);
    const want = names.map((n) => net.endpoint(n)!.interfaces[0].address.split("/")[0]);
    assert.deepEqual(got, want);
  });

  it(
    "nothing is left after the last network goes: no agent, no socket on port 53, no /etc/netns file",
    LONG,
    async () => {
      const stateDir = newStateDir();
      {
        await using c = new Cleanup();
        c.defer("kill agent", () => killAgents(stateDir));
        const net = await blue(c, stateDir);
        await container(c, net, "c1");
        assert.ok(agentPid(stateDir));
      }
      assert.equal(agentPid(stateDir), undefined, "the agent exited (delete() waited for it)");
      assert.equal(await listeners53(), "");
      assert.equal(await listeners53("t"), "");
      assert.deepEqual((await exec(["ls", "-A", "/etc/netns"])).stdout.trim(), "");
    },
  );

  it("dns: false: the agent runs for the firewall only, serving no names", LONG, async () => {
    await using c = new Cleanup();
    const stateDir = newStateDir(c);
    await blue(c, stateDir, { dns: false });
    assert.ok(agentPid(stateDir), "the agent keeps the network's firewall");
    assert.equal(await listeners53(), "");
  });
});
