/**
 * A podman 4.3 sandbox for the privileged tests with a real container engine (podman.test.ts,
 * podman-dns.test.ts), as `../shared/briefs/podman/run-in-sandbox.sh` shows: vfs storage and
 * state under a temp dir, cgroupfs, no default ulimits, cgroup v1 only (the unified hierarchy
 * unmounted in the private mount namespace), the CNI cache on a tmpfs, a busybox image imported
 * from busybox-static, one CNI network of the `nslink` plugin (the executable under test). Not a
 * test itself.
 *
 * Only inside the throw-away namespace of `scripts/in-netns.sh`: it mounts over /var/lib/cni
 * (and /etc/resolv.conf when asked).
 *
 * @module
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { sleep } from "./_helpers.ts";
import { pluginDir, runProcess } from "./_cli_helpers.ts";
import { removeStateDir } from "./_agent_helpers.ts";

/** What a sandbox is made of. */
export interface PodmanSandboxOptions {
  /** The temp directory's name prefix, e.g. `nsl-podman-`. */
  tmpPrefix: string;
  /** The CNI network's name. */
  net: string;
  /** The image's name, e.g. `localhost/nslink-bb:1`. */
  image: string;
  /** busybox applets linked in the image's /bin. */
  applets: string[];
  /** More files of the image, by path inside it (e.g. `www/index.html`). */
  files?: Record<string, string>;
  /** The conflist's plugins, given the state directory (under the work directory). */
  plugins: (stateDir: string) => unknown[];
  /** Bind-mount a resolv.conf naming only 127.0.0.1 over /etc/resolv.conf. */
  resolvConf?: boolean;
}

/**
 * One podman sandbox: {@linkcode PodmanSandbox.setUp} in `before`, the podman calls in tests,
 * {@linkcode PodmanSandbox.stop} and {@linkcode PodmanSandbox.remove} in `after`.
 *
 * @example
 * ```ts ignore
 * const box = new PodmanSandbox({ tmpPrefix: "nsl-podman-", net, image, applets: ["sh"],
 *   plugins: (stateDir) => [{ type: "nslink", subnet: "203.0.113.0/24", stateDir }] });
 * before(() => box.setUp());
 * after(async () => { await box.stop(); const left = box.ownProcesses(); await box.remove(); });
 * ```
 */
export class PodmanSandbox {
  /** The work directory (empty until set up). */
  work = "";
  /** nslink's state directory, under the work directory. */
  state = "";
  /** The directory holding the `nslink` plugin executable. */
  plugins = "";
  readonly #o: PodmanSandboxOptions;
  readonly #mounts: string[] = [];

  /** @param options What the sandbox is made of. */
  constructor(options: PodmanSandboxOptions) {
    this.#o = options;
  }

  /**
   * The argv of a podman command in this sandbox.
   *
   * @param args podman's arguments.
   * @returns The argv.
   */
  argv(...args: string[]): string[] {
    const w = this.work;
    return [
      "podman",
      "--root",
      join(w, "root"),
      "--runroot",
      join(w, "runroot"),
      "--storage-driver",
      "vfs",
      "--network-backend",
      "cni",
      "--cni-config-dir",
      join(w, "cni"),
      "--cgroup-manager",
      "cgroupfs",
      "--events-backend",
      "file",
      ...args,
    ];
  }

  /** The environment podman needs here. */
  get env(): Record<string, string> {
    return { CONTAINERS_CONF: join(this.work, "containers.conf") };
  }

  /**
   * Runs podman; fails with its stderr when it exits non-zero.
   *
   * @param args podman's arguments.
   * @returns Its stdout, trimmed.
   */
  async podman(...args: string[]): Promise<string> {
    const r = await runProcess(this.argv(...args), { env: this.env });
    if (r.code !== 0) {
      throw new Error(`podman ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
    }
    return r.stdout.trim();
  }

  /** Makes the work directory, the image, the network's conflist, the mounts. */
  async setUp(): Promise<void> {
    const o = this.#o;
    const work = this.work = mkdtempSync(join(tmpdir(), o.tmpPrefix));
    this.state = join(work, "state");
    this.plugins = pluginDir();
    const rootfs = join(work, "rootfs");
    mkdirSync(join(rootfs, "bin"), { recursive: true });
    copyFileSync("/bin/busybox", join(rootfs, "bin", "busybox"));
    for (const a of o.applets) symlinkSync("busybox", join(rootfs, "bin", a));
    for (const [path, text] of Object.entries(o.files ?? {})) {
      mkdirSync(dirname(join(rootfs, path)), { recursive: true });
      writeFileSync(join(rootfs, path), text);
    }
    assert.equal(
      (await runProcess(["tar", "-C", rootfs, "-cf", join(work, "bb.tar"), "."])).code,
      0,
    );
    mkdirSync(join(work, "cni"));
    writeFileSync(
      join(work, "cni", `${o.net}.conflist`),
      JSON.stringify({ cniVersion: "1.0.0", name: o.net, plugins: o.plugins(this.state) }),
    );
    writeFileSync(
      join(work, "containers.conf"),
      `[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n` +
        `events_logger = "file"\n[network]\ncni_plugin_dirs = ["${this.plugins}", "/usr/lib/cni"]\n`,
    );
    // Inside the private mount namespace of in-netns.sh only.
    mkdirSync("/var/lib/cni", { recursive: true });
    assert.equal(
      (await runProcess(["mount", "-t", "tmpfs", "nslink-cni", "/var/lib/cni"])).code,
      0,
    );
    this.#mounts.push("/var/lib/cni");
    if (o.resolvConf) {
      writeFileSync(join(work, "resolv.conf"), "nameserver 127.0.0.1\n");
      assert.equal(
        (await runProcess(["mount", "--bind", join(work, "resolv.conf"), "/etc/resolv.conf"]))
          .code,
        0,
      );
      this.#mounts.push("/etc/resolv.conf");
    }
    await runProcess(["umount", "/sys/fs/cgroup/unified"]);
    await this.podman("import", join(work, "bb.tar"), o.image);
  }

  /** Removes every container, then kills by pid whatever podman started that still runs. */
  async stop(): Promise<void> {
    if (!this.work) return;
    try {
      await this.podman("rm", "-af", "-t", "0");
    } catch (e) {
      console.error(e);
    }
    // Nothing podman started may survive: conmon and containers, killed by pid.
    for (let i = 0; i < 3; i++) {
      const left = this.ownProcesses();
      if (left.length === 0) break;
      for (const pid of left) {
        try {
          process.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      await sleep(100);
    }
  }

  /**
   * Processes whose command line names the work directory (conmon, podman) and their children.
   *
   * @returns Their pids.
   */
  ownProcesses(): number[] {
    if (!this.work) return [];
    const all = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number);
    const parent = new Map<number, number>();
    const mine = new Set<number>();
    for (const pid of all) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        parent.set(pid, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
        if (
          pid !== process.pid && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(this.work)
        ) {
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

  /**
   * Undoes the mounts and removes the work and plugin directories, after killing nslink's agent of
   * the state directory (one lingering after the last CNI request would make the directory again).
   */
  async remove(): Promise<void> {
    for (const m of this.#mounts.splice(0).reverse()) await runProcess(["umount", "-l", m]);
    if (this.state) removeStateDir(this.state);
    if (this.work) rmSync(this.work, { recursive: true, force: true });
    if (this.plugins) rmSync(this.plugins, { recursive: true, force: true });
  }
}
