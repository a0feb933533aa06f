/**
 * Shared helpers for the privileged test suite (`tests/priv/*.test.ts`), for Deno and Bun alike.
 *
 * Run the suite only through `scripts/in-netns.sh`, which gives the runner a throw-away network
 * namespace and a fresh tmpfs on `/run`:
 *
 * ```sh
 * scripts/in-netns.sh node_modules/.bin/deno test -A tests/priv/
 * scripts/in-netns.sh node_modules/.bin/bun test ./tests/priv/
 * ```
 *
 * What is here:
 * - {@linkcode isRoot}: tests skip (not fail) without it: `it("…", { skip: SKIP_ROOT }, …)`.
 * - {@linkcode runId}: a per-run prefix (`nsl` + 4 hex) that every kernel object a test makes
 *   starts with, so leftovers can be found and nothing else is ever touched.
 * - {@linkcode ipJson} and friends: independent checks of kernel state with iproute2 (`ip -j`),
 *   through dax. The library under test never spawns processes; only the tests do.
 * - {@linkcode Cleanup} / {@linkcode withCleanup}: a cleanup registry. Register each deletion
 *   *before* creating the object (like vishvananda/netlink's `t.Cleanup(setUpNetlinkTest(t))`);
 *   the registry runs them in reverse order whatever happened, with iproute2, not with the
 *   library under test, so a library bug cannot keep its own mess alive.
 * - {@linkcode assertNoLeftovers}: nothing whose name starts with a prefix remains (links in the
 *   current namespace, named namespaces, nsfs mounts); call it in each file's `after()`.
 * - {@linkcode linkKindSkip}: probes whether the kernel supports a link kind (vlan, ipvlan, …),
 *   giving a skip reason when it does not.
 *
 * @module
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import process from "node:process";
import $ from "dax-sh";
import { NetlinkError, NetNs, Rtnl } from "../../mod.ts";

/** Whether the tests run as root; privileged tests skip otherwise. */
export const isRoot: boolean = typeof process.getuid === "function" && process.getuid() === 0;

/**
 * Refuses to run privileged tests outside the throw-away namespace: as root, they must run
 * inside `scripts/in-netns.sh`, which mounts a tmpfs named `nslink-run` on `/run` in its private
 * mount namespace. A run in the machine's own namespace would change it (one test turns IPv6
 * off and on, which drops the uplink's static IPv6 address).
 */
function refuseOutsideSandbox(): void {
  if (!isRoot) return;
  const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n");
  const sandboxed = mounts.some((l) => {
    const [pre, post] = l.split(" - ");
    return pre?.split(" ")[4] === "/run" && post?.split(" ")[1] === "nslink-run";
  });
  if (!sandboxed) {
    throw new Error(
      "Privileged tests must run inside a throw-away network namespace: " +
        "scripts/in-netns.sh deno test -A tests/priv/ (or deno task test:priv / test:bun:priv)",
    );
  }
}
refuseOutsideSandbox();

/** The `skip` option for privileged tests: `it("…", { skip: SKIP_ROOT }, fn)`. */
export const SKIP_ROOT: string | false = !isRoot && "needs root";

/**
 * A fresh run prefix: `nsl` and 4 random hex digits, e.g. `nsl3fa0`. 7 bytes, which leaves 8
 * for suffixes within the 15-byte interface-name limit.
 *
 * @returns The prefix.
 */
export function runId(): string {
  return `nsl${randomBytes(2).toString("hex")}`;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `ip -j ARGS…` and parses its JSON output; an empty output (some `ip` commands print
 * nothing when there is nothing to list) is `[]`. Throws when `ip` fails, with its stderr.
 *
 * @example
 * ```ts ignore
 * const links = await ipJson<IpLink[]>(["-n", "c1", "link", "show"]);
 * ```
 * @param args The arguments after `ip -j`.
 * @returns The parsed output.
 */
export async function ipJson<T = unknown>(args: readonly string[]): Promise<T> {
  const r = await $`ip -j ${args}`.noThrow().stdout("piped").stderr("piped");
  if (r.code !== 0) {
    throw new Error(`ip -j ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  }
  const text = r.stdout.trim();
  return (text === "" ? [] : JSON.parse(text)) as T;
}

/**
 * Runs `ip ARGS…` (no JSON). Returns the exit code and output instead of throwing.
 *
 * @param args The arguments after `ip`.
 * @param stdin Text fed to `ip`'s stdin (for `-batch -`).
 * @returns Exit code, stdout and stderr.
 */
export async function ip(
  args: readonly string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let cmd = $`ip ${args}`.noThrow().stdout("piped").stderr("piped");
  if (stdin !== undefined) cmd = cmd.stdinText(stdin);
  const r = await cmd;
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs any command (e.g. `ip netns exec NS ping …`) and returns its exit code and output.
 * Beware: dax runs some names (`touch`, `rm`, `mkdir`, `cp`, …) as its own built-ins, which
 * mishandle absolute paths (`touch /run/x` made `./run/x`); use `node:fs` for files instead.
 *
 * @param argv The command and its arguments.
 * @returns Exit code, stdout and stderr.
 */
export async function exec(
  argv: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await $`${argv}`.noThrow().stdout("piped").stderr("piped");
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** A link as `ip -j -d link show` prints it (the fields the tests read). */
export interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  operstate: string;
  address?: string;
  master?: string;
  link?: string;
  link_netnsid?: number;
  linkinfo?: {
    info_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_kind?: string;
  };
}

/** An interface's addresses as `ip -j addr show` prints them. */
export interface IpAddrIf {
  ifindex: number;
  ifname: string;
  addr_info: Array<{
    family: "inet" | "inet6";
    local: string;
    prefixlen: number;
    scope: string;
    tentative?: boolean;
    nodad?: boolean;
    dadfailed?: boolean;
  }>;
}

/** A route as `ip -j route show` prints it. */
export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  flags: string[];
}

/** Prepends `-n NS` when a namespace name is given. */
function nsArgs(netns?: string): string[] {
  return netns === undefined ? [] : ["-n", netns];
}

/**
 * Every link, with details (`ip -j -d [-n NS] link show`).
 *
 * @param netns A named namespace (`/run/netns/NAME`), or the current one.
 * @returns The links.
 */
export function ipLinks(netns?: string): Promise<IpLink[]> {
  return ipJson<IpLink[]>([...nsArgs(netns), "-d", "link", "show"]);
}

/**
 * One link with details, or `undefined` when there is none by that name.
 *
 * @param name The interface name.
 * @param netns A named namespace, or the current one.
 * @returns The link or `undefined`.
 */
export async function ipLink(name: string, netns?: string): Promise<IpLink | undefined> {
  return (await ipLinks(netns)).find((l) => l.ifname === name);
}

/**
 * The addresses of one link (`ip -j [-n NS] addr show dev DEV`).
 *
 * @param dev The interface name.
 * @param netns A named namespace, or the current one.
 * @returns The `addr_info` entries.
 */
export async function ipAddrs(dev: string, netns?: string): Promise<IpAddrIf["addr_info"]> {
  const r = await ipJson<IpAddrIf[]>([...nsArgs(netns), "addr", "show", "dev", dev]);
  return r[0]?.addr_info ?? [];
}

/**
 * The routes of the main table (`ip -j -4|-6 [-n NS] route show`).
 *
 * @param family 4 or 6.
 * @param netns A named namespace, or the current one.
 * @returns The routes.
 */
export function ipRoutes(family: 4 | 6, netns?: string): Promise<IpRoute[]> {
  return ipJson<IpRoute[]>([`-${family}`, ...nsArgs(netns), "route", "show"]);
}

/**
 * The names in `/run/netns` (`ip -j netns list`).
 *
 * @returns The names.
 */
export async function ipNetnsNames(): Promise<string[]> {
  const r = await ipJson<Array<{ name: string }>>(["netns", "list"]);
  return r.map((n) => n.name);
}

/**
 * The mount points of nsfs mounts (namespaces bound to files) in this mount namespace.
 *
 * @returns The mount points.
 */
export function nsfsMounts(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((line) => / - nsfs /.test(line))
    .map((line) => line.split(" ")[4]);
}

/** One registered cleanup step. */
interface CleanupStep {
  what: string;
  fn: () => Promise<void> | void;
}

/**
 * A cleanup registry: register how to delete each kernel object before creating it, then
 * {@linkcode Cleanup.run} (or `await using`) deletes them all in reverse order, also when the
 * test failed midway. Deletions use iproute2, not the library under test, and "already gone"
 * is never an error.
 *
 * @example
 * ```ts ignore
 * await withCleanup(async (c) => {
 *   c.netns(`${P}ns`);
 *   const ns = NetNs.create(`${P}ns`);
 *   c.link(`${P}a`);
 *   rt.link.add({ kind: "veth", name: `${P}a`, peer: { name: `${P}b` } });
 *   …assertions…
 * });
 * ```
 */
export class Cleanup implements AsyncDisposable {
  #steps: CleanupStep[] = [];

  /**
   * Registers any step.
   *
   * @param what Names the step in errors.
   * @param fn The step.
   */
  defer(what: string, fn: () => Promise<void> | void): void {
    this.#steps.push({ what, fn });
  }

  /**
   * Registers the deletion of a link (`ip [-n NS] link del dev NAME`); a missing link is fine.
   *
   * @param name Interface name.
   * @param netns The named namespace it lives in, if not the current one.
   */
  link(name: string, netns?: string): void {
    this.defer(`link "${name}"`, async () => {
      const r = await ip([...nsArgs(netns), "link", "del", "dev", name]);
      if (r.code !== 0 && !/Cannot find device|does not exist|No such/.test(r.stderr)) {
        throw new Error(`ip link del ${name}: ${r.stderr.trim()}`);
      }
    });
  }

  /**
   * Registers the removal of a namespace: a bare name (`/run/netns/NAME`, `ip netns del`) or a
   * path (lazy unmount, then unlink). Missing is fine.
   *
   * @param nameOrPath Namespace name or path.
   */
  netns(nameOrPath: string): void {
    const path = nameOrPath.includes("/") ? nameOrPath : `/run/netns/${nameOrPath}`;
    this.defer(`netns "${path}"`, async () => {
      await exec(["umount", "-l", path]);
      rmSync(path, { force: true });
    });
  }

  /**
   * Creates a named namespace (`/run/netns/NAME`) whose removal and fd close are registered
   * first, so it goes even when a later step fails.
   *
   * @param name Namespace name.
   * @returns The open namespace.
   */
  namespace(name: string): NetNs {
    this.netns(name);
    const ns = NetNs.create(name);
    this.close(ns);
    return ns;
  }

  /**
   * Closes something (a handle or namespace fd) first — before namespaces are removed, since an
   * open socket keeps its namespace alive.
   *
   * @param d Anything disposable.
   */
  close(d: Disposable): void {
    this.defer("close", () => d[Symbol.dispose]());
  }

  /**
   * Runs every step, last registered first. Each runs even when an earlier one failed; the
   * failures are thrown together at the end.
   */
  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step.fn();
      } catch (e) {
        errors.push(new Error(`cleanup of ${step.what} failed`, { cause: e }));
      }
    }
    if (errors.length) throw new AggregateError(errors, "cleanup failed");
  }

  /** Runs the steps (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.run();
  }
}

/**
 * Runs `fn` with a fresh {@linkcode Cleanup}, then runs the cleanup whether `fn` succeeded or
 * threw. `fn`'s error wins over a cleanup error.
 *
 * @param fn The test body.
 * @returns What `fn` returned.
 */
export async function withCleanup<T>(fn: (c: Cleanup) => Promise<T> | T): Promise<T> {
  const c = new Cleanup();
  let result: T;
  try {
    result = await fn(c);
  } catch (e) {
    try {
      await c.run();
    } catch (cleanupError) {
      console.error("cleanup after a failed test also failed:", cleanupError);
    }
    throw e;
  }
  await c.run();
  return result;
}

/**
 * What remains whose name starts with `prefix`: links in the current namespace, names in
 * `/run/netns`, and nsfs mounts anywhere.
 *
 * @param prefix The run prefix.
 * @returns The leftovers, described.
 */
export async function leftovers(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for (const l of await ipJson<IpLink[]>(["link", "show"])) {
    if (l.ifname.startsWith(prefix)) out.push(`link ${l.ifname}`);
  }
  for (const n of await ipNetnsNames()) {
    if (n.startsWith(prefix)) out.push(`netns ${n}`);
  }
  for (const m of nsfsMounts()) {
    if (m.includes(prefix)) out.push(`nsfs mount ${m}`);
  }
  return out;
}

/**
 * Asserts that nothing whose name starts with `prefix` remains. Namespace teardown is
 * asynchronous (a veth's host end goes ~50 ms after its namespace), so it retries for up to
 * `timeoutMs` before failing.
 *
 * @param prefix The run prefix.
 * @param timeoutMs How long to wait for asynchronous teardown.
 */
export async function assertNoLeftovers(prefix: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let left = await leftovers(prefix);
  while (left.length && Date.now() < deadline) {
    await sleep(50);
    left = await leftovers(prefix);
  }
  assert.deepEqual(left, [], `kernel objects left behind with prefix "${prefix}"`);
}

/** Kernel config options that provide a link kind, for skip reasons. */
const KIND_CONFIG: Record<string, string> = {
  vlan: "CONFIG_VLAN_8021Q",
  ipvlan: "CONFIG_IPVLAN",
  macvlan: "CONFIG_MACVLAN",
  vxlan: "CONFIG_VXLAN",
  bridge: "CONFIG_BRIDGE",
  veth: "CONFIG_VETH",
};

/**
 * Whether an error is the kernel saying it lacks a link kind: `EOPNOTSUPP` with the extack
 * "Unknown device type".
 *
 * @param e The error.
 * @returns `true` for that error.
 */
export function isUnknownKind(e: unknown): boolean {
  return e instanceof NetlinkError && e.code === "EOPNOTSUPP" &&
    /Unknown device type/i.test(e.message);
}

/**
 * The skip reason for a link kind the kernel lacks (`"kernel lacks CONFIG_VLAN_8021Q"`), or
 * `false` when it has it (or when not root: then {@linkcode SKIP_ROOT} applies). Probes by
 * creating one on a veth parent named `PREFIX` + `kp0`/`kp1`, deleted at once.
 *
 * @param kind `vlan` or `ipvlan`.
 * @param prefix The run prefix.
 * @returns The skip reason, or `false`.
 */
export async function linkKindSkip(
  kind: "vlan" | "ipvlan",
  prefix: string,
): Promise<string | false> {
  if (!isRoot) return "needs root";
  const parent = `${prefix}kp0`;
  const name = `${prefix}kp2`;
  return await withCleanup((c) => {
    c.link(parent);
    using rt = Rtnl.open();
    rt.link.add({ kind: "veth", name: parent, peer: { name: `${prefix}kp1` } });
    try {
      if (kind === "vlan") rt.link.add({ kind: "vlan", name, parent, id: 7 });
      else rt.link.add({ kind: "ipvlan", name, parent });
      rt.link.del(name);
      return false;
    } catch (e) {
      if (isUnknownKind(e)) return `kernel lacks ${KIND_CONFIG[kind]}`;
      throw e;
    }
  });
}

/**
 * Names a network namespace by its inode, read from a symlink such as
 * `/proc/thread-self/ns/net` (the calling thread's; never `/proc/self`, which under `deno test`
 * can be another thread's) or `/proc/self/fd/N` (an open namespace fd): `net:[4026531840]`.
 *
 * @param path The symlink; default the calling thread's namespace.
 * @returns The link text.
 */
export function netnsId(path = "/proc/thread-self/ns/net"): string {
  return readlinkSync(path);
}

/**
 * Names the network namespace an open fd refers to, in the form of {@linkcode netnsId}. (Reading
 * `/proc/self/fd/N` would give the mount's path for an fd opened from `/run/netns/NAME`; the
 * nsfs inode is what identifies the namespace.)
 *
 * @param fd An open namespace fd (`NetNs#fd`).
 * @returns `net:[INODE]`.
 */
export function netnsIdOfFd(fd: number): string {
  // Deno's fstatSync takes its own resource ids, not OS fds: stat the magic link instead.
  return `net:[${statSync(`/proc/self/fd/${fd}`).ino}]`;
}
