/**
 * libnetwork's `Namespace`: a network namespace mounted at a path, into which a network's
 * interfaces are added and configured.
 *
 * @module
 */
import type { NetlinkError } from "../netlink/errors.ts";
import { checkCidr, checkIfName, checkIP, checkMac, checkMtu } from "../net/validate.ts";
import { parseIP } from "../net/ip.ts";
import { NetNs } from "../netns/netns.ts";
import { Rtnl } from "../rtnl/handle.ts";
import { hostNetns, hostRtnl } from "../model/host.ts";
import { freeName, type Interface } from "../model/interface.ts";
import { handoffs, knownNames } from "./internal.ts";
import { removeNetnsResolvConf } from "./dns_hooks.ts";
import { dropSpareNetns, type SpareNetns, takeSpareNetns } from "../netns/spare.ts";
import { NetlinkSocket } from "../netlink/socket.ts";
import { readTextFile } from "../ffi/libc.ts";

function checkInterface(iface: Interface): void {
  if (!iface || typeof iface !== "object") {
    throw new TypeError(`Invalid interface ${JSON.stringify(iface)}`);
  }
  checkIfName(iface.dstName, "dstName");
  if (iface.srcName) checkIfName(iface.srcName, "srcName");
  if (iface.macAddress) checkMac(iface.macAddress);
  if (iface.address && cidrFamily(iface.address) !== 4) {
    throw new TypeError(`Interface address "${iface.address}" must be IPv4`);
  }
  if (iface.addressIPv6 && cidrFamily(iface.addressIPv6) !== 6) {
    throw new TypeError(`Interface addressIPv6 "${iface.addressIPv6}" must be IPv6`);
  }
  if (iface.gateway && gatewayFamily(iface.gateway) !== 4) {
    throw new TypeError(`Interface gateway "${iface.gateway}" must be IPv4`);
  }
  if (iface.gatewayIPv6 && gatewayFamily(iface.gatewayIPv6) !== 6) {
    throw new TypeError(`Interface gatewayIPv6 "${iface.gatewayIPv6}" must be IPv6`);
  }
  if (iface.mtu) checkMtu(iface.mtu);
}

/**
 * Handles of deleted namespaces, closed together at the next turn of the event loop. A
 * namespace whose mount is gone lives on while a handle holds it; the last one closed hands it
 * to the kernel's namespace cleanup (a worker that tears down its links, holding the RTNL lock
 * and waiting for RCU grace periods). Closed at once, each deletion of a burst started that work
 * while the next `umount2` ran, which then waited for it: on two CPUs, 50 deletions in a row took
 * 100-700 µs per `umount2`; with the handles closed after the burst, 5-55 µs (a C program doing
 * the same system calls, namespaces with one veth each).
 */
const closeLater: (() => void)[] = [];
/**
 * At most this many deleted namespaces' handles wait (two fds each): a caller that deletes
 * thousands in one go without the event loop turning (each `await` on a settled promise does not
 * turn it), or creates and deletes in such a loop, keeps a bounded number of file descriptors
 * open. 64 until that many wait; then {@linkcode deferredCloseLimit} of the process's limit,
 * read once. Every close before the burst's end starts the kernel's cleanup of those namespaces
 * while the burst's next `umount2` calls run: with 64, a burst of 200 deletions did so three
 * times and was slower in 10 of 12 interleaved runs (Deno and Bun, `bench/teardown.ts --n 200`).
 */
let maxDeferred = 64;
let limitRead = false;

/**
 * How many deleted namespaces' handles may wait to be closed, given the process's soft limit on
 * open files (`RLIMIT_NOFILE`): an eighth of it (a quarter of the fds, two per namespace), at
 * least 64 and at most 256 (a deleted namespace waiting also keeps its kernel memory).
 *
 * @example
 * ```ts
 * import { deferredCloseLimit } from "./namespace.ts";
 * deferredCloseLimit(1024); // 128
 * deferredCloseLimit(undefined); // 64 (the limit is unknown)
 * ```
 * @param softNoFile The soft limit; `Infinity` when unlimited, `undefined` when unknown.
 * @returns The number of namespaces.
 */
export function deferredCloseLimit(softNoFile: number | undefined): number {
  if (softNoFile === undefined || !(softNoFile > 0)) return 64;
  return Math.max(64, Math.min(256, Math.floor(softNoFile / 8)));
}

/** The process's soft limit on open files, from `/proc/self/limits`; `undefined` if unknown. */
function softNoFileLimit(): number | undefined {
  try {
    const line = readTextFile("/proc/self/limits").split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    if (soft === "unlimited") return Infinity;
    return soft && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Closes now the handles of deleted namespaces still waiting for the end of a burst (see
 * `closeLater`), handing those namespaces to the kernel's cleanup. `link` calls it when a
 * network's addresses are all held by endpoints released in such a burst.
 *
 * @example
 * ```ts ignore
 * closeDeletedNamespaces();
 * ```
 */
export function closeDeletedNamespaces(): void {
  closeDeferred();
}

function closeDeferred(): void {
  for (const close of closeLater.splice(0)) {
    try {
      close();
    } catch { /* closing an fd fails only if it is not open: nothing to do */ }
  }
}

function deferClose(close: () => void): void {
  const waiting = closeLater.push(close);
  if (waiting >= maxDeferred) {
    if (!limitRead) {
      limitRead = true;
      maxDeferred = deferredCloseLimit(softNoFileLimit());
    }
    if (waiting >= maxDeferred) return closeDeferred();
  }
  if (waiting > 1) return;
  const timer = setTimeout(closeDeferred, 0);
  // Not a reason to keep the process alive: exiting closes the handles all the same.
  const deno = (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno;
  if (typeof timer === "number" && deno?.unrefTimer) deno.unrefTimer(timer);
  else (timer as { unref?(): void } | undefined)?.unref?.();
}

/**
 * A CIDR's family, checked as `checkCidr` checks it but without making the address a bigint
 * (this runs for every interface added); anything it rejects gets `checkCidr`'s own error.
 */
function cidrFamily(cidr: string): 4 | 6 {
  if (typeof cidr === "string") {
    const slash = cidr.indexOf("/");
    const bytes = slash > 0 ? parseIP(cidr.slice(0, slash)) : undefined;
    const pl = slash > 0 ? cidr.slice(slash + 1) : "";
    if (bytes && PREFIX_RE.test(pl) && Number(pl) <= bytes.length * 8) {
      return bytes.length === 4 ? 4 : 6;
    }
  }
  return checkCidr(cidr).family; // throws
}
const PREFIX_RE = /^\d{1,3}$/;

/** Gateways already checked, by text: a network's gateways come with each of its interfaces. */
const gatewayFamilies = new Map<string, 4 | 6>();

function gatewayFamily(gateway: string): 4 | 6 {
  let f = gatewayFamilies.get(gateway);
  if (f === undefined) {
    f = checkIP(gateway); // throws for anything that is not an address
    if (gatewayFamilies.size >= 256) gatewayFamilies.clear();
    gatewayFamilies.set(gateway, f);
  }
  return f;
}

function prefixOf(name: string): string {
  return name.replace(/\d+$/, "");
}

/**
 * A network namespace mounted at a path, as libnetwork's `Namespace`. Create one with
 * {@linkcode newNetworkNamespace}, or open an existing one with {@linkcode openNetworkNamespace}.
 *
 * @example
 * ```ts ignore
 * const ns = await newNetworkNamespace("/run/netns/c1");
 * for (const iface of await network.link("c1")) await ns.addInterface(iface);
 * ns.interfaces; // what was added
 * await ns.delete();
 * ```
 */
export class Namespace implements AsyncDisposable {
  /** Where the namespace is mounted. */
  readonly path: string;
  #netns: NetNs;
  #rtnl?: Rtnl;
  #interfaces: Interface[];
  #owned: boolean;
  #loUp = false;
  #deleted = false;

  private constructor(netns: NetNs, interfaces: Interface[], owned: boolean) {
    this.path = netns.path;
    this.#netns = netns;
    this.#interfaces = interfaces;
    this.#owned = owned;
  }

  /**
   * Wraps an open namespace; used by {@linkcode newNetworkNamespace} and
   * {@linkcode openNetworkNamespace}.
   *
   * @param netns The open namespace.
   * @param owned Whether disposing of the object deletes the namespace.
   * @param readExisting Read the interfaces already there from the kernel.
   * @returns The namespace object.
   */
  static fromNetNs(netns: NetNs, owned: boolean, readExisting = false): Namespace {
    const ns = new Namespace(netns, [], owned);
    if (readExisting) {
      try {
        ns.#interfaces = readInterfaces(ns.rtnl());
      } catch (e) {
        ns.close();
        throw e;
      }
    }
    return ns;
  }

  /**
   * Creates a namespace at `path` with `lo` up; see {@linkcode newNetworkNamespace}.
   *
   * @param path Where to mount it (or a `/run/netns` name).
   * @returns The namespace.
   */
  static create(path: string): Namespace {
    const spare = takeSpareNetns();
    if (spare) return Namespace.#fromSpare(path, spare);
    // While the thread is still in the new namespace, open its netlink handle and bring `lo`
    // up there: no second trip into the namespace.
    let netns: NetNs | undefined;
    let rtnl: Rtnl | undefined;
    const ref = {
      get fd(): number {
        return netns?.fd ?? -1;
      },
      get path(): string {
        return netns?.path ?? path;
      },
    };
    try {
      netns = NetNs.create(path, () => {
        rtnl = Rtnl.open({ netns: ref, inside: true });
        rtnl.link.set("lo", { up: true });
      });
    } catch (e) {
      rtnl?.close();
      throw e;
    }
    const ns = new Namespace(netns, [], true);
    ns.#rtnl = rtnl;
    ns.#loUp = true;
    knownNames.set(ns, new Set(["lo"]));
    return ns;
  }

  /**
   * A namespace made ahead by the spare worker (`lo` up, its netlink socket open there), mounted
   * at `path`: the same file and bind mount as {@linkcode NetNs.create} makes.
   */
  static #fromSpare(path: string, spare: SpareNetns): Namespace {
    let netns: NetNs;
    try {
      netns = NetNs.attach(path, spare.nsFd);
    } catch (e) {
      dropSpareNetns(spare);
      throw e;
    }
    const ns = new Namespace(netns, [], true);
    ns.#rtnl = Rtnl.open({ netns, socket: NetlinkSocket.adopt(spare.sockFd, spare.port) });
    ns.#loUp = true;
    knownNames.set(ns, new Set(["lo"]));
    return ns;
  }

  /** The interfaces added so far (copies), with the names they have inside. */
  get interfaces(): Interface[] {
    return this.#interfaces.map((i) => ({ ...i }));
  }

  /** The open namespace (its fd), for lower-level work. */
  get netns(): NetNs {
    return this.#netns;
  }

  /**
   * A route-netlink handle inside the namespace, opened on first use and closed by
   * {@linkcode Namespace.delete} / {@linkcode Namespace.close}.
   *
   * @example
   * ```ts
   * import { Namespace } from "../mod.ts";
   * declare const ns: Namespace;
   * ns.rtnl().addr.list({ family: 4 });
   * ```
   * @returns The handle.
   */
  rtnl(): Rtnl {
    if (this.#netns.fd < 0 || this.#deleted) {
      throw new Error(`Namespace ${JSON.stringify(this.path)} is closed`);
    }
    return this.#rtnl ??= Rtnl.open({ netns: this.#netns });
  }

  /**
   * Moves the interface's `srcName` from the host into the namespace, renames it `dstName`
   * (or the next free `ethN` when that name is taken), and configures it: MAC, MTU, IPv4 and
   * IPv6 addresses, up, `lo` up, and default routes via the gateways (unless the namespace
   * already has a default route of that family). An interface created directly in this
   * namespace (`network.link(name, { namespace })`) is only configured. On failure everything
   * this call did is undone, and the interface is back where it was.
   *
   * @example
   * ```ts
   * import { Interface, Namespace } from "../mod.ts";
   * declare const iface: Interface;
   * declare const ns: Namespace;
   * const added = await ns.addInterface(iface);
   * added.dstName; // "eth0"
   * ```
   * @param iface An interface from `network.link()`.
   * @returns The interface as added (with its final `dstName`).
   */
  // deno-lint-ignore require-await -- async so that a refusal rejects the promise, never throws
  async addInterface(iface: Interface): Promise<Interface> {
    return this.#add(iface);
  }

  #add(iface: Interface): Interface {
    checkInterface(iface);
    const inside = this.rtnl();
    const host = hostRtnl();
    const handoff = iface.srcName ? handoffs.get(iface.srcName) : undefined;
    let direct = handoff?.createdIn === this.path;
    if (direct && this.#interfaces.some((i) => i.dstName === iface.dstName)) {
      throw new Error(
        `Interface "${iface.dstName}" was already added to ${JSON.stringify(this.path)}`,
      );
    }
    if (!direct) {
      const onHost = iface.srcName ? host.link.find(iface.srcName) : undefined;
      if (!onHost) {
        const there = inside.link.find(iface.dstName);
        const added = this.#interfaces.some((i) => i.dstName === iface.dstName);
        if (there && !added && (!iface.macAddress || there.mac === iface.macAddress)) direct = true;
        else {
          throw new Error(
            `Interface "${iface.srcName}" is not on the host, nor waiting as "${iface.dstName}" in ${
              JSON.stringify(this.path)
            }`,
          );
        }
      }
    }
    const undo: (() => void)[] = [];
    let name = direct ? iface.dstName : iface.srcName;
    try {
      if (!direct) {
        const taken = new Set(this.#interfaces.map((i) => i.dstName));
        const inUse = (n: string) => taken.has(n) || inside.link.find(n) !== undefined;
        const dst = inUse(iface.dstName) ? freeName(prefixOf(iface.dstName), inUse) : iface.dstName;
        host.link.set(iface.srcName, { netns: this.#netns });
        undo.push(() =>
          inside.link.set(name, { up: false, name: iface.srcName, netns: hostNetns() })
        );
        inside.link.set(iface.srcName, {
          name: dst,
          ...(iface.macAddress ? { mac: iface.macAddress } : {}),
          ...(iface.mtu ? { mtu: iface.mtu } : {}),
        });
        name = dst;
        knownNames.get(this)?.add(dst);
      }
      // The index the network learned when it created the link here, else ask the kernel.
      const index = direct && handoff?.createdIn === this.path && handoff.index !== undefined &&
          name === iface.dstName
        ? handoff.index
        : inside.link.index(name);
      // The rest in one round trip: up, lo up, addresses, default routes. Each request has its
      // own ACK, so exactly the ones that succeeded are undone if another fails.
      // Up first: for IPv6 addresses already present when a link comes up, the kernel makes the
      // prefix routes again with GFP_ATOMIC (addrconf's fixup of permanent addresses) and drops
      // an address whose route it cannot make. With addresses first, 3 of 9 runs of 1,000
      // containers failed around the 750th: the default route EHOSTUNREACH (no prefix route),
      // the kernel logging "percpu: allocation failed, size=8 align=8 atomic=1"; up first, 0 of
      // 8. Added to a link that is up, an address gets its prefix route once, with GFP_KERNEL.
      const steps: { undo?: () => void; tolerated?: string }[] = [];
      const results = inside.batch((b) => {
        b.link.set(index, { up: true });
        steps.push({ undo: () => inside.link.set(index, { up: false }) });
        if (!this.#loUp) {
          b.link.set("lo", { up: true });
          steps.push({});
        }
        if (iface.address) {
          b.addr.add(index, iface.address);
          steps.push({ undo: () => inside.addr.del(index, iface.address) });
        }
        if (iface.addressIPv6) {
          b.addr.add(index, iface.addressIPv6, { nodad: true });
          steps.push({ undo: () => inside.addr.del(index, iface.addressIPv6) });
        }
        for (const gateway of [iface.gateway, iface.gatewayIPv6]) {
          if (!gateway) continue;
          b.route.add({ gateway, dev: index });
          // EEXIST: another network already gave this namespace its default route; keep it.
          steps.push({
            undo: () => inside.route.del({ gateway, dev: index }),
            tolerated: "EEXIST",
          });
        }
      });
      let failure: NetlinkError | undefined;
      results.forEach((err, i) => {
        if (err === undefined) {
          const u = steps[i].undo;
          if (u) undo.push(u);
        } else if (err.code !== steps[i].tolerated) failure ??= err;
      });
      if (failure) throw failure;
      this.#loUp = true;
    } catch (e) {
      for (const step of undo.reverse()) {
        try {
          step();
        } catch { /* undo as much as possible; the first error is what the caller needs */ }
      }
      throw e;
    }
    const added = { ...iface, dstName: name };
    this.#interfaces.push(added);
    if (handoff && handoff.createdIn !== this.path) handoff.noteNamespace(this.path);
    return { ...added };
  }

  /**
   * Unmounts and removes the namespace, and closes its handle. Its interfaces go with it (the
   * kernel removes veth pairs in one batch, with no per-link wait). Succeeds when already gone.
   * The handle's file descriptors are closed at the next turn of the event loop, together with
   * those of every namespace deleted meanwhile: the kernel then tears a burst of deletions down
   * in one go, after the calls, instead of competing with each next one.
   *
   * @example
   * ```ts
   * import { Namespace } from "../mod.ts";
   * declare const ns: Namespace;
   * await ns.delete();
   * ```
   */
  // deno-lint-ignore require-await -- async so that a failure rejects the promise, never throws
  async delete(): Promise<void> {
    if (!this.#deleted && this.#netns.fd >= 0) {
      this.#deleted = true;
      const rtnl = this.#rtnl;
      const netns = this.#netns;
      this.#rtnl = undefined;
      deferClose(() => {
        try {
          rtnl?.close();
        } finally {
          netns.close();
        }
      });
    }
    NetNs.remove(this.path, { missingOk: true });
    removeNetnsResolvConf(this.path);
  }

  /** Closes the netlink handle and the namespace fd; the namespace itself stays. */
  close(): void {
    this.#rtnl?.close();
    this.#rtnl = undefined;
    // After delete(), the fds are closed with the next deferred batch.
    if (!this.#deleted) this.#netns.close();
  }

  /** Deletes the namespace if this object created it, else only closes it (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#owned) return await this.delete();
    this.close();
  }
}

/**
 * Creates a network namespace mounted at `path` (a bare name means `/run/netns/NAME`), with
 * `lo` up. A path that already holds something is refused with `EEXIST` and left alone.
 * Equivalent to: `ip netns add NAME && ip -n NAME link set lo up`.
 *
 * @example
 * ```ts ignore
 * await using ns = await newNetworkNamespace("/run/netns/c1");
 * ```
 * @param path Where to mount it.
 * @returns The namespace.
 */
// deno-lint-ignore require-await -- async so that a failure rejects the promise, never throws
export async function newNetworkNamespace(path: string): Promise<Namespace> {
  return Namespace.create(path);
}

/**
 * Opens an existing network namespace by path (or `/run/netns` name). Its `interfaces` are read
 * from the kernel: every link but `lo`, with its first global addresses and default gateways.
 *
 * @example
 * ```ts ignore
 * const ns = await openNetworkNamespace("/run/netns/c1");
 * ns.interfaces.map((i) => i.dstName); // ["eth0"]
 * ```
 * @param path The namespace's path or name.
 * @returns The namespace.
 */
// deno-lint-ignore require-await -- async so that a failure rejects the promise, never throws
export async function openNetworkNamespace(path: string): Promise<Namespace> {
  return Namespace.fromNetNs(NetNs.open(path), false, true);
}

function readInterfaces(rt: Rtnl): Interface[] {
  const addrs = rt.addr.list().filter((a) => a.scope === "global");
  const routes = rt.route.list().filter((r) => r.dst === "default");
  return rt.link.list().filter((l) => l.name !== "lo").map((l) => {
    const v4 = addrs.find((a) => a.index === l.index && a.family === 4);
    const v6 = addrs.find((a) => a.index === l.index && a.family === 6);
    const gw4 = routes.find((r) => r.family === 4 && r.oif === l.index);
    const gw6 = routes.find((r) => r.family === 6 && r.oif === l.index);
    return {
      srcName: "",
      dstName: l.name,
      macAddress: l.mac ?? "",
      address: v4?.cidr ?? "",
      addressIPv6: v6?.cidr ?? "",
      gateway: gw4?.gateway ?? "",
      gatewayIPv6: gw6?.gateway ?? "",
      mtu: l.mtu,
    };
  });
}
