/**
 * Privileged tests with a real container engine: Debian 12's podman 4.3 runs busybox containers
 * on an nslink network through its CNI backend, with `nslink` (the executable under test, found
 * by podman as the plugin of type `nslink`) chained with the standard `tuning` plugin.
 *
 * Podman runs inside the throw-away namespace of `scripts/in-netns.sh` (`_podman.ts`) as
 * `../shared/briefs/podman/run-in-sandbox.sh` shows: vfs storage and state under a temp dir,
 * cgroupfs, no default ulimits, cgroup v1 only (the unified hierarchy unmounted in the private
 * mount namespace), the CNI cache on a tmpfs, an image imported from busybox-static. Every
 * container, conmon process and file is removed afterwards, and checked.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ipLink, ipNetnsNames, isRoot, sleep } from "./_helpers.ts";
import { vethNames } from "./_network_helpers.ts";
import { cni, deletesFinished, httpGet, ipJsonAt, nslink, runProcess } from "./_cli_helpers.ts";
import { PodmanSandbox } from "./_podman.ts";

const PODMAN = ["/usr/bin/podman", "/bin/busybox", "/usr/lib/cni/tuning"].every(existsSync);
const SKIP = !isRoot
  ? "needs root"
  : !PODMAN && "needs podman, busybox-static and containernetworking-plugins";
const NET = `nsl${Math.random().toString(16).slice(2, 6)}pod`;
const BRIDGE = `nsl-${NET}`;
const IMAGE = "localhost/nslink-bb:1";

const box = new PodmanSandbox({
  tmpPrefix: "nsl-podman-",
  net: NET,
  image: IMAGE,
  applets: ["sh", "ip", "ping", "sleep", "cat", "nc", "wget", "httpd", "echo", "ls"],
  files: { "www/index.html": "hello from podman\n" },
  plugins: (stateDir) => [
    {
      type: "nslink",
      subnet: "203.0.113.0/24",
      subnetIPv6: "2001:db8:7::/64",
      // Not $NSLINK_STATE_DIR: podman's cleanup process (started by conmon) runs DEL
      // without the caller's environment.
      stateDir,
      capabilities: { portMappings: true, ips: true },
    },
    { type: "tuning", sysctl: { "net.ipv4.conf.eth0.arp_notify": "1" } },
  ],
});
const podman = (...args: string[]) => box.podman(...args);
let vethsBefore: string[] = [];

function run(name: string, ...cmd: string[]): Promise<string> {
  const flags = cmd[0]?.startsWith("-") ? cmd.splice(0, 2) : [];
  return podman(
    "run",
    "-d",
    ...flags,
    "--name",
    name,
    "--ulimit",
    "host",
    "--cgroups",
    "disabled",
    "--network",
    NET,
    IMAGE,
    ...cmd,
  );
}

/**
 * `podman rm -f` of a container whose conmon was killed: podman 4.3 fails the first attempt
 * ("container state improper: stopped") after it has noticed the death and cleaned up (CNI DEL);
 * the second removes it.
 */
async function rmKilled(name: string): Promise<void> {
  try {
    await podman("rm", "-f", "-t", "0", name);
  } catch (e) {
    if (!/container state improper/.test(String(e))) throw e;
    await podman("rm", "-f", "-t", "0", name);
  }
}

async function assertNothingLeft(): Promise<void> {
  for (let i = 0; i < 100 && (await vethNames()).some((n) => !vethsBefore.includes(n)); i++) {
    await sleep(20);
  }
  assert.deepEqual((await vethNames()).filter((n) => !vethsBefore.includes(n)), [], "veths left");
  // The host agent removes a lone network (bridge, rules, state) just after answering its last
  // DEL.
  for (let i = 0; i < 100 && await ipLink(BRIDGE) !== undefined; i++) await sleep(20);
  await deletesFinished(box.state);
  assert.equal(await ipLink(BRIDGE), undefined, "the network's bridge is left");
  assert.deepEqual(
    (await ipNetnsNames()).filter((n) => n.startsWith("netns-")),
    [],
    "namespaces left",
  );
  const files = existsSync(box.state)
    ? readdirSync(box.state, { recursive: true }).map(String).filter((f) => f.endsWith(".json"))
    : [];
  assert.deepEqual(files, [], "nslink state left (endpoints, address reservations)");
  const cache = existsSync("/var/lib/cni/results") ? readdirSync("/var/lib/cni/results") : [];
  assert.deepEqual(cache, [], "CNI result cache left");
  const rules = await runProcess(["nft", "list", "ruleset"]);
  assert.equal(rules.code, 0, `nft list ruleset: ${rules.stderr}`);
  assert.doesNotMatch(rules.stdout, /table inet nslink/, "published-port rules left");
}

/** Waits (up to 10 s) until each process is gone or a zombie: killed, not merely signalled. */
async function waitDead(pids: number[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  const alive = (pid: number) => {
    try {
      return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
      return false;
    }
  };
  while (pids.some(alive)) {
    if (Date.now() > deadline) throw new Error(`processes ${pids.filter(alive)} outlived SIGKILL`);
    await sleep(20);
  }
}

/** `it` with the file's skip: on each test, since Bun lists nothing of a skipped describe. */
const test = (name: string, fn: () => Promise<void>) =>
  it(name, { skip: SKIP, timeout: 120_000 }, fn);

describe("podman 4.3 on an nslink network (CNI backend)", () => {
  before(async () => {
    if (SKIP) return;
    vethsBefore = await vethNames();
    await box.setUp();
  });

  after(async () => {
    if (!box.work) return;
    await box.stop();
    const survivors = box.ownProcesses();
    await box.remove();
    assert.deepEqual(survivors, [], "podman/conmon processes survived");
  });

  test("gives containers nslink addresses; they ping each other over IPv4 and IPv6", async () => {
    await run("c1", "sleep", "300");
    await run("c2", "--ip", "203.0.113.50", "sleep", "300"); // static, through the ips capability
    const [info] = JSON.parse((await nslink(box.state, "network", "inspect", NET)).stdout) as {
      Containers: Record<
        string,
        { Netns: string; IPv4Address: string; IPv6Address: string; MacAddress: string }
      >;
    }[];
    const eps = Object.values(info.Containers);
    assert.equal(eps.length, 2);
    const byAddr = new Map<string, string>();
    for (const name of ["c1", "c2"]) {
      // Inside the container: eth0 holds the address nslink handed out, with its MAC.
      const shown = await podman("exec", name, "ip", "-o", "addr", "show", "eth0");
      const v4 = /inet (\S+)/.exec(shown)?.[1] ?? "";
      const v6 = /inet6 (2001:db8:\S+)/.exec(shown)?.[1] ?? "";
      const ep = eps.find((e) => e.IPv4Address === v4);
      assert.ok(ep, `${name}: ${v4} is not in nslink network inspect`);
      assert.equal(ep.IPv6Address, v6);
      assert.match(v4, /^203\.0\.113\.\d+\/24$/);
      // The namespace podman made is the one nslink configured.
      const sandbox = await podman("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", name);
      assert.equal(ep.Netns, sandbox);
      const [link] = await ipJsonAt<{ address: string }[]>(sandbox, ["link", "show", "eth0"]);
      assert.equal(link.address, ep.MacAddress);
      // tuning ran after nslink in the chain, inside the container's namespace.
      const sysctl = await runProcess([
        "nsenter",
        `--net=${sandbox}`,
        "cat",
        "/proc/sys/net/ipv4/conf/eth0/arp_notify",
      ]);
      assert.equal(sysctl.stdout.trim(), "1");
      if (name === "c2") assert.equal(v4, "203.0.113.50/24");
      byAddr.set(name, v4.split("/")[0]);
      byAddr.set(`${name}6`, v6.split("/")[0]);
    }
    for (const [from, to] of [["c1", "c2"], ["c2", "c1"]]) {
      for (const addr of [byAddr.get(to)!, byAddr.get(`${to}6`)!]) {
        const out = await podman("exec", from, "ping", "-c", "1", "-W", "2", addr);
        assert.match(out, /1 packets received/, `${from} -> ${addr}`);
      }
    }
  });

  test("podman rm -f (CNI DEL) leaves no link, namespace, reservation or cache entry", async () => {
    await podman("rm", "-f", "-t", "0", "c1", "c2");
    await assertNothingLeft();
  });

  test("podman run -p 8080:80: busybox httpd inside is reachable from an outside client through the host", async () => {
    const out = `${NET}o`;
    const hostEnd = `${NET}h`;
    try {
      for (
        const cmd of [
          ["netns", "add", out],
          ["link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", out],
          ["addr", "add", "198.51.100.1/24", "dev", hostEnd],
          ["link", "set", hostEnd, "up"],
          ["-n", out, "addr", "add", "198.51.100.2/24", "dev", "eth0"],
          ["-n", out, "link", "set", "eth0", "up"],
          ["-n", out, "link", "set", "lo", "up"],
          ["-n", out, "route", "add", "default", "via", "198.51.100.1"],
        ]
      ) {
        const r = await runProcess(["ip", ...cmd]);
        assert.equal(r.code, 0, `ip ${cmd.join(" ")}: ${r.stderr}`);
      }
      await run("web", "-p", "8080:80", "httpd", "-f", "-p", "80", "-h", "/www");
      let body: string | undefined;
      for (let i = 0; i < 40 && body === undefined; i++) {
        body = await httpGet(out, "http://198.51.100.1:8080/");
        if (body === undefined) await sleep(50);
      }
      assert.equal(body, "hello from podman\n");
      const [info] = JSON.parse((await nslink(box.state, "network", "inspect", NET)).stdout) as {
        Containers: Record<
          string,
          { Ports: { protocol: string; hostPort: number; port: number }[] }
        >;
      }[];
      const ports = Object.values(info.Containers).flatMap((c) => c.Ports);
      assert.deepEqual(ports.map((p) => [p.protocol, p.hostPort, p.port]), [["tcp", 8080, 80]]);
      await podman("rm", "-f", "-t", "0", "web");
      assert.equal(await httpGet(out, "http://198.51.100.1:8080/", 1000), undefined);
      await assertNothingLeft();
    } finally {
      await runProcess(["ip", "link", "del", hostEnd]);
      await runProcess(["ip", "netns", "del", out]);
    }
  });

  test("a container killed with its conmon (kill -9), then removed by podman, leaves nothing", async () => {
    await run("k1", "sleep", "300");
    const [conmon, pid] =
      (await podman("inspect", "-f", "{{.State.ConmonPid}} {{.State.Pid}}", "k1"))
        .split(" ").map(Number);
    assert.ok(conmon > 0 && pid > 0);
    process.kill(conmon, "SIGKILL");
    process.kill(pid, "SIGKILL");
    await waitDead([conmon, pid]);
    await rmKilled("k1");
    await assertNothingLeft();
  });

  test("a container killed with its conmon, then CNI GC with no valid attachment, leaves nothing of nslink's", async () => {
    await run("k2", "sleep", "300");
    const [conmon, pid] =
      (await podman("inspect", "-f", "{{.State.ConmonPid}} {{.State.Pid}}", "k2"))
        .split(" ").map(Number);
    process.kill(conmon, "SIGKILL");
    process.kill(pid, "SIGKILL");
    await waitDead([conmon, pid]);
    // What a runtime with CNI 1.1 would send once it knows the container is gone.
    const conf = JSON.parse(readFileSync(join(box.work, "cni", `${NET}.conflist`), "utf8"));
    const gc = await cni(
      "GC",
      { cniVersion: "1.1.0", name: NET, ...conf.plugins[0], "cni.dev/valid-attachments": [] },
      { stateDir: box.state },
    );
    assert.equal(gc.code, 0, gc.stdout);
    assert.equal(await ipLink(BRIDGE), undefined);
    assert.deepEqual((await vethNames()).filter((n) => !vethsBefore.includes(n)), []);
    // podman's own cleanup afterwards (DEL of what is gone) still succeeds.
    await rmKilled("k2");
    await assertNothingLeft();
  });
});
