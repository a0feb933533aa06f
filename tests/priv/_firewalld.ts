/**
 * Runs a system D-Bus daemon and firewalld inside the throw-away namespace, for the firewalld
 * tests. Never outside it: firewalld would firewall the machine (`_helpers.ts` refuses to load
 * outside `scripts/in-netns.sh`, and {@linkcode startFirewalld} checks again).
 *
 * What it does, in the test process's private mount namespace:
 * - copies `/etc/firewalld` to a temporary directory and bind-mounts the copy over
 *   `/etc/firewalld`, so permanent changes land in the copy;
 * - starts `dbus-daemon --nofork` with a system configuration of its own that listens on
 *   `/run/dbus/system_bus_socket` (the sandbox's tmpfs) and allows `own`, `send_destination`
 *   and `eavesdrop` (without them `firewall-cmd` hangs silently);
 * - starts `firewalld --nofork --nopid --log-target file --log-file <tmp>` (else it writes the
 *   machine's `/var/log`), and waits until it owns `org.fedoraproject.FirewallD1`.
 *
 * `stop()` kills both (SIGTERM, then SIGKILL), unmounts the copy and removes the directory.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import process from "node:process";
import { DBusConnection } from "../../dbus/connection.ts";
import { exec, sleep } from "./_helpers.ts";

/** Why the firewalld tests skip, or `false` when firewalld and dbus-daemon are installed. */
export const SKIP_FIREWALLD: string | false = (() => {
  const has = (p: string) => existsSync(p);
  if (!has("/usr/sbin/firewalld")) return "firewalld is not installed (apt-get install firewalld)";
  if (!has("/usr/bin/dbus-daemon")) return "dbus-daemon is not installed (apt-get install dbus)";
  if (!has("/usr/bin/firewall-cmd")) return "firewall-cmd is not installed";
  return false;
})();

/** The bus address the sandbox's daemon listens on. */
export const SANDBOX_BUS = "unix:path=/run/dbus/system_bus_socket";

const BUS_CONFIG = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>${SANDBOX_BUS}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`;

/** A running sandboxed firewalld. */
export interface SandboxFirewalld {
  /** The temporary directory (the `/etc/firewalld` copy is `dir/etc`, the log `dir/firewalld.log`). */
  dir: string;
  /** Environment for `firewall-cmd` (`DBUS_SYSTEM_BUS_ADDRESS`). */
  env: Record<string, string>;
  /** How long firewalld took to own its bus name, in ms. */
  startupMs: number;
  /** Kills firewalld and dbus-daemon, unmounts the copy, removes the directory. */
  stop(): Promise<void>;
}

function sandboxed(): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((l) => {
    const [pre, post] = l.split(" - ");
    return pre?.split(" ")[4] === "/run" && post?.split(" ")[1] === "nslink-run";
  });
}

async function kill(child: ChildProcess | undefined, name: string): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = new Promise<"late">((r) => setTimeout(() => r("late"), 10_000));
  if ((await Promise.race([exited, timer])) === "late") {
    child.kill("SIGKILL");
    await exited;
    console.error(`${name} ignored SIGTERM for 10 s: killed`);
  }
}

/**
 * Starts dbus-daemon and firewalld in the sandbox and waits until firewalld owns its name.
 *
 * @example
 * ```ts ignore
 * const fw = await startFirewalld();
 * after(() => fw.stop());
 * ```
 * @returns The running pair.
 */
export async function startFirewalld(): Promise<SandboxFirewalld> {
  if (!sandboxed()) throw new Error("firewalld runs only inside scripts/in-netns.sh");
  const dir = mkdtempSync("/tmp/nslink-firewalld-");
  let dbus: ChildProcess | undefined;
  let firewalld: ChildProcess | undefined;
  let mounted = false;
  const hadRunDir = existsSync("/run/firewalld");
  const stop = async () => {
    await kill(firewalld, "firewalld");
    await kill(dbus, "dbus-daemon");
    if (mounted) {
      const r = await exec(["umount", "/etc/firewalld"]);
      if (r.code !== 0) throw new Error(`umount /etc/firewalld: ${r.stderr}`);
      mounted = false;
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync("/run/dbus/system_bus_socket", { force: true });
    // firewalld's runtime directory, on the sandbox's tmpfs
    if (!hadRunDir) rmSync("/run/firewalld", { recursive: true, force: true });
  };
  try {
    cpSync("/etc/firewalld", `${dir}/etc`, { recursive: true });
    const m = await exec(["mount", "--bind", `${dir}/etc`, "/etc/firewalld"]);
    if (m.code !== 0) throw new Error(`mount --bind ${dir}/etc /etc/firewalld: ${m.stderr}`);
    mounted = true;
    writeFileSync(`${dir}/system.conf`, BUS_CONFIG);
    mkdirSync("/run/dbus", { recursive: true });
    const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: SANDBOX_BUS } as Record<string, string>;
    const errFd = openSync(`${dir}/dbus-daemon.log`, "w");
    dbus = spawn("dbus-daemon", [
      `--config-file=${dir}/system.conf`,
      "--nofork",
      "--nopidfile",
    ], { stdio: ["ignore", "ignore", errFd] });
    closeSync(errFd);
    // Its one line on stderr here is harmless: "Failed to set fd limit to 65536" (no
    // CAP_SYS_RESOURCE over the limit inside the namespace).
    const bus0 = dbus;
    await waitFor("dbus-daemon to listen", () => {
      if (bus0.exitCode !== null) {
        throw new Error(
          `dbus-daemon exited with ${bus0.exitCode}: ${
            readFileSync(`${dir}/dbus-daemon.log`, "utf8")
          }`,
        );
      }
      return existsSync("/run/dbus/system_bus_socket");
    });
    const t0 = performance.now();
    firewalld = spawn("firewalld", [
      "--nofork",
      "--nopid",
      "--log-target",
      "file",
      "--log-file",
      `${dir}/firewalld.log`,
    ], { env, stdio: ["ignore", "ignore", "inherit"] });
    const fwd = firewalld;
    const bus = await DBusConnection.connect({ address: SANDBOX_BUS });
    try {
      await waitFor("firewalld to own org.fedoraproject.FirewallD1", async () => {
        if (fwd.exitCode !== null) {
          throw new Error(`firewalld exited with ${fwd.exitCode}: ${log(dir)}`);
        }
        const [has] = await bus.call({
          destination: "org.freedesktop.DBus",
          path: "/org/freedesktop/DBus",
          interface: "org.freedesktop.DBus",
          member: "NameHasOwner",
          signature: "s",
          body: ["org.fedoraproject.FirewallD1"],
        });
        return has === true;
      }, 60_000);
    } finally {
      bus.close();
    }
    return { dir, env, startupMs: performance.now() - t0, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

function log(dir: string): string {
  try {
    return readFileSync(`${dir}/firewalld.log`, "utf8").split("\n").slice(-10).join("\n");
  } catch {
    return "(no log)";
  }
}

async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    }
    await sleep(50);
  }
}

/**
 * The zone `firewall-cmd` reports for an interface, against the sandbox's bus.
 *
 * @param iface The interface.
 * @param permanent The permanent configuration's zone instead of the runtime one.
 * @returns The zone, `""` for none.
 *
 * @example
 * ```ts
 * assert.equal(await zoneOf(`nslov${vni}`, true), "nslink");
 * ```
 */
export async function zoneOf(iface: string, permanent = false): Promise<string> {
  const r = await exec([
    "env",
    `DBUS_SYSTEM_BUS_ADDRESS=${SANDBOX_BUS}`,
    "firewall-cmd",
    ...(permanent ? ["--permanent"] : []),
    `--get-zone-of-interface=${iface}`,
  ]);
  // firewall-cmd exits non-zero with "no zone" when the interface is in none.
  return r.code === 0 ? r.stdout.trim() : "";
}

/**
 * Runs `firewall-cmd ARGS…` against the sandbox's bus; throws on a non-zero exit.
 *
 * @param fw The sandbox.
 * @param args The arguments.
 * @returns Its trimmed stdout.
 */
export async function firewallCmd(fw: SandboxFirewalld, ...args: string[]): Promise<string> {
  const r = await exec(["env", `DBUS_SYSTEM_BUS_ADDRESS=${SANDBOX_BUS}`, "firewall-cmd", ...args]);
  if (r.code !== 0) {
    throw new Error(`firewall-cmd ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  }
  void fw;
  return r.stdout.trim();
}
