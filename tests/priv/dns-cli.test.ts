/**
 * Privileged test of container names through the `nslink` command: `network create` (with
 * `--dns`, `--disable-dns`), `netns add`, `network connect --alias`, `network inspect`, queried
 * with `dig` and `getent` (through `ip netns exec`, which reads `/etc/netns/NAME/resolv.conf`).
 * `/etc/netns` is a tmpfs inside the throw-away namespace; no agent survives the file.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { type ChildProcess, spawn } from "node:child_process";
import { nslink, nslinkArgv } from "./_cli_helpers.ts";
import { agentPid, killAgents } from "./_agent_helpers.ts";
import { exec, isRoot, SKIP_ROOT } from "./_helpers.ts";
import { setUpNetworkTestFile, tempStateDir, waitFor } from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
const stateDirs: string[] = [];
const mounted: string[] = [];

before(async () => {
  if (!isRoot) return;
  mkdirSync("/etc/netns", { recursive: true });
  assert.equal((await exec(["mount", "-t", "tmpfs", "nslink-etc-netns", "/etc/netns"])).code, 0);
  mounted.push("/etc/netns");
});

after(async () => {
  for (const d of stateDirs) killAgents(d);
  for (const m of mounted.splice(0).reverse()) await exec(["umount", "-l", m]);
});

async function ok(stateDir: string, ...args: string[]): Promise<string> {
  const r = await nslink(stateDir, ...args);
  assert.equal(r.code, 0, `nslink ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Bun's default of 5 s is too short for some of these. */
const LONG = { timeout: 60_000 };

describe("nslink network: container names", { skip: SKIP_ROOT }, () => {
  it("create, connect --alias, inspect, dig and getent; rm leaves nothing", LONG, async () => {
    const stateDir = tempStateDir();
    stateDirs.push(stateDir);
    const net = `${P}blue`;
    const [c1, c2] = [`${P}c1`, `${P}c2`];
    try {
      await ok(
        stateDir,
        "network",
        "create",
        "--subnet",
        "198.51.100.0/24",
        "--dns",
        "203.0.113.53",
        "-o",
        `bridge=${P}b`,
        net,
      );
      await ok(stateDir, "netns", "add", c1);
      await ok(stateDir, "netns", "add", c2);
      await ok(stateDir, "network", "connect", net, "web", "--netns", c1, "--alias", "www");
      await ok(stateDir, "network", "connect", net, "client", "--netns", c2);
      const [info] = JSON.parse(await ok(stateDir, "network", "inspect", net));
      assert.equal(info.DNSEnabled, true);
      assert.deepEqual(info.DNSServers, ["203.0.113.53"]);
      assert.deepEqual(info.Containers.web.DNSNames, ["web", "www"]);
      const address = info.Containers.web.IPv4Address.split("/")[0];
      const dig = await exec(["ip", "netns", "exec", c2, "dig", "+short", "@198.51.100.1", "www"]);
      assert.equal(dig.stdout.trim(), address);
      const getent = await exec(["ip", "netns", "exec", c2, "getent", "hosts", "web"]);
      assert.match(getent.stdout, new RegExp(`^${address.replaceAll(".", "\\.")}\\s+web`));
      await ok(stateDir, "network", "disconnect", net, "web");
      await ok(stateDir, "network", "disconnect", net, "client");
      await ok(stateDir, "netns", "rm", c1);
      await ok(stateDir, "netns", "rm", c2);
      assert.equal(existsSync(`/etc/netns/${c1}`), false, "its resolv.conf went with it");
      await ok(stateDir, "network", "rm", net);
      assert.equal(agentPid(stateDir), undefined, "no agent once the last network went");
    } finally {
      await nslink(stateDir, "network", "rm", "-f", net);
      for (const c of [c1, c2]) await exec(["ip", "netns", "del", c]);
    }
  });

  it(
    "nslink agent in the foreground takes over from the one started on demand, and stays",
    LONG,
    async () => {
      const stateDir = tempStateDir();
      stateDirs.push(stateDir);
      const net = `${P}fg`;
      const c1 = `${P}f1`;
      let fg: ChildProcess | undefined;
      try {
        await ok(
          stateDir,
          "network",
          "create",
          "--subnet",
          "198.51.100.0/24",
          "-o",
          `bridge=${P}f`,
          net,
        );
        assert.ok(agentPid(stateDir), "started on demand");
        const argv = nslinkArgv();
        fg = spawn(argv[0], [...argv.slice(1), "agent"], {
          env: { ...process.env, NSLINK_STATE_DIR: stateDir },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        fg.stdout!.on("data", (d) => (out += d));
        // Deno reports the process as ended by SIGTERM even after its handler ran: what matters is
        // that it stopped cleanly (its "stopped" line).
        const exited = new Promise<boolean>((r) =>
          fg!.on("exit", (code, signal) => r(code === 0 || signal === "SIGTERM"))
        );
        assert.ok(
          await waitFor(() => agentPid(stateDir) === fg!.pid, 20_000),
          "the foreground agent took over",
        );
        await ok(stateDir, "netns", "add", c1);
        await ok(stateDir, "network", "connect", net, "web", "--netns", c1);
        const dig = await exec([
          "ip",
          "netns",
          "exec",
          c1,
          "dig",
          "+short",
          "@198.51.100.1",
          "web",
        ]);
        assert.match(dig.stdout, /^198\.51\.100\.\d+$/m);
        await ok(stateDir, "network", "disconnect", net, "web");
        await ok(stateDir, "netns", "rm", c1);
        await ok(stateDir, "network", "rm", net);
        assert.equal(
          agentPid(stateDir),
          fg.pid,
          "a service manager's agent stays without networks",
        );
        fg.kill("SIGTERM");
        assert.ok(await exited, "exited");
        assert.match(out, /stopped/);
      } finally {
        if (fg && fg.exitCode === null) fg.kill("SIGKILL");
        await nslink(stateDir, "network", "rm", "-f", net);
        await exec(["ip", "netns", "del", c1]);
      }
    },
  );

  it(
    "--disable-dns: no names; the agent keeps the firewall only, and goes with the network",
    LONG,
    async () => {
      const stateDir = tempStateDir();
      stateDirs.push(stateDir);
      const net = `${P}plain`;
      try {
        await ok(
          stateDir,
          "network",
          "create",
          "--subnet",
          "203.0.113.0/24",
          "--disable-dns",
          "-o",
          `bridge=${P}p`,
          net,
        );
        const [info] = JSON.parse(await ok(stateDir, "network", "inspect", net));
        assert.equal(info.DNSEnabled, false);
        assert.ok(agentPid(stateDir), "the agent repairs the network's firewall");
        const both = await nslink(
          stateDir,
          "network",
          "create",
          "--disable-dns",
          "--dns",
          "1",
          "x",
        );
        assert.equal(both.code, 2);
      } finally {
        await nslink(stateDir, "network", "rm", "-f", net);
      }
      assert.equal(agentPid(stateDir), undefined, "no agent once the network went");
    },
  );
});
