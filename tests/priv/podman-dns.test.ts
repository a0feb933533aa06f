/**
 * Privileged test with a real container engine: two busybox containers that podman 4.3 runs on
 * an nslink network through its CNI backend find each other by name (`--name`, which reaches the
 * plugin as `CNI_ARGS` `K8S_POD_NAME`) and by `--network-alias` (the `aliases` capability), with
 * `nslookup` and `ping` inside the containers, through the nameserver the plugin's result names
 * (the network's gateway, first in the container's resolv.conf). Set up as `podman.test.ts`
 * (vfs storage, cgroupfs, the CNI cache on a tmpfs, an image imported from busybox-static), with
 * the sandbox's /etc/resolv.conf bind-mounted to a file naming nothing outside it. Every
 * container, conmon process, agent and file is removed afterwards.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { agentPid, killAgents } from "./_agent_helpers.ts";
import { isRoot, sleep } from "./_helpers.ts";
import { pluginDir, runProcess } from "./_cli_helpers.ts";

const PODMAN = ["/usr/bin/podman", "/bin/busybox"].every(existsSync);
const SKIP = !isRoot ? "needs root" : !PODMAN && "needs podman and busybox-static";
const NET = `nsl${Math.random().toString(16).slice(2, 6)}dns`;
const IMAGE = "localhost/nslink-bbdns:1";

let work = "";
let plugins = "";
let state = "";
const mounts: string[] = [];

function podmanArgv(...args: string[]): string[] {
  return [
    "podman",
    "--root",
    join(work, "root"),
    "--runroot",
    join(work, "runroot"),
    "--storage-driver",
    "vfs",
    "--network-backend",
    "cni",
    "--cni-config-dir",
    join(work, "cni"),
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "file",
    ...args,
  ];
}

async function podman(...args: string[]): Promise<string> {
  const r = await runProcess(podmanArgv(...args), {
    env: { CONTAINERS_CONF: join(work, "containers.conf") },
  });
  if (r.code !== 0) {
    throw new Error(`podman ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  }
  return r.stdout.trim();
}

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

/** Processes whose command line names the work directory (conmon, podman) and their children. */
function ownProcesses(): number[] {
  const all = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number);
  const parent = new Map<number, number>();
  const mine = new Set<number>();
  for (const pid of all) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      parent.set(pid, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
      if (pid !== process.pid && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(work)) {
        mine.add(pid);
      }
    } catch { /* gone */ }
  }
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (!mine.has(pid) && mine.has(ppid)) {
        mine.add(pid);
        grew = true;
      }
    }
  }
  return [...mine];
}

const test = (name: string, fn: () => Promise<void>) =>
  it(name, { skip: SKIP, timeout: 120_000 }, fn);

describe("podman 4.3 on an nslink network: containers find each other by name", () => {
  before(async () => {
    if (SKIP) return;
    work = mkdtempSync(join(tmpdir(), "nsl-podman-dns-"));
    state = join(work, "state");
    plugins = pluginDir();
    const rootfs = join(work, "rootfs");
    mkdirSync(join(rootfs, "bin"), { recursive: true });
    copyFileSync("/bin/busybox", join(rootfs, "bin", "busybox"));
    for (const a of ["sh", "ping", "sleep", "cat", "nslookup"]) {
      symlinkSync("busybox", join(rootfs, "bin", a));
    }
    assert.equal(
      (await runProcess(["tar", "-C", rootfs, "-cf", join(work, "bb.tar"), "."])).code,
      0,
    );
    mkdirSync(join(work, "cni"));
    writeFileSync(
      join(work, "cni", `${NET}.conflist`),
      JSON.stringify({
        cniVersion: "1.0.0",
        name: NET,
        plugins: [{
          type: "nslink",
          subnet: "203.0.113.0/24",
          stateDir: state,
          capabilities: { aliases: true },
        }],
      }),
    );
    writeFileSync(
      join(work, "containers.conf"),
      `[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n` +
        `events_logger = "file"\n[network]\ncni_plugin_dirs = ["${plugins}", "/usr/lib/cni"]\n`,
    );
    // Inside the private mount namespace of in-netns.sh only.
    mkdirSync("/var/lib/cni", { recursive: true });
    assert.equal(
      (await runProcess(["mount", "-t", "tmpfs", "nslink-cni", "/var/lib/cni"])).code,
      0,
    );
    mounts.push("/var/lib/cni");
    writeFileSync(join(work, "resolv.conf"), "nameserver 127.0.0.1\n");
    assert.equal(
      (await runProcess(["mount", "--bind", join(work, "resolv.conf"), "/etc/resolv.conf"])).code,
      0,
    );
    mounts.push("/etc/resolv.conf");
    await runProcess(["umount", "/sys/fs/cgroup/unified"]);
    await podman("import", join(work, "bb.tar"), IMAGE);
  });

  after(async () => {
    if (!work) return;
    try {
      await podman("rm", "-af", "-t", "0");
    } catch (e) {
      console.error(e);
    }
    for (let i = 0; i < 3; i++) {
      const left = ownProcesses();
      if (left.length === 0) break;
      for (const pid of left) {
        try {
          process.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      await sleep(100);
    }
    const agent = agentPid(state);
    killAgents(state);
    const survivors = ownProcesses();
    for (const m of mounts.splice(0).reverse()) await runProcess(["umount", "-l", m]);
    rmSync(work, { recursive: true, force: true });
    rmSync(plugins, { recursive: true, force: true });
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
      podmanArgv("exec", "client", "nslookup", "web.dns.nslink"),
      { env: { CONTAINERS_CONF: join(work, "containers.conf") } },
    );
    assert.match(gone.stdout + gone.stderr, /NXDOMAIN|can't find/, "gone with its container");
    await podman("rm", "-f", "-t", "0", "client");
    // The last DEL deleted the network ADD made: the agent went with it.
    for (let i = 0; i < 100 && agentPid(state) !== undefined; i++) await sleep(50);
    assert.equal(agentPid(state), undefined);
  });
});
