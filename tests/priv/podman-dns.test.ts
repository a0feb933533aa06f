/**
 * Privileged test with a real container engine: two busybox containers that podman 4.3 runs on
 * an nslink network through its CNI backend find each other by name (`--name`, which reaches the
 * plugin as `CNI_ARGS` `K8S_POD_NAME`) and by `--network-alias` (the `aliases` capability), with
 * `nslookup` and `ping` inside the containers, through the nameserver the plugin's result names
 * (the network's gateway, first in the container's resolv.conf). Set up as `podman.test.ts` by
 * `_podman.ts` (vfs storage, cgroupfs, the CNI cache on a tmpfs, an image imported from
 * busybox-static), with the sandbox's /etc/resolv.conf bind-mounted to a file naming nothing
 * outside it. Every
 * container, conmon process, agent and file is removed afterwards.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { agentPid, killAgents } from "./_agent_helpers.ts";
import { isRoot, sleep } from "./_helpers.ts";
import { runProcess } from "./_cli_helpers.ts";
import { PodmanSandbox } from "./_podman.ts";

const PODMAN = ["/usr/bin/podman", "/bin/busybox"].every(existsSync);
const SKIP = !isRoot ? "needs root" : !PODMAN && "needs podman and busybox-static";
const NET = `nsl${Math.random().toString(16).slice(2, 6)}dns`;
const IMAGE = "localhost/nslink-bbdns:1";

const box = new PodmanSandbox({
  tmpPrefix: "nsl-podman-dns-",
  net: NET,
  image: IMAGE,
  applets: ["sh", "ping", "sleep", "cat", "nslookup"],
  plugins: (stateDir) => [{
    type: "nslink",
    subnet: "203.0.113.0/24",
    stateDir,
    capabilities: { aliases: true },
  }],
  resolvConf: true,
});
const podman = (...args: string[]) => box.podman(...args);

function run(name: string, ...extra: string[]): Promise<string> {
  return podman(
    "run",
    "-d",
    "--name",
    name,
    ...extra,
    "--ulimit",
    "host",
    "--cgroups",
    "disabled",
    "--network",
    NET,
    IMAGE,
    "sleep",
    "300",
  );
}

const test = (name: string, fn: () => Promise<void>) =>
  it(name, { skip: SKIP, timeout: 120_000 }, fn);

describe("podman 4.3 on an nslink network: containers find each other by name", () => {
  before(async () => {
    if (SKIP) return;
    await box.setUp();
  });

  after(async () => {
    if (!box.work) return;
    await box.stop();
    const agent = agentPid(box.state);
    killAgents(box.state);
    const survivors = box.ownProcesses();
    await box.remove();
    assert.deepEqual(survivors, [], "podman/conmon processes survived");
    assert.equal(agent, undefined, "the agent outlived the network");
  });

  test("nslookup and ping by --name and by --network-alias", async () => {
    await run("web", "--network-alias", "www");
    await run("client");
    const conf = await podman("exec", "client", "cat", "/etc/resolv.conf");
    assert.match(conf, /^nameserver 203\.0\.113\.1$/m, conf);
    assert.match(conf, /^search .*dns\.nslink/m, conf);
    const webAddr = await podman("inspect", "-f", "{{.NetworkSettings.Networks}}", "web");
    assert.ok(webAddr, "web has a network");
    for (const name of ["web", "www", "web.dns.nslink"]) {
      const out = await podman("exec", "client", "nslookup", name);
      assert.match(out, /Address:\s+203\.0\.113\.\d+/, `nslookup ${name}: ${out}`);
      const ping = await podman("exec", "client", "ping", "-c", "1", "-W", "2", name);
      assert.match(ping, /1 packets received/, `ping ${name}`);
    }
    await podman("rm", "-f", "-t", "0", "web");
    const gone = await runProcess(
      box.argv("exec", "client", "nslookup", "web.dns.nslink"),
      { env: box.env },
    );
    assert.match(gone.stdout + gone.stderr, /NXDOMAIN|can't find/, "gone with its container");
    await podman("rm", "-f", "-t", "0", "client");
    // The last DEL deleted the network ADD made: the agent went with it.
    for (let i = 0; i < 100 && agentPid(box.state) !== undefined; i++) await sleep(50);
    assert.equal(agentPid(box.state), undefined);
  });
});
