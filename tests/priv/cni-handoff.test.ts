/**
 * Privileged tests of the CNI plugin's hand-off to the host agent (`cni/handoff.ts`,
 * `cni/serve.ts`): an exec'd plugin whose state directory has a running agent sends it the
 * request and prints its answer. Proven by the agent's own count of the requests it served
 * (`status`): results, errors and kernel state are the same as the in-process path's
 * (`NSLINK_AGENT=off` in the exec's environment); a request whose plugin goes away after sending
 * it is completed by the agent, and the runtime's retry and DEL behave as after an in-process
 * ADD; a stale socket, an agent that does not know the request and one that dies after
 * accepting it make the exec do the work itself.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createConnection, createServer, type Server } from "node:net";
import { spawnSync } from "node:child_process";
import { SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { setUpNetworkTestFile, tempStateDir, waitFor } from "./_network_helpers.ts";
import { ipJsonAt, nslinkArgv, runProcess } from "./_cli_helpers.ts";
import { addNetns, cniConf as conf } from "./_cni_setup.ts";
import { agentPid, agentsOf } from "./_agent_helpers.ts";
import { askAgent } from "../../agent/client.ts";
import { agentPaths } from "../../agent/agent.ts";

const { prefix: P } = setUpNetworkTestFile();

interface Call {
  containerId: string;
  netns?: string;
  stateDir: string;
  /** `NSLINK_AGENT=off`: the exec neither hands off nor starts an agent. */
  inProcess?: boolean;
  /** `NSLINK_AGENT_CMD`. */
  agentCmd?: string;
}

/** One exec of the plugin. */
async function exec(command: string, c: unknown, call: Call) {
  const r = await runProcess(nslinkArgv(), {
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: call.containerId,
      CNI_NETNS: call.netns,
      CNI_IFNAME: "eth0",
      CNI_PATH: "/usr/lib/cni",
      NSLINK_STATE_DIR: call.stateDir,
      NSLINK_AGENT: call.inProcess ? "off" : undefined,
      NSLINK_AGENT_CMD: call.agentCmd,
    },
    input: JSON.stringify(c),
  });
  const text = r.stdout.trim();
  return { ...r, json: text ? JSON.parse(text) as Record<string, unknown> : undefined };
}

/** Whether the state directory's agent answers (the ADD that made the network started it). */
async function answers(stateDir: string): Promise<boolean> {
  try {
    return (await askAgent(stateDir, "status", 2000)).exiting === false;
  } catch {
    return false;
  }
}

/** How many `cni` requests the state directory's agent has served. */
async function served(stateDir: string): Promise<number> {
  const reply = await askAgent(stateDir, "status", 5000);
  return reply.requests?.cni ?? 0;
}

/**
 * The container's interfaces as `ip -j addr` shows them, MACs and link-local addresses left out
 * (random per link).
 */
async function inside(netns: string) {
  const links = await ipJsonAt<
    {
      ifname: string;
      mtu: number;
      operstate: string;
      addr_info: { local: string; scope: string }[];
    }[]
  >(netns, ["addr"]);
  return links.map((l) => ({
    ifname: l.ifname,
    mtu: l.mtu,
    state: l.operstate,
    // Global addresses (a link-local one comes when the kernel gets to it).
    addrs: l.addr_info.filter((a) => a.scope !== "link").map((a) => a.local).sort(),
  }));
}

/** A result without its MACs. */
function noMacs(r: Record<string, unknown> | undefined): unknown {
  const copy = structuredClone(r ?? {}) as { interfaces?: { mac?: string }[] };
  for (const i of copy.interfaces ?? []) delete i.mac;
  return copy;
}

/** A server on `path` answering each connection with `reply` (line by line) and closing. */
function fakeAgent(path: string, reply: (line: string) => string[]): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer((c) => {
    let buf = "";
    c.on("error", () => {});
    c.setEncoding("utf8");
    c.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      for (const l of reply(line)) c.write(l + "\n");
      c.end();
    });
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(path, () => ok(server));
  });
}

describe("nslink CNI plugin handing its work to the host agent", { skip: SKIP_ROOT }, () => {
  it("ADD, CHECK and DEL through the agent: same results, errors and kernel state as in-process", {
    timeout: 120_000,
  }, async () => {
    const state = tempStateDir();
    const net = `${P}h`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}h1`);
      const keep = await addNetns(c, `${P}h0`);
      // The first ADD creates the network, which starts the agent.
      const first = await exec("ADD", conf(net), {
        containerId: `${P}keep`,
        netns: keep,
        stateDir: state,
      });
      assert.equal(first.code, 0, first.stdout + first.stderr);
      assert.ok(await waitFor(() => answers(state), 10_000), "no agent");
      const sock = statSync(agentPaths(state).sock);
      assert.equal(sock.mode & 0o777, 0o600);
      assert.equal(sock.uid, 0);
      const call = { containerId: `${P}same`, netns, stateDir: state };
      const before = await served(state);
      const viaAgent = await exec("ADD", conf(net), call);
      assert.equal(viaAgent.code, 0, viaAgent.stdout + viaAgent.stderr);
      assert.equal(await served(state), before + 1, "the ADD was not handed to the agent");
      const kernelViaAgent = await inside(netns);
      const check = await exec("CHECK", conf(net, { prevResult: viaAgent.json }), call);
      assert.equal(check.code, 0, check.stdout);
      assert.equal(check.stdout, "");
      // An error answered by the agent: the same JSON and exit status as in-process.
      const bad = conf(net, { subnet: "203.0.113.0/24" });
      const badAgent = await exec("ADD", bad, call);
      const badHere = await exec("ADD", bad, { ...call, inProcess: true });
      assert.equal(badAgent.code, 1);
      assert.deepEqual(
        { code: badAgent.code, out: badAgent.json },
        { code: badHere.code, out: badHere.json },
      );
      assert.equal((badAgent.json as { code: number }).code, 7);
      const del = await exec("DEL", conf(net), call);
      assert.equal(del.code, 0, del.stdout);
      assert.equal(await served(state), before + 4, "CHECK, the bad ADD or DEL not handed off");
      assert.deepEqual((await inside(netns)).map((l) => l.ifname), ["lo"]);
      // The same ADD in-process: the same result (MACs aside) and the same kernel state.
      const here = await exec("ADD", conf(net), { ...call, inProcess: true });
      assert.equal(here.code, 0, here.stdout + here.stderr);
      assert.equal(await served(state), before + 4);
      assert.deepEqual(noMacs(viaAgent.json), noMacs(here.json));
      assert.deepEqual(await inside(netns), kernelViaAgent);
      assert.equal((await exec("DEL", conf(net), call)).code, 0);
      // The last DEL, through the agent, removes the network ADD made; the agent then exits.
      // It answers once the delete is committed (cni-del-early.test.ts): the bridge goes after.
      assert.equal(
        (await exec("DEL", conf(net), { ...call, containerId: `${P}keep`, netns: keep })).code,
        0,
      );
      const bridgeGone = () =>
        spawnSync("ip", ["-j", "link", "show", `nsl-${net}`], { encoding: "utf8" }).status !== 0;
      assert.ok(await waitFor(bridgeGone, 10_000), "the bridge is still there");
      assert.ok(await waitFor(() => agentPid(state) === undefined, 10_000), "the agent still runs");
    });
  });

  it("a request whose plugin went away is completed by the agent; retry and DEL as in-process", {
    timeout: 120_000,
  }, async () => {
    const state = tempStateDir();
    const net = `${P}k`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}k1`);
      const keep = await addNetns(c, `${P}k0`);
      const first = await exec("ADD", conf(net), {
        containerId: `${P}keep`,
        netns: keep,
        stateDir: state,
      });
      assert.equal(first.code, 0, first.stdout + first.stderr);
      assert.ok(await waitFor(() => answers(state), 10_000), "no agent");
      const before = await served(state);
      const containerId = `${P}gone`;
      // As a plugin killed right after sending: the request, then the connection closed.
      const request = {
        op: "cni",
        stateDir: state,
        env: {
          CNI_COMMAND: "ADD",
          CNI_CONTAINERID: containerId,
          CNI_NETNS: netns,
          CNI_IFNAME: "eth0",
          CNI_PATH: "/usr/lib/cni",
          NSLINK_STATE_DIR: state,
        },
        stdin: JSON.stringify(conf(net)),
        acceptBy: Date.now() + 4000,
      };
      await new Promise<void>((ok, fail) => {
        const s = createConnection(agentPaths(state).sock);
        s.on("error", fail);
        s.on("connect", () => s.end(JSON.stringify(request) + "\n", () => ok()));
      });
      assert.ok(await waitFor(async () => (await served(state)) === before + 1, 10_000));
      assert.ok(
        await waitFor(
          async () =>
            (await inside(netns)).find((l) => l.ifname === "eth0")?.addrs.length === 2 &&
            (await served(state)) === before + 1,
          10_000,
        ),
        "the agent did not complete the ADD",
      );
      assert.deepEqual((await inside(netns)).find((l) => l.ifname === "eth0")?.addrs, [
        "198.51.100.3",
        "2001:db8:1::3",
      ]);
      // The runtime's retry: the same attachment, the same address.
      const retry = await exec("ADD", conf(net), { containerId, netns, stateDir: state });
      assert.equal(retry.code, 0, retry.stdout + retry.stderr);
      assert.deepEqual(
        (retry.json as { ips: { address: string }[] }).ips.map((i) => i.address),
        ["198.51.100.3/24", "2001:db8:1::3/64"],
      );
      // A request too late to be accepted is refused, not run.
      const late = await new Promise<string>((ok, fail) => {
        const s = createConnection(agentPaths(state).sock);
        let got = "";
        s.setEncoding("utf8");
        s.on("error", fail);
        s.on("data", (d: string) => (got += d));
        s.on("close", () => ok(got));
        s.on("connect", () => s.write(JSON.stringify({ ...request, acceptBy: 1 }) + "\n"));
        setTimeout(() => s.end(), 500);
      });
      assert.deepEqual(JSON.parse(late.split("\n")[0]), { ok: false, refused: "too late" });
      assert.equal((await exec("DEL", conf(net), { containerId, netns, stateDir: state })).code, 0);
      assert.deepEqual((await inside(netns)).map((l) => l.ifname), ["lo"]);
      assert.equal(
        (await exec("DEL", conf(net), { containerId: `${P}keep`, netns: keep, stateDir: state }))
          .code,
        0,
      );
    });
  });

  it("the agent serves CNI requests of its own user only (SO_PEERCRED)", {
    timeout: 120_000,
  }, async () => {
    const state = tempStateDir();
    const net = `${P}u`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}u1`);
      const call = { containerId: `${P}u`, netns, stateDir: state };
      assert.equal((await exec("ADD", conf(net), call)).code, 0);
      assert.ok(await waitFor(() => answers(state), 10_000), "no agent");
      // Opened to everyone, so that only the peer check stands between another user and a
      // request run as root.
      const sock = agentPaths(state).sock;
      chmodSync(state, 0o755);
      chmodSync(sock, 0o666);
      const request = JSON.stringify({
        op: "cni",
        stateDir: state,
        env: {
          CNI_COMMAND: "DEL",
          CNI_CONTAINERID: call.containerId,
          CNI_IFNAME: "eth0",
          CNI_PATH: "/usr/lib/cni",
        },
        stdin: JSON.stringify(conf(net)),
        acceptBy: Date.now() + 4000,
      });
      const client =
        "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n" +
        "s.sendall(sys.argv[2].encode()+b'\\n')\nprint(s.makefile().readline(),end='')";
      const nobody = spawnSync("setpriv", [
        "--reuid",
        "65534",
        "--regid",
        "65534",
        "--clear-groups",
        "/usr/bin/python3",
        "-c",
        client,
        sock,
        request,
      ], { encoding: "utf8" });
      assert.equal(nobody.status, 0, nobody.stderr);
      assert.deepEqual(JSON.parse(nobody.stdout), { ok: false, refused: "peer uid 65534" });
      assert.deepEqual((await inside(netns)).map((l) => l.ifname).sort(), ["eth0", "lo"]);
      const root = spawnSync("/usr/bin/python3", ["-c", client, sock, request], {
        encoding: "utf8",
      });
      assert.deepEqual(JSON.parse(root.stdout), { ok: true, accepted: true });
      assert.ok(
        await waitFor(async () => (await inside(netns)).length === 1, 10_000),
        "the root peer's DEL did not run",
      );
    });
  });

  it(
    "an ADD that creates the network does not wait for the agent to start",
    { timeout: 120_000 },
    async () => {
      const state = tempStateDir();
      const net = `${P}w`;
      // An agent command that never answers: an ADD waiting for it would fail after 20 s.
      const dir = mkdtempSync(join(tmpdir(), "nsl-slow-agent-"));
      const slow = join(dir, "agent.sh");
      writeFileSync(slow, "#!/bin/sh\nsleep 60\n");
      chmodSync(slow, 0o755);
      await withCleanup(async (c) => {
        c.defer("slow agent", () => {
          // Started detached: its process group is its own (the shell and its sleep).
          for (const pid of agentsOf(state)) process.kill(-pid, "SIGKILL");
          rmSync(dir, { recursive: true, force: true });
        });
        c.link(`nsl-${net}`);
        const netns = await addNetns(c, `${P}w1`);
        const call = { containerId: `${P}w`, netns, stateDir: state, agentCmd: slow };
        const r = await exec("ADD", conf(net), call);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.ok(agentsOf(state).length > 0, "the agent was not started");
        assert.equal((await exec("DEL", conf(net), call)).code, 0);
        assert.deepEqual((await inside(netns)).map((l) => l.ifname), ["lo"]);
      });
    },
  );

  it("a network made while the agent exits (its last network deleted) gets an agent", {
    timeout: 120_000,
  }, async () => {
    const state = tempStateDir();
    await withCleanup(async (c) => {
      for (let i = 0; i < 4; i++) {
        const a = `${P}x${i}`;
        const b = `${P}y${i}`;
        c.link(`nsl-${a}`);
        c.link(`nsl-${b}`);
        const na = await addNetns(c, `${P}xa${i}`);
        const nb = await addNetns(c, `${P}xb${i}`);
        const ca = { containerId: `${P}xa${i}`, netns: na, stateDir: state };
        const cb = { containerId: `${P}xb${i}`, netns: nb, stateDir: state };
        assert.equal((await exec("ADD", conf(a), ca)).code, 0);
        assert.ok(await waitFor(() => answers(state), 10_000), `${i}: no agent for ${a}`);
        // The last DEL of a (the agent exits after it) and the first ADD of b, at once.
        const [d, r] = await Promise.all([
          exec("DEL", conf(a), ca),
          exec("ADD", conf(b, { subnet: "203.0.113.0/24", subnetIPv6: "2001:db8:2::/64" }), cb),
        ]);
        assert.equal(d.code, 0, d.stdout + d.stderr);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.ok(await waitFor(() => answers(state), 10_000), `${i}: no agent for ${b}`);
        assert.equal((await exec("DEL", conf(b), cb)).code, 0);
        assert.ok(await waitFor(() => agentPid(state) === undefined, 10_000), `${i}: agent left`);
      }
    });
  });

  it(
    "works itself when the socket is stale, the agent does not know the request, or dies after accepting",
    { timeout: 120_000 },
    async () => {
      const cases: [string, (line: string) => string[]][] = [
        ["old agent", () => [JSON.stringify({ ok: false, error: "unknown request" })]],
        ["dies after accepting", () => [JSON.stringify({ ok: true, accepted: true })]],
        ["stale socket", () => []],
      ];
      for (const [i, [what, reply]] of cases.entries()) {
        const state = tempStateDir();
        const net = `${P}f${i}`;
        await withCleanup(async (c) => {
          c.link(`nsl-${net}`);
          const netns = await addNetns(c, `${P}f${i}`);
          const call = { containerId: `${P}fb${i}`, netns, stateDir: state };
          const sock = agentPaths(state).sock;
          const server = await fakeAgent(sock, reply);
          let asked = 0;
          server.on("connection", () => asked++);
          if (what === "stale socket") {
            // A socket file nobody listens on (an agent killed with -9 leaves one).
            await new Promise<void>((r) => server.close(() => r()));
            spawnSync("python3", [
              "-c",
              `import socket; socket.socket(socket.AF_UNIX).bind("${sock}")`,
            ]);
            assert.ok(statSync(sock).isSocket(), `${what}: no socket file`);
          }
          c.defer("fake agent", () => new Promise<void>((r) => server.close(() => r())));
          const r = await exec("ADD", conf(net), call);
          assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
          assert.deepEqual(
            (r.json as { ips: { address: string }[] }).ips.map((a) => a.address),
            ["198.51.100.2/24", "2001:db8:1::2/64"],
            what,
          );
          if (what !== "stale socket") assert.ok(asked >= 1, `${what}: the fake was not asked`);
          const d = await exec("DEL", conf(net), { ...call, inProcess: true });
          assert.equal(d.code, 0, `${what}: ${d.stdout}`);
          assert.deepEqual((await inside(netns)).map((l) => l.ifname), ["lo"], what);
        });
      }
    },
  );
});
