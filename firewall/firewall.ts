/**
 * nslink's firewall in the host namespace, kept in step with the networks' saved state:
 * outbound masquerade, published ports (DNAT map elements), isolation between networks,
 * hairpin and `127.0.0.1` publishing, forwarding sysctls, stale UDP conntrack entries, and
 * a check for another table's FORWARD drop policy. nslink owns `table inet nslink` and never
 * touches any other table.
 *
 * - {@linkcode syncFirewall}: one batch that replaces the whole table from the state (network
 *   created or deleted, {@linkcode repairFirewall} after `nft flush ruleset`); with no network
 *   left, the table is removed.
 * - {@linkcode publishEntries} / {@linkcode unpublishEntries}: one batch of map elements, O(1)
 *   kernel work whatever the number of ports already published.
 *
 * @module
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import {
  close,
  flock,
  LOCK_EX,
  LOCK_NB,
  LOCK_SH,
  O_CLOEXEC,
  O_CREAT,
  O_RDWR,
  open,
} from "../ffi/libc.ts";
import { bridged, type NetworkRecord } from "../model/records.ts";
import { NetlinkError } from "../netlink/errors.ts";
import { NftError } from "../netfilter/batch.ts";
import { deleteFlows, deleteFlowsOf } from "../netfilter/conntrack.ts";
import * as C from "../netfilter/constants.ts";
import { Nftables } from "../netfilter/nftables.ts";
import { formatCidr, networkOf, parseCidr } from "../net/ip.ts";
import { Rtnl } from "../rtnl/handle.ts";
import type { PortBinding } from "../netfilter/ports.ts";
import {
  type DnatEntry,
  elementOps,
  type FirewallNetwork,
  PROTOCOLS,
  replaceTableOps,
  TABLE,
} from "../netfilter/ruleset.ts";

/** The firewall options of a network, as saved in its configuration. */
export interface FirewallOptions {
  /** Masquerade traffic leaving the host (default `true`). */
  masquerade: boolean;
  /** Nothing beyond the bridge, no published ports (default `false`). */
  internal: boolean;
  /** Containers may talk to each other (default `true`). */
  icc: boolean;
  /** Turn on IPv4/IPv6 forwarding in the host namespace when needed (default `true`). */
  ipForward: boolean;
}

let nft: Nftables | undefined;

/** The host namespace's nf_tables handle (opened once, in the namespace nslink works in). */
export function hostNftables(): Nftables {
  return nft ??= Nftables.open();
}

function bridgeOf(record: NetworkRecord): string | undefined {
  const b = (record.config as { bridgeName?: unknown }).bridgeName;
  return typeof b === "string" ? b : undefined;
}

/**
 * The firewall options of a saved network (defaults for networks saved before they existed).
 *
 * @param record The network.
 * @returns Its options.
 */
export function firewallOptions(record: NetworkRecord): FirewallOptions {
  const c = record.config as Partial<FirewallOptions>;
  return {
    masquerade: c.masquerade ?? true,
    internal: c.internal ?? false,
    icc: c.icc ?? true,
    ipForward: c.ipForward ?? true,
  };
}

/**
 * A saved network as the firewall sees it; `undefined` for networks without a bridge (`null`,
 * `host`).
 *
 * @param record The network.
 * @returns The firewall's view.
 */
export function firewallNetwork(record: NetworkRecord): FirewallNetwork | undefined {
  const bridge = bridgeOf(record);
  if (!bridged(record.type) || !bridge) return undefined;
  const o = firewallOptions(record);
  return {
    name: record.name,
    bridge,
    ...(record.pools.v4 ? { subnet: record.pools.v4.subnet } : {}),
    ...(record.pools.v6 ? { subnetIPv6: record.pools.v6.subnet } : {}),
    masquerade: o.masquerade,
    internal: o.internal,
    icc: o.icc,
  };
}

const bare = (a: string | undefined) => (a ? a.replace(/\/\d+$/, "") : "");

/**
 * The DNAT map entries of an endpoint's bindings: an empty `hostIP` publishes on IPv4 and,
 * when the endpoint has an IPv6 address, on IPv6; a `hostIP` on its family only.
 *
 * @param address The container's IPv4 address (any prefix is ignored), or empty.
 * @param addressIPv6 The container's IPv6 address, or empty.
 * @param bindings The bindings.
 * @returns The entries.
 */
export function dnatEntries(
  address: string | undefined,
  addressIPv6: string | undefined,
  bindings: readonly PortBinding[],
): DnatEntry[] {
  const v4 = bare(address);
  const v6 = bare(addressIPv6);
  const out: DnatEntry[] = [];
  for (const b of bindings) {
    const base = { protocol: b.protocol, hostIP: b.hostIP, hostPort: b.hostPort, port: b.port };
    if (b.hostIP === "") {
      if (v4) out.push({ ...base, address: v4 });
      if (v6) out.push({ ...base, address: v6 });
    } else if (b.hostIP === "0.0.0.0" || b.hostIP === "::") {
      // Every address of one family (Docker's -p 0.0.0.0:8080:80): the any-address map.
      const address = b.hostIP === "::" ? v6 : v4;
      if (!address) {
        throw new TypeError(`Cannot publish on ${b.hostIP}: the endpoint has no such address`);
      }
      out.push({ ...base, hostIP: "", address });
    } else if (b.hostIP.includes(":")) {
      if (!v6) {
        throw new TypeError(`Cannot publish on ${b.hostIP}: the endpoint has no IPv6 address`);
      }
      out.push({ ...base, address: v6 });
    } else {
      if (!v4) {
        throw new TypeError(`Cannot publish on ${b.hostIP}: the endpoint has no IPv4 address`);
      }
      out.push({ ...base, address: v4 });
    }
  }
  return out;
}

/**
 * Entries that name bindings' map elements by key alone, for deleting them when the container's
 * addresses are unknown (a link killed before it saved them): an element's key is its protocol,
 * host address and host port, and the map only depends on the family. An empty `hostIP` names
 * the element in both families' maps (deleting a missing one is harmless:
 * {@linkcode unpublishEntries} skips it). Delete by key only what the caller holds the claim of:
 * the key is all a deletion matches.
 *
 * @example
 * ```ts
 * import { keyEntries } from "./firewall.ts";
 * keyEntries([{ protocol: "tcp", hostIP: "127.0.0.1", hostPort: 8080, port: 80 }]).length; // 1
 * ```
 * @param bindings The bindings.
 * @returns The entries (their `address` is a placeholder of the map's family).
 */
export function keyEntries(bindings: readonly PortBinding[]): DnatEntry[] {
  const out: DnatEntry[] = [];
  for (const b of bindings) {
    const base = { protocol: b.protocol, hostIP: b.hostIP, hostPort: b.hostPort, port: b.port };
    if (b.hostIP === "") {
      out.push({ ...base, address: "0.0.0.0" }, { ...base, address: "::" });
    } else if (b.hostIP === "0.0.0.0" || b.hostIP === "::") {
      out.push({ ...base, hostIP: "", address: b.hostIP });
    } else out.push({ ...base, address: b.hostIP.includes(":") ? "::" : "0.0.0.0" });
  }
  return out;
}

/** An endpoint's saved bindings and addresses. */
interface EndpointLike {
  interfaces: { address?: string; addressIPv6?: string }[];
  ports?: PortBinding[];
  hostLinks: string[];
}

/**
 * Every DNAT entry of a network's endpoints, from its saved state.
 *
 * @param record The network, with its endpoints.
 * @returns The entries.
 */
export function recordEntries(record: NetworkRecord): DnatEntry[] {
  const out: DnatEntry[] = [];
  for (const ep of Object.values(record.endpoints) as EndpointLike[]) {
    if (!ep.ports?.length) continue;
    const i = ep.interfaces[0];
    out.push(...dnatEntries(i?.address, i?.addressIPv6, ep.ports));
  }
  return out;
}

const warned = new Set<string>();

function sysctl(path: string, value: string): void {
  try {
    writeFileSync(`/proc/sys/${path}`, value);
  } catch (e) {
    const code = (e as { code?: string }).code;
    // An overlay network's bridge not made on this host yet (or removed behind nslink's back):
    // the sync after it is made sets it.
    if (code === "ENOENT" && /^net\/ipv4\/conf\/nslov\d+\//.test(path)) return;
    // br_netfilter not loaded: same-bridge traffic never reaches the forward hook, so
    // icc: false cannot be enforced. Say so once; the rest still works.
    if (code === "ENOENT" && path.startsWith("net/bridge/")) {
      if (!warned.has(path)) {
        warned.add(path);
        console.warn(
          `nslink: ${path.replaceAll("/", ".")} is missing (br_netfilter not loaded): ` +
            `icc: false cannot be enforced until it is (modprobe br_netfilter)`,
        );
      }
      return;
    }
    throw new Error(`Cannot set ${path.replaceAll("/", ".")} = ${value}: ${(e as Error).message}`);
  }
}

/**
 * The kernel settings nslink's rules need, in the calling thread's namespace: forwarding (unless
 * every network opted out with `ipForward: false`), `route_localnet` on published bridges (for
 * `127.0.0.1:hostPort`), and bridge netfilter for `icc: false` (same-bridge traffic must pass
 * the forward hook to be filtered).
 *
 * @param records The networks.
 */
export function applySysctls(records: readonly NetworkRecord[]): void {
  let v4 = false;
  let v6 = false;
  let brnf = false;
  for (const r of records) {
    const n = firewallNetwork(r);
    if (!n) continue;
    const o = firewallOptions(r);
    if (!o.internal) {
      sysctl(`net/ipv4/conf/${n.bridge}/route_localnet`, "1");
      if (o.ipForward) {
        v4 ||= !!n.subnet;
        v6 ||= !!n.subnetIPv6;
      }
    }
    if (!o.icc) brnf = true;
  }
  if (v4) sysctl("net/ipv4/ip_forward", "1");
  if (v6) sysctl("net/ipv6/conf/all/forwarding", "1");
  if (brnf) {
    sysctl("net/bridge/bridge-nf-call-iptables", "1");
    sysctl("net/bridge/bridge-nf-call-ip6tables", "1");
  }
}

/**
 * Replaces nslink's table with what the saved networks need, in one batch, and applies the
 * sysctls; with no bridge network left, removes the table. Idempotent: the way to repair the
 * firewall after `nft flush ruleset`.
 *
 * One table serves every state directory used in the namespace: given `stateDir`, the
 * directory is listed in {@linkcode STATE_DIRS} while it has bridge networks, and the networks
 * of the other directories listed there for this namespace go into the table too (read from
 * their saved state, without their locks), so that one directory's rebuild never drops
 * another's rules.
 *
 * Rebuilds are serialized host-wide, per network namespace: reading the state and replacing the
 * table happen under an exclusive `flock` in {@linkcode FIREWALL_LOCKS} (see
 * {@linkcode withFirewallLock}), so a rebuild never writes a table from state read before
 * another process's change that was already in the kernel. Pass `records` as a function when
 * the caller does not hold its state directory's exclusive lock: it is then read under the
 * firewall's lock.
 *
 * @example
 * ```ts ignore
 * syncFirewall(records, "/run/nslink");
 * syncFirewall(() => loadAll(store), "/run/nslink"); // read under the firewall's lock
 * ```
 * @param records Every saved network of the state directory, with endpoints, or what reads them.
 * @param stateDir That directory.
 */
export function syncFirewall(
  records: readonly NetworkRecord[] | (() => readonly NetworkRecord[]),
  stateDir?: string,
): void {
  withFirewallLock(true, () => {
    const own = typeof records === "function" ? records() : records;
    const sorted = [...own].sort((a, b) => a.name.localeCompare(b.name));
    const all = stateDir === undefined
      ? sorted
      : withOtherStateDirs(sorted, stateDir).sort((a, b) => a.name.localeCompare(b.name));
    const networks: FirewallNetwork[] = [];
    const entries: DnatEntry[] = [];
    for (const r of all) {
      const n = firewallNetwork(r);
      if (!n) continue;
      networks.push(n);
      if (!n.internal) entries.push(...recordEntries(r));
    }
    const known = new Set(networks.map((n) => n.bridge));
    for (const n of overlayNetworks()) if (!known.has(n.bridge)) networks.push(n);
    applySysctls(sorted);
    hostNftables().commit(replaceTableOps(networks, entries));
  });
  warnForwardDrop();
}

/**
 * Where the firewall's locks are: one file per network namespace, named by the namespace's
 * inode (`4026531840.lock`), next to {@linkcode STATE_DIRS}. See {@linkcode withFirewallLock}.
 */
export const FIREWALL_LOCKS = "/run/nslink.firewall";

/** How long {@linkcode withFirewallLock} waits for another process, in milliseconds. */
export const FIREWALL_LOCK_TIMEOUT_MS = 10_000;

/** The lock this thread holds (at most one: a thread works in one namespace at a time). */
let held: { fd: number; exclusive: boolean; path: string } | undefined;

/** The pids holding `flock`s on `path`, from `/proc/locks`. */
function lockHolders(path: string): number[] {
  try {
    const ino = statSync(path).ino;
    const pids = new Set<number>();
    for (const line of readFileSync("/proc/locks", "utf8").split("\n")) {
      // "1: FLOCK  ADVISORY  WRITE 4242 fe:00:1234 0 EOF"; waiters' lines start with "1: ->".
      const f = line.trim().split(/\s+/);
      if (f[1] !== "FLOCK") continue;
      if (Number(f[5]?.split(":")[2]) === ino) pids.add(Number(f[4]));
    }
    return [...pids].sort((a, b) => a - b);
  } catch {
    return [];
  }
}

const nap = new Int32Array(new SharedArrayBuffer(4));

/**
 * Takes `flock(fd, op)`, waiting (the thread sleeps: 1 ms doubling to 20 ms) until it is free,
 * or throws after {@linkcode FIREWALL_LOCK_TIMEOUT_MS} naming the holders.
 */
function takeLock(fd: number, op: number, path: string): void {
  const object = JSON.stringify(path);
  const deadline = Date.now() + FIREWALL_LOCK_TIMEOUT_MS;
  let wait = 1;
  while (!flock(fd, op | LOCK_NB, object)) {
    const left = deadline - Date.now();
    if (left <= 0) {
      const holders = lockHolders(path);
      const who = holders.length === 0 ? "an unknown process" : `pid ${holders.join(", pid ")}`;
      throw new Error(
        `flock ${object}: the firewall lock is still held by ${who} after ` +
          `${FIREWALL_LOCK_TIMEOUT_MS} ms (timed out)`,
      );
    }
    Atomics.wait(nap, 0, 0, Math.min(wait, left));
    wait = Math.min(wait * 2, 20);
  }
}

/** This thread's namespace's lock file, opened; `undefined` when it cannot be (no `/run`). */
function openLock(): { fd: number; path: string } | undefined {
  const ino = /^net:\[(\d+)\]$/.exec(currentNetns())?.[1];
  if (ino === undefined) return undefined;
  const path = join(FIREWALL_LOCKS, `${ino}.lock`);
  try {
    mkdirSync(FIREWALL_LOCKS, { recursive: true, mode: 0o700 });
    return { fd: open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600, JSON.stringify(path)), path };
  } catch {
    return undefined; // no writable /run (a test's private mount, a read-only system): unlocked
  }
}

/**
 * Runs `fn` under the firewall's lock of this thread's network namespace (a `flock` on a file
 * in {@linkcode FIREWALL_LOCKS}; every process working in the namespace shares it, whatever
 * its state directory). Exclusive for a rebuild of the table ({@linkcode syncFirewall}: read
 * the state, replace the table), released when `fn` returns. Shared for a batch of map
 * elements ({@linkcode publishEntries}, {@linkcode unpublishEntries}), and kept until the
 * caller's synchronous section ends (a microtask), so that the record the caller writes right
 * after the batch is saved before any rebuild can read the state: a rebuild then sees either
 * neither or both.
 *
 * Never held across an `await`, and never taken while waiting for a state directory's lock
 * (those are taken first, asynchronously), so it cannot deadlock with them; a nested call
 * reuses the held lock (a shared one becomes exclusive). Waiting blocks the thread: holds are
 * one state read and one nf_tables batch long. Without a writable {@linkcode FIREWALL_LOCKS},
 * `fn` runs unlocked.
 *
 * @example
 * ```ts ignore
 * withFirewallLock(true, () => hostNftables().commit(ops));
 * ```
 * @param exclusive Exclusive (a rebuild) or shared (map elements).
 * @param fn What to run; synchronous.
 * @returns What `fn` returned.
 */
export function withFirewallLock<T>(exclusive: boolean, fn: () => T): T {
  if (held) {
    if (exclusive && !held.exclusive) {
      takeLock(held.fd, LOCK_EX, held.path);
      held.exclusive = true;
    }
    return fn();
  }
  const lock = openLock();
  if (!lock) return fn();
  try {
    takeLock(lock.fd, exclusive ? LOCK_EX : LOCK_SH, lock.path);
  } catch (e) {
    close(lock.fd);
    throw e;
  }
  const mine = { ...lock, exclusive };
  held = mine;
  const release = () => {
    if (held === mine) held = undefined;
    close(mine.fd); // closing the only fd of the open file releases the flock
  };
  if (!exclusive) {
    queueMicrotask(release);
    return fn();
  }
  try {
    return fn();
  } finally {
    release();
  }
}

/**
 * Where the state directories with bridge networks are listed, one file each (its path,
 * URI-encoded, as the name; the network namespace it is used in as the content), so that each
 * rebuild of nslink's table includes the other directories' networks.
 */
export const STATE_DIRS = "/run/nslink.dirs";

let loadStateDir: ((dir: string) => NetworkRecord[]) | undefined;

/**
 * Sets how {@linkcode syncFirewall} reads another state directory's networks (the network layer
 * does, once: the firewall layer does not read state files itself).
 *
 * @example
 * ```ts ignore
 * setStateDirLoader((dir) => loadAll(new FileStore(dir)));
 * ```
 * @param load Reads a directory's networks, with endpoints, skipping those being deleted.
 */
export function setStateDirLoader(load: (dir: string) => NetworkRecord[]): void {
  loadStateDir = load;
}

function currentNetns(): string {
  try {
    return readlinkSync("/proc/thread-self/ns/net");
  } catch {
    return "";
  }
}

/**
 * `records` (of `own`), then the networks of every other state directory listed for this
 * namespace, each network once (by id, `records` first). Lists `own` while it has a bridge
 * network and unlists it when it has none; drops the entries of directories that are gone. The
 * list is best effort: a failure to read or write it never fails a sync.
 */
function withOtherStateDirs(records: NetworkRecord[], own: string): NetworkRecord[] {
  const netns = currentNetns();
  const ownEntry = join(STATE_DIRS, encodeURIComponent(resolve(own)));
  try {
    if (records.some((r) => firewallNetwork(r) !== undefined)) {
      mkdirSync(STATE_DIRS, { recursive: true });
      const tmp = `${ownEntry}.${process.pid}.tmp`;
      writeFileSync(tmp, netns);
      renameSync(tmp, ownEntry);
    } else rmSync(ownEntry, { force: true });
  } catch { /* best effort: this directory's own rules do not depend on the list */ }
  const out = [...records];
  const ids = new Set(records.map((r) => r.id));
  let links: Set<string> | undefined;
  for (const r of otherStateDirNetworks(own, netns)) {
    if (ids.has(r.id)) continue;
    // Only networks live here: one whose bridge is gone (a directory a crashed or careless
    // caller left behind) must not keep rules, e.g. its subnet's isolation, in the table.
    const bridge = firewallNetwork(r)?.bridge;
    if (bridge !== undefined && !(links ??= hostLinkNames()).has(bridge)) continue;
    ids.add(r.id);
    out.push(r);
  }
  return out;
}

/**
 * The networks, with their endpoints, of every other state directory listed in
 * {@linkcode STATE_DIRS} for this network namespace, read through the loader that
 * {@linkcode setStateDirLoader} set (none without one). Drops the entries of directories that
 * are gone; a directory being written or removed meanwhile is skipped (best effort). `gc()` uses
 * it to tell another directory's untagged bridge port on a shared bridge from garbage.
 *
 * @example
 * ```ts ignore
 * for (const r of otherStateDirNetworks("/run/nslink")) console.log(r.name);
 * ```
 * @param own This state directory, left out.
 * @param netns The network namespace (`net:[INODE]`); the calling thread's by default.
 * @returns Their network records (a network two directories share may come twice).
 */
export function otherStateDirNetworks(own: string, netns = currentNetns()): NetworkRecord[] {
  if (!loadStateDir) return [];
  let names: string[];
  try {
    names = readdirSync(STATE_DIRS);
  } catch {
    return [];
  }
  const ownEntry = join(STATE_DIRS, encodeURIComponent(resolve(own)));
  const out: NetworkRecord[] = [];
  for (const name of names) {
    const entry = join(STATE_DIRS, name);
    if (entry === ownEntry || name.endsWith(".tmp")) continue;
    try {
      if (readFileSync(entry, "utf8") !== netns) continue;
      const dir = decodeURIComponent(name);
      if (!existsSync(dir)) {
        rmSync(entry, { force: true });
        continue;
      }
      out.push(...loadStateDir(dir));
    } catch { /* removed or being written meanwhile: its own next sync has its rules */ }
  }
  return out;
}

/** The names of the links of this namespace (one dump). */
function hostLinkNames(): Set<string> {
  using rt = Rtnl.open();
  return new Set(rt.link.list().map((l) => l.name));
}

/** An overlay network's bridge in the host namespace: `nslov` and the VNI (`network/overlay.ts`). */
const OVERLAY_BRIDGE = /^nslov\d+$/;

/**
 * The overlay networks present on this host, as the firewall sees them. Their configuration
 * lives in the shared store, not in the local state, so they are found by their bridges
 * (`nslov<VNI>`, holding the gateway addresses) in the host namespace. Each is isolated like a
 * bridge network (nothing from another nslink network's bridge gets in, replies and traffic
 * from its own bridge do), and its containers' traffic leaving the host is masqueraded, as
 * Docker's overlay containers reach the outside masqueraded (through `docker_gwbridge`). No
 * published ports (none can be asked for on an overlay endpoint); forwarding is not turned on
 * for them.
 *
 * @example
 * ```ts ignore
 * overlayNetworks().map((n) => n.bridge); // ["nslov256"]
 * ```
 * @returns One entry per overlay bridge, by bridge name.
 */
export function overlayNetworks(): FirewallNetwork[] {
  const rt = hostOverlayRtnl();
  const bridges = rt.link.list().filter((l) => l.kind === "bridge" && OVERLAY_BRIDGE.test(l.name));
  if (bridges.length === 0) return [];
  const addrs = rt.addr.list();
  return bridges.sort((a, b) => a.name.localeCompare(b.name)).map((l) => {
    const mine = addrs.filter((a) => a.index === l.index && a.scope === "global");
    const v4 = mine.find((a) => a.family === 4);
    const v6 = mine.find((a) => a.family === 6);
    return {
      name: `overlay ${l.name}`,
      bridge: l.name,
      ...(v4 ? { subnet: formatCidr(networkOf(parseCidr(v4.cidr))) } : {}),
      ...(v6 ? { subnetIPv6: formatCidr(networkOf(parseCidr(v6.cidr))) } : {}),
      masquerade: true,
      internal: false,
      icc: true,
    };
  });
}

let overlayRt: Rtnl | undefined;
function hostOverlayRtnl(): Rtnl {
  return overlayRt ??= Rtnl.open();
}

/**
 * Adds published ports: one batch (refused whole if any element exists already), then the
 * conntrack entries of the UDP ports are deleted so that earlier flows get NATed. Under the
 * firewall's shared lock until the caller's synchronous section ends ({@linkcode withFirewallLock}):
 * save the endpoint's record in that same section.
 *
 * @param entries The entries.
 */
export function publishEntries(entries: readonly DnatEntry[]): void {
  if (entries.length === 0) return;
  withFirewallLock(false, () => hostNftables().commit(elementOps(entries, true, true)));
  flushConntrack(entries);
}

/**
 * Removes published ports in one batch. Elements already missing (after `nft flush ruleset`)
 * are fine: the rest are removed one by one then. Under the firewall's shared lock until the
 * caller's synchronous section ends, as {@linkcode publishEntries}.
 *
 * @param entries The entries.
 */
export function unpublishEntries(entries: readonly DnatEntry[]): void {
  if (entries.length === 0) return;
  const fw = hostNftables();
  withFirewallLock(false, () => {
    try {
      fw.commit(elementOps(entries, false));
    } catch (e) {
      if (!(e instanceof NftError && e.code === "ENOENT")) throw e;
      for (const one of entries) {
        try {
          fw.commit(elementOps([one], false));
        } catch (e2) {
          if (!(e2 instanceof NftError && e2.code === "ENOENT")) throw e2;
        }
      }
    }
  });
  flushConntrack(entries);
}

function flushConntrack(entries: readonly DnatEntry[]): void {
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.protocol !== "udp") continue;
    const key = `${e.hostIP}|${e.hostPort}`;
    if (seen.has(key)) continue;
    seen.add(key);
    deleteFlows(hostNftables().socket, {
      protocol: PROTOCOLS.udp,
      dstPort: e.hostPort,
      ...(e.hostIP ? { dstIP: e.hostIP } : {}),
    });
  }
}

/**
 * Other tables' base chains on the forward hook with a `drop` policy (`iptables -P FORWARD
 * DROP`, Debian's default nftables.conf variants): nslink's `accept` ends only its own chain, so
 * such a chain drops container traffic unless it accepts nslink's bridges itself.
 *
 * @example
 * ```ts ignore
 * forwardDropChains(); // ['table ip filter chain FORWARD']
 * ```
 * @returns One description per chain.
 */
export function forwardDropChains(): string[] {
  const fam: Record<number, string> = {
    [C.NFPROTO_INET]: "inet",
    [C.NFPROTO_IPV4]: "ip",
    [C.NFPROTO_IPV6]: "ip6",
  };
  return hostNftables().chains().filter((c) =>
    c.hook?.hooknum === C.NF_INET_FORWARD && c.policy === C.NF_DROP &&
    !(c.family === C.NFPROTO_INET && c.table === TABLE) && fam[c.family] !== undefined
  ).map((c) => `table ${fam[c.family]} ${c.table} chain ${c.name}`);
}

/**
 * What {@linkcode forwardDropChains} means for nslink, one sentence per chain (for `nslink
 * network inspect`, `nslink gc --dry-run` and the warnings on stderr); none when there is no
 * such chain, or the ruleset cannot be read (no `CAP_NET_ADMIN`).
 *
 * @example
 * ```ts ignore
 * forwardDropWarnings();
 * // ['table ip filter chain FORWARD has policy drop on the forward hook: it drops …']
 * ```
 * @returns The warnings.
 */
export function forwardDropWarnings(): string[] {
  let chains: string[];
  try {
    chains = forwardDropChains();
  } catch {
    return [];
  }
  return chains.map((c) =>
    `${c} has policy drop on the forward hook: it drops container traffic ` +
    `(outbound and published ports) that nslink's table accepts; accept nslink's bridges there ` +
    `(e.g. iptables -I FORWARD -i BRIDGE -j ACCEPT; iptables -I FORWARD -o BRIDGE -j ACCEPT)`
  );
}

/**
 * Warns once per chain (on stderr) about {@linkcode forwardDropChains}.
 *
 * @returns The warnings given now.
 */
export function warnForwardDrop(): string[] {
  const out: string[] = [];
  for (const w of forwardDropWarnings()) {
    const c = w.slice(0, w.indexOf(" has policy drop"));
    if (warned.has(c)) continue;
    warned.add(c);
    const text = `nslink: ${w}`;
    console.warn(text);
    out.push(text);
  }
  return out;
}

/**
 * Deletes the conntrack entries of a container's addresses (called when it is unlinked), or of
 * whole subnets (a deleted network's).
 *
 * @param addresses Its addresses (any prefix is ignored).
 * @param subnets CIDRs whose every address counts too.
 */
export function forgetFlows(
  addresses: readonly (string | undefined)[],
  subnets: readonly (string | undefined)[] = [],
): void {
  const list = addresses.map(bare).filter((a) => a !== "");
  const nets = subnets.filter((c): c is string => !!c);
  if (list.length || nets.length) deleteFlowsOf(hostNftables().socket, list, nets);
}

/** Whether an error means the table is not there (flushed). @param e The error. */
export function tableMissing(e: unknown): boolean {
  return e instanceof NetlinkError && e.code === "ENOENT";
}
