/**
 * The `macvlan` and `ipvlan` drivers: containers directly on the host's LAN, each with its own
 * address from nslink's IPAM (and, for macvlan, its own MAC), on a parent interface of the host.
 *
 * Options (Docker's names; `macvlan_mode`/`ipvlan_mode` are accepted for `mode`):
 * - `parent`: the host interface containers attach to. A dotted name (`eth1.50`) that does not
 *   exist is made as the 802.1q sub-interface VLAN 50 of `eth1`, and removed with the network.
 * - `mode`: macvlan `bridge` (default), `private`, `vepa`, `passthru`; ipvlan `l2` (default),
 *   `l3`, `l3s`. Two networks on one parent must agree on it (and on the driver). In `l3`/`l3s`
 *   a container's default route goes through its device (`default dev eth0`, as Docker's).
 * - `subnet`, `gateway`, `subnetIPv6`, `gatewayIPv6`: the LAN's; the gateway is the LAN's router
 *   (default the subnet's first address), never an address of the host. At least one subnet.
 * - `ipRange`: hand out only addresses of this IPv4 range (a CIDR inside `subnet`).
 * - `hostAccess` (default `false`): a shim on the host, a macvlan (ipvlan) link of the same mode
 *   on the parent with its own addresses (`hostAccessAddress`, `hostAccessAddressIPv6`; by
 *   default the last address of each subnet, never handed out) and a route to each container's
 *   address, so that the host and its containers talk both ways (a macvlan's parent never
 *   sees its own macvlans' frames). Removed with the network.
 * - `internal` (default `false`): no parent: an isolated L2 segment among the containers. The
 *   kernel has no `dummy` link everywhere (Docker's parent for it), so the parent is a bridge
 *   with no ports that the network makes and removes (`nslv` + a hash): macvlan switches frames
 *   among its own links without the parent forwarding anything. No default route.
 * - `containerInterfacePrefix`: default `eth`.
 *
 * Published ports and `masquerade` do not apply: the containers are on the LAN.
 *
 * The container's link is made directly inside its namespace when one is given (the fast
 * path); it then exists only there: its endpoint record names the namespace, and recovery
 * (`gc()`, an interrupted `link`) looks inside it, finding the link by its MAC (macvlan: derived
 * from the network id and endpoint name, set at creation) or, for ipvlan, by kind and parent.
 *
 * @module
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import process from "node:process";
import { NetlinkError } from "../netlink/errors.ts";
import { NetNs } from "../netns/netns.ts";
import { Rtnl } from "../rtnl/handle.ts";
import type { IpvlanMode, Link, MacvlanMode } from "../rtnl/link.ts";
import { checkIfName } from "../net/validate.ts";
import { exists } from "../ffi/libc.ts";
import { freeName, type Interface } from "../model/interface.ts";
import {
  allocate,
  createPool,
  IpamExhaustedError,
  type Pool,
  setPoolRange,
} from "../model/ipam.ts";
import { formatAddress, formatCidr, lastOf, networkOf, overlaps, parseCidr } from "../net/ip.ts";
import { linkAlias, shortHash } from "./bridge.ts";
import type {
  Driver,
  DriverContext,
  EndpointOptions,
  EndpointRecord,
  NetworkRecord,
} from "./driver.ts";

/** The link kinds of the two drivers. */
export type LanKind = "macvlan" | "ipvlan";

/** A macvlan/ipvlan network's normalized configuration, as saved. */
export interface LanConfig {
  /** The link kind made for each container. */
  kind: LanKind;
  /** The parent's name on the host. */
  parent: string;
  /** The link mode. */
  mode: string;
  /** No parent of the user's: an isolated segment on a port-less bridge the network made. */
  internal: boolean;
  /** The parent the network made (and removes): a vlan sub-interface, or the internal bridge. */
  madeParent?: { kind: "vlan"; base: string; id: number } | { kind: "bridge" };
  /** Hand out only addresses of this IPv4 CIDR. */
  ipRange?: string;
  /** The host-side shim, when `hostAccess`. */
  hostAccess?: { name: string; address?: string; addressIPv6?: string };
  /** The parent's MTU when the network was made (the links inherit it). */
  mtu: number;
  /** Container-side names are this prefix plus a number. */
  containerInterfacePrefix: string;
}

const MACVLAN_MODES = ["bridge", "private", "vepa", "passthru"];
const IPVLAN_MODES = ["l2", "l3", "l3s"];
const KERNEL_OPTION: Record<string, string> = {
  ipvlan: "CONFIG_IPVLAN",
  macvlan: "CONFIG_MACVLAN",
  vlan: "CONFIG_VLAN_8021Q",
};
const KERNEL_WHAT: Record<string, string> = {
  ipvlan: "ipvlan",
  macvlan: "macvlan",
  vlan: "802.1q VLAN",
};

const KNOWN = [
  "parent",
  "mode",
  "macvlan_mode",
  "ipvlan_mode",
  "subnet",
  "gateway",
  "subnetIPv6",
  "gatewayIPv6",
  "ipRange",
  "hostAccess",
  "hostAccessAddress",
  "hostAccessAddressIPv6",
  "internal",
  "masquerade",
  "containerInterfacePrefix",
];

let kernelConfig: Map<string, string> | null | undefined;

/**
 * Whether the running kernel has a link kind, from `/proc/config.gz` (`=y` or `=m`); `true`
 * when the kernel does not publish its configuration (the kernel's own error comes later).
 *
 * @example
 * ```ts
 * import { kernelHas } from "./lan.ts";
 * kernelHas("macvlan"); // true on most kernels
 * ```
 * @param kind `macvlan`, `ipvlan` or `vlan`.
 * @returns Whether it is there.
 */
export function kernelHas(kind: "macvlan" | "ipvlan" | "vlan"): boolean {
  if (kernelConfig === undefined) {
    try {
      // node:zlib is loaded on first use: a CNI exec that never needs it does not pay for loading it.
      const zlib = process.getBuiltinModule("node:zlib") as typeof import("node:zlib");
      const text = new TextDecoder().decode(zlib.gunzipSync(readFileSync("/proc/config.gz")));
      kernelConfig = new Map();
      for (const line of text.split("\n")) {
        const m = /^(CONFIG_[A-Z0-9_]+)=(.*)$/.exec(line);
        if (m) kernelConfig.set(m[1], m[2]);
      }
    } catch {
      kernelConfig = null;
    }
  }
  if (kernelConfig === null) return true;
  const v = kernelConfig.get(KERNEL_OPTION[kind]);
  return v === "y" || v === "m";
}

/**
 * The refusal for a link kind the kernel lacks, naming the kernel option.
 *
 * @example
 * ```ts
 * import { kernelLacks } from "./lan.ts";
 * kernelLacks("ipvlan"); // "the kernel has no ipvlan support (CONFIG_IPVLAN)"
 * ```
 * @param kind `macvlan`, `ipvlan` or `vlan`.
 * @returns The message.
 */
export function kernelLacks(kind: "macvlan" | "ipvlan" | "vlan"): string {
  return `the kernel has no ${KERNEL_WHAT[kind]} support (${KERNEL_OPTION[kind]})`;
}

function str(kind: string, options: Record<string, unknown>, key: string): string | undefined {
  const v = options[key];
  if (v === undefined || v === "") return undefined;
  if (typeof v !== "string") {
    throw new TypeError(`${kind} option "${key}" must be a string, got ${JSON.stringify(v)}`);
  }
  return v;
}

function bool(kind: string, options: Record<string, unknown>, key: string): boolean {
  const v = options[key] ?? false;
  if (typeof v !== "boolean") {
    throw new TypeError(`${kind} option "${key}" must be true or false, got ${JSON.stringify(v)}`);
  }
  return v;
}

function config(record: NetworkRecord): LanConfig {
  return record.config as unknown as LanConfig;
}

/** The last address of a pool that may be handed out (IPv4: before the broadcast address). */
function lastAddress(pool: Pool): string {
  const c = networkOf(parseCidr(pool.subnet));
  const last = formatAddress(c.family, lastOf(c) - (c.family === 4 ? 1n : 0n));
  // The LAN's router often sits there: then the one before it.
  return last === pool.gateway
    ? formatAddress(c.family, lastOf(c) - (c.family === 4 ? 2n : 1n))
    : last;
}

/** Every address of an IPv4 CIDR, in order (network and broadcast included). */
function* addressesOf(cidr: string): Generator<string> {
  const c = networkOf(parseCidr(cidr));
  for (let a = c.address; a <= lastOf(c); a++) yield formatAddress(4, a);
}

/** The host-side name of an endpoint's link (seed path), named before it exists. */
function srcNameOf(record: NetworkRecord, endpoint: string): string {
  return `nslm${shortHash(`${record.id}/${endpoint}`)}`;
}

/**
 * The MAC of an endpoint's macvlan, from its host-side name (which its intent record saves):
 * `02:6e` and the name's hash, so that recovery finds the link inside a namespace by it.
 */
function macOf(srcName: string): string {
  return `02:6e:${srcName.slice(4).match(/../g)!.join(":")}`;
}

function gone(e: unknown): boolean {
  return e instanceof NetlinkError && (e.code === "ENODEV" || e.code === "EADDRNOTAVAIL");
}

function attempt(f: () => void): void {
  try {
    f();
  } catch (e) {
    if (!gone(e)) throw e;
  }
}

/** The kernel's "unknown link kind" (its module is missing) as the driver's refusal. */
function kernelError(e: unknown, kind: "macvlan" | "ipvlan" | "vlan"): unknown {
  if (e instanceof NetlinkError && e.code === "EOPNOTSUPP") return new Error(kernelLacks(kind));
  return e;
}

/**
 * The link of an endpoint inside a namespace: for macvlan the one with its MAC; for ipvlan an
 * ipvlan on the parent that no other endpoint of the network in that namespace names.
 */
function findInside(
  rt: Rtnl,
  ctx: DriverContext,
  record: NetworkRecord,
  ep: EndpointRecord,
): Link | undefined {
  const cfg = config(record);
  const links = rt.link.list();
  const src = ep.hostLinks[0];
  if (cfg.kind === "macvlan") {
    if (!src) return undefined;
    const mac = macOf(src);
    return links.find((l) => l.kind === "macvlan" && l.mac === mac);
  }
  const named = ep.interfaces[0]?.dstName;
  if (named) return links.find((l) => l.name === named && l.kind === "ipvlan");
  const others = new Set<string>();
  for (const other of Object.values(record.endpoints ?? {})) {
    if (other.hostLinks[0] !== src && other.namespace === ep.namespace) {
      for (const i of other.interfaces) others.add(i.dstName);
    }
  }
  const parent = ctx.host.link.find(cfg.parent)?.index;
  return links.find((l) =>
    l.kind === "ipvlan" && !others.has(l.name) && (parent === undefined || l.parent === parent)
  );
}

/**
 * Paths that reach the network namespaces alive on the machine besides those with a file: one
 * `/proc/PID/ns/net` per namespace some process runs in, and `/proc/PID/fd/N` for one an open
 * fd holds. A container's namespace whose file was removed while a process (or an fd) kept it
 * alive is only reachable this way: its macvlan/ipvlan link, with its LAN address, lives on.
 * Reading every process's fds costs ~50-250 ms on a host with ~1,500 of them: the list is kept
 * for {@linkcode UNNAMED_TTL_MS}, so a `gc()` pass over many dead endpoints reads them once.
 */
function unnamedNamespaces(): string[] {
  const now = Date.now();
  if (unnamed && now - unnamed.at < UNNAMED_TTL_MS) return unnamed.paths;
  const paths = scanNamespaces();
  unnamed = { at: now, paths };
  return paths;
}

/** How long {@linkcode unnamedNamespaces} keeps what it found. */
const UNNAMED_TTL_MS = 2000;
let unnamed: { at: number; paths: string[] } | undefined;

function scanNamespaces(): string[] {
  const seen = new Set<string>();
  const here = (p: string): string | undefined => {
    try {
      return readlinkSync(p);
    } catch {
      return undefined; // the process exited meanwhile, or is not ours to read
    }
  };
  const self = here("/proc/thread-self/ns/net");
  if (self) seen.add(self);
  const found: string[] = [];
  const note = (path: string, target: string | undefined) => {
    if (!target?.startsWith("net:[") || seen.has(target)) return;
    seen.add(target);
    found.push(path);
  };
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((n) => /^[0-9]+$/.test(n));
  } catch {
    return [];
  }
  for (const pid of pids) note(`/proc/${pid}/ns/net`, here(`/proc/${pid}/ns/net`));
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) note(`/proc/${pid}/fd/${fd}`, here(`/proc/${pid}/fd/${fd}`));
  }
  return found;
}

/**
 * The link of an endpoint in a namespace its file no longer names (see
 * {@linkcode unnamedNamespaces}): a macvlan with the endpoint's MAC, an ipvlan with its address.
 */
function findZombie(
  record: NetworkRecord,
  ep: EndpointRecord,
): { path: string; index: number } | undefined {
  const cfg = config(record);
  const src = ep.hostLinks[0];
  const iface = ep.interfaces[0];
  const mac = src ? macOf(src) : undefined;
  const addresses = new Set(
    [iface?.address, iface?.addressIPv6].filter((a) => a).map((a) => a!.split("/")[0]),
  );
  if (cfg.kind === "macvlan" ? !mac : addresses.size === 0) return undefined;
  for (const path of unnamedNamespaces()) {
    const index = tolerant(() =>
      inside(path, (rt) => {
        for (const l of rt.link.list()) {
          if (l.kind !== cfg.kind) continue;
          if (cfg.kind === "macvlan" && l.mac === mac) return l.index;
          if (
            cfg.kind === "ipvlan" &&
            rt.addr.list({ dev: l.index }).some((a) => addresses.has(a.address))
          ) return l.index;
        }
        return undefined;
      })
    );
    if (index !== undefined) return { path, index };
  }
  return undefined;
}

/** `f()`, or `undefined` when it throws: a process or fd found a moment ago may be gone. */
function tolerant<T>(f: () => T | undefined): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** Runs `f` with a handle inside the namespace at `path`; `undefined` when it is gone. */
function inside<T>(path: string, f: (rt: Rtnl) => T): T | undefined {
  if (!exists(path)) return undefined;
  let ns: NetNs;
  try {
    ns = NetNs.open(path);
  } catch {
    return undefined; // removed meanwhile
  }
  try {
    const rt = Rtnl.open({ netns: ns });
    try {
      return f(rt);
    } finally {
      rt.close();
    }
  } finally {
    ns.close();
  }
}

/** Removes an endpoint's links: the seed-path link on the host, and the one inside its namespace. */
function removeEndpoint(ctx: DriverContext, record: NetworkRecord, ep: EndpointRecord): void {
  const cfg = config(record);
  if (ep.namespace !== undefined && exists(ep.namespace)) {
    inside(ep.namespace, (rt) => {
      const l = findInside(rt, ctx, record, ep);
      if (l) attempt(() => rt.link.del(l.index));
    });
  } else if (ep.namespace !== undefined) {
    // Its file is gone, but a process or an open fd may keep the namespace, and the link with
    // the endpoint's LAN address, alive: remove the link there before the address is freed.
    const zombie = findZombie(record, ep);
    if (zombie) inside(zombie.path, (rt) => attempt(() => rt.link.del(zombie.index)));
  } else for (const name of ep.hostLinks) attempt(() => ctx.host.link.del(name));
  const shim = cfg.hostAccess?.name;
  const iface = ep.interfaces[0];
  if (shim && iface) {
    for (const a of [iface.address, iface.addressIPv6]) {
      if (!a) continue;
      const dst = `${a.split("/")[0]}/${a.includes(":") ? 128 : 32}`;
      try {
        ctx.host.route.del({ dst, dev: shim });
      } catch (e) {
        if (!(e instanceof NetlinkError && (e.code === "ESRCH" || e.code === "ENODEV"))) throw e;
      }
    }
  }
}

/** Shim indexes by name in the host namespace, remembered between links of this process. */
const shimIndexes = new Map<string, number>();

/**
 * Adds the routes to a container's addresses through the shim, in one round trip; the shim's
 * index is remembered, and looked up again when it fails (the shim was made again).
 */
function addShimRoutes(ctx: DriverContext, name: string, dsts: string[]): void {
  for (let i = 0;; i++) {
    const cached = i === 0 ? shimIndexes.get(name) : undefined;
    const dev = cached ?? ctx.host.link.index(name);
    shimIndexes.set(name, dev);
    const failed = ctx.host.batch((b) => {
      for (const dst of dsts) b.route.add({ dst, dev, replace: true });
    }).find((err) => err !== undefined);
    if (!failed) return;
    shimIndexes.delete(name);
    if (cached === undefined || failed.code !== "ENODEV") throw failed;
  }
}

function makeDriver(kind: LanKind): Driver {
  const Kind = kind;
  const modes = kind === "macvlan" ? MACVLAN_MODES : IPVLAN_MODES;
  const driver: Driver = {
    type: kind,
    aliases: [],

    configure(ctx: DriverContext, name: string, _id: string, options: Record<string, unknown>) {
      for (const key of Object.keys(options)) {
        if (!KNOWN.includes(key)) {
          throw new TypeError(
            `Unknown ${kind} option "${key}": known options are ${KNOWN.join(", ")}`,
          );
        }
      }
      const other = kind === "macvlan" ? "ipvlan_mode" : "macvlan_mode";
      if (options[other] !== undefined) {
        throw new TypeError(
          `Option "${other}" is for ${other.split("_")[0]} networks, not ${kind}`,
        );
      }
      const mode = str(Kind, options, "mode") ?? str(Kind, options, `${kind}_mode`) ??
        modes[0];
      if (!modes.includes(mode)) {
        throw new TypeError(`Invalid ${kind} mode "${mode}": one of ${modes.join(", ")}`);
      }
      if (options.masquerade === true) {
        throw new TypeError(
          `A ${kind} network has no masquerade: its containers are on the LAN with their own addresses`,
        );
      }
      const internal = bool(Kind, options, "internal");
      const hostAccess = bool(Kind, options, "hostAccess");
      let parent = str(Kind, options, "parent");
      const prefix = str(Kind, options, "containerInterfacePrefix") ?? "eth";
      checkIfName(`${prefix}999`, "container interface prefix");
      const subnet = str(Kind, options, "subnet");
      const subnetIPv6 = str(Kind, options, "subnetIPv6");
      const gateway = str(Kind, options, "gateway");
      const gatewayIPv6 = str(Kind, options, "gatewayIPv6");
      const ipRange = str(Kind, options, "ipRange");
      if (subnet === undefined && subnetIPv6 === undefined) {
        throw new TypeError(`A ${kind} network needs "subnet" or "subnetIPv6": the LAN's`);
      }
      if (gateway !== undefined && subnet === undefined) {
        throw new TypeError(`${kind} option "gateway" ("${gateway}") needs "subnet"`);
      }
      if (gatewayIPv6 !== undefined && subnetIPv6 === undefined) {
        throw new TypeError(`${kind} option "gatewayIPv6" ("${gatewayIPv6}") needs "subnetIPv6"`);
      }
      if (subnet !== undefined && parseCidr(subnet).family !== 4) {
        throw new TypeError(`${kind} option "subnet" must be IPv4, got "${subnet}"`);
      }
      if (subnetIPv6 !== undefined && parseCidr(subnetIPv6).family !== 6) {
        throw new TypeError(`${kind} option "subnetIPv6" must be IPv6, got "${subnetIPv6}"`);
      }
      for (const [cidr, what] of [[subnet, "subnet"], [subnetIPv6, "subnetIPv6"]] as const) {
        if (cidr === undefined) continue;
        for (const t of ctx.takenSubnets) {
          if (overlaps(parseCidr(cidr), parseCidr(t))) {
            throw new RangeError(
              `Subnet "${cidr}" (${what}) overlaps "${t}" of another nslink network`,
            );
          }
        }
      }
      const v4 = subnet !== undefined ? createPool(subnet, gateway) : undefined;
      const v6 = subnetIPv6 !== undefined ? createPool(subnetIPv6, gatewayIPv6) : undefined;
      if (ipRange !== undefined) {
        const r = parseCidr(ipRange);
        const s = v4 && parseCidr(v4.subnet);
        if (!s || r.family !== 4 || r.prefixLength < s.prefixLength || !overlaps(r, s)) {
          throw new RangeError(`${kind} option "ipRange" ("${ipRange}") must lie inside "subnet"`);
        }
      }
      let madeParent: LanConfig["madeParent"];
      let mtu = 1500;
      if (internal) {
        if (parent !== undefined) {
          throw new TypeError(`An internal ${kind} network uses no parent, got "${parent}"`);
        }
        if (hostAccess) {
          throw new TypeError(`An internal ${kind} network has no host access`);
        }
        parent = `nslv${shortHash(`${name}/${_id}`)}`;
        madeParent = { kind: "bridge" };
      } else {
        if (parent === undefined) {
          throw new TypeError(
            `A ${kind} network needs "parent": the host interface its containers attach to`,
          );
        }
        checkIfName(parent, "parent");
        let link = ctx.host.link.find(parent);
        const dotted = /^(.+)\.(\d{1,4})$/.exec(parent);
        if (!link && dotted) {
          const id = Number(dotted[2]);
          if (id < 1 || id > 4094) {
            throw new RangeError(`Parent "${parent}": VLAN id ${id} is not 1-4094`);
          }
          if (!kernelHas("vlan")) {
            throw new Error(`Parent "${parent}": ${kernelLacks("vlan")}`);
          }
          link = ctx.host.link.find(dotted[1]);
          if (!link) {
            throw new TypeError(
              `Parent "${parent}": its base interface "${dotted[1]}" does not exist on the host`,
            );
          }
          madeParent = { kind: "vlan", base: dotted[1], id };
        }
        if (!link) throw new TypeError(`Parent "${parent}" does not exist on the host`);
        const which = madeParent
          ? `"${(madeParent as { base: string }).base}" (of "${parent}")`
          : `"${parent}"`;
        if (!link.up) throw new TypeError(`Parent ${which} is down: bring it up first`);
        if (link.master !== undefined) {
          const master = ctx.host.link.list().find((l) => l.index === link!.master);
          if (master?.kind === "bridge" && !madeParent) {
            throw new TypeError(
              `Parent "${parent}" is a port of bridge "${master.name}": use the bridge, or take it off`,
            );
          }
        }
        if (!madeParent) {
          const children = ctx.host.link.list().filter((l) =>
            l.parent === link!.index && (l.kind === "macvlan" || l.kind === "ipvlan") &&
            l.kind !== kind
          );
          if (children.length) {
            throw new TypeError(
              `Parent "${parent}" has ${children[0].kind} links (${
                children.map((l) => l.name).join(", ")
              }): ${kind} networks cannot share it`,
            );
          }
        }
        mtu = link.mtu ?? 1500;
        for (const o of ctx.otherConfigs) {
          if (o.parent !== parent || typeof o.kind !== "string") continue;
          if (o.madeParent !== undefined) {
            // Its network removes it on delete: it cannot be shared.
            throw new TypeError(
              `Parent "${parent}" was made by another nslink network (and goes with it)`,
            );
          }
          if (o.kind !== kind || o.mode !== mode) {
            throw new TypeError(
              `Parent "${parent}" is used by another nslink network as ${o.kind} mode ${o.mode}: ` +
                `a ${kind} network in mode ${mode} conflicts with it`,
            );
          }
        }
      }
      let access: LanConfig["hostAccess"];
      if (hostAccess) {
        if (kind === "macvlan" && mode !== "bridge") {
          throw new TypeError(
            `hostAccess needs macvlan mode bridge (mode ${mode} keeps the host's shim from the containers)`,
          );
        }
        const a4 = str(Kind, options, "hostAccessAddress") ?? (v4 ? lastAddress(v4) : undefined);
        const a6 = str(Kind, options, "hostAccessAddressIPv6") ??
          (v6 ? lastAddress(v6) : undefined);
        for (
          const [a, pool, key] of [[a4, v4, "hostAccessAddress"], [
            a6,
            v6,
            "hostAccessAddressIPv6",
          ]] as const
        ) {
          if (a === undefined) continue;
          if (!pool) throw new TypeError(`${kind} option "${key}" needs a subnet of its family`);
          allocate(structuredClone(pool), "host", a); // inside the subnet, not the gateway
        }
        access = {
          name: `nslm${shortHash(`${_id}/host`)}`,
          ...(a4 !== undefined ? { address: a4 } : {}),
          ...(a6 !== undefined ? { addressIPv6: a6 } : {}),
        };
      } else if (
        options.hostAccessAddress !== undefined || options.hostAccessAddressIPv6 !== undefined
      ) {
        throw new TypeError(`"hostAccessAddress" needs "hostAccess: true"`);
      }
      // Last, so that a parent's problems are named first on any kernel.
      if (!kernelHas(kind)) throw new Error(kernelLacks(kind));
      const cfg: LanConfig = {
        kind,
        parent,
        mode,
        internal,
        ...(madeParent ? { madeParent } : {}),
        ...(ipRange !== undefined ? { ipRange: formatCidrOf(ipRange) } : {}),
        ...(access ? { hostAccess: access } : {}),
        mtu,
        containerInterfacePrefix: prefix,
      };
      const pools: { v4?: Pool; v6?: Pool } = {};
      if (v4) pools.v4 = v4;
      if (v6) pools.v6 = v6;
      return { config: cfg as unknown as Record<string, unknown>, pools };
    },

    pools(record: NetworkRecord): { v4?: Pool; v6?: Pool } {
      // `ipRange`: automatic IPv4 addresses only from the range (static ones anywhere).
      const { ipRange } = config(record);
      const v4 = record.pools.v4;
      return ipRange && v4 ? { v4: setPoolRange(structuredClone(v4), ipRange) } : {};
    },

    excluded(record: NetworkRecord): string[] {
      // The host's shim addresses (`hostAccess`) are never a container's.
      const shim = config(record).hostAccess;
      return [shim?.address, shim?.addressIPv6].filter((a): a is string => a !== undefined);
    },

    create(ctx: DriverContext, record: NetworkRecord): void {
      const cfg = config(record);
      const rt = ctx.host;
      try {
        if (cfg.madeParent?.kind === "bridge") {
          rt.link.add({ kind: "bridge", name: cfg.parent, up: true });
          rt.link.set(cfg.parent, { alias: linkAlias(record.id) });
        } else if (cfg.madeParent?.kind === "vlan") {
          try {
            rt.link.add({
              kind: "vlan",
              name: cfg.parent,
              parent: cfg.madeParent.base,
              id: cfg.madeParent.id,
              up: true,
            });
          } catch (e) {
            throw kernelError(e, "vlan");
          }
          rt.link.set(cfg.parent, { alias: linkAlias(record.id) });
        }
        const shim = cfg.hostAccess;
        if (shim) {
          const spec = { name: shim.name, parent: cfg.parent, up: true };
          try {
            if (kind === "macvlan") {
              rt.link.add({ ...spec, kind: "macvlan", mode: cfg.mode as MacvlanMode });
            } else rt.link.add({ ...spec, kind: "ipvlan", mode: cfg.mode as IpvlanMode });
          } catch (e) {
            throw kernelError(e, kind);
          }
          rt.link.set(shim.name, { alias: linkAlias(record.id) });
          if (shim.address) rt.addr.add(shim.name, `${shim.address}/32`);
          if (shim.addressIPv6) rt.addr.add(shim.name, `${shim.addressIPv6}/128`, { nodad: true });
        }
      } catch (e) {
        try {
          driver.destroy(ctx, record);
        } catch { /* report the first error */ }
        throw e;
      }
    },

    destroy(ctx: DriverContext, record: NetworkRecord): void {
      const cfg = config(record);
      if (cfg.hostAccess) attempt(() => ctx.host.link.del(cfg.hostAccess!.name));
      if (cfg.madeParent) {
        // Only the parent this network made: the internal bridge's name is this network's own
        // (a hash of its name and id); a vlan sub-interface is ours when its alias says so.
        const l = ctx.host.link.find(cfg.parent);
        const own = cfg.madeParent.kind === "bridge"
          ? l?.kind === "bridge"
          : l?.alias === linkAlias(record.id);
        if (l && own) attempt(() => ctx.host.link.del(l.index));
      }
    },

    link(
      ctx: DriverContext,
      record: NetworkRecord,
      endpoint: string,
      options: EndpointOptions,
    ): EndpointRecord {
      const cfg = config(record);
      const { v4, v6 } = record.pools;
      const target = options.target;
      if (options.address !== undefined && !v4) {
        throw new TypeError(`Network has no IPv4 subnet for "${options.address}"`);
      }
      if (options.addressIPv6 !== undefined && !v6) {
        throw new TypeError(`Network has no IPv6 subnet for "${options.addressIPv6}"`);
      }
      const shim = cfg.hostAccess;
      for (
        const [a, s] of [[options.address, shim?.address], [options.addressIPv6, shim?.addressIPv6]]
      ) {
        if (a !== undefined && s !== undefined && a.split("/")[0] === s) {
          throw new RangeError(
            `Address "${a}" is the host's (hostAccess) on network "${record.name}"`,
          );
        }
      }
      // Through a Network, the addresses were reserved before this call, by the rules of
      // pools() and excluded(): they are only handed out. On its own, the pool object alone.
      const take = allocate;
      const pick = (pool: Pool, preferred: string | undefined, reservedFor?: string) => {
        if (ctx.allocate) return ctx.allocate(pool, endpoint, preferred);
        if (preferred !== undefined) return take(pool, endpoint, preferred);
        if (pool === v4 && cfg.ipRange) {
          // Only the range's addresses: the first free one, claimed like a static address.
          for (const a of addressesOf(cfg.ipRange)) {
            if (a === reservedFor || a === pool.gateway) continue;
            try {
              return take(pool, endpoint, a);
            } catch (e) {
              if (e instanceof TypeError) throw e;
            }
          }
          throw new IpamExhaustedError(cfg.ipRange);
        }
        const got = take(pool, endpoint);
        // The lowest free address is the host's: every other one is taken.
        if (got.split("/")[0] === reservedFor) throw new IpamExhaustedError(pool.subnet);
        return got;
      };
      const address = v4 ? pick(v4, options.address, shim?.address) : "";
      const addressIPv6 = v6 ? pick(v6, options.addressIPv6, shim?.addressIPv6) : "";
      const srcName = srcNameOf(record, endpoint);
      const mac = macOf(srcName);
      const macAddress = kind === "macvlan" ? mac : "";
      const dstName = options.dstName !== undefined
        ? checkIfName(options.dstName, "dstName")
        : target
        ? freeName(cfg.containerInterfacePrefix, target.nameInUse)
        : `${cfg.containerInterfacePrefix}0`;
      const spec = {
        name: target ? dstName : srcName,
        parent: cfg.parent,
        ...(macAddress ? { mac: macAddress } : {}),
        ...(target ? { netns: target.netns } : {}),
      };
      const add = () => {
        try {
          if (kind === "macvlan") {
            return ctx.host.link.add({ ...spec, kind: "macvlan", mode: cfg.mode as MacvlanMode }, {
              echo: true,
            });
          }
          return ctx.host.link.add({ ...spec, kind: "ipvlan", mode: cfg.mode as IpvlanMode }, {
            echo: true,
          });
        } catch (e) {
          throw kernelError(e, kind);
        }
      };
      let made;
      try {
        made = add();
      } catch (e) {
        if (!(e instanceof NetlinkError && e.code === "EEXIST")) throw e;
        // This endpoint's own leftover (a process died before its record said so): remove it.
        const where = target ? target.rtnl : ctx.host;
        const there = where.link.find(spec.name);
        const own = there &&
          (kind === "macvlan" ? there.mac === mac : there.kind === "ipvlan" && !target);
        if (!own) throw e;
        where.link.del(there.index);
        made = add();
      }
      if (target && made?.name === dstName) target.created?.(dstName, made.index);
      const ep: EndpointRecord = {
        interfaces: [],
        hostLinks: [srcName],
      };
      if (target) ep.namespace = target.netns.path;
      try {
        if (shim) {
          // The host reaches each container through its shim: a route per address.
          const dsts: string[] = [];
          if (address && shim.address) dsts.push(`${address.split("/")[0]}/32`);
          if (addressIPv6 && shim.addressIPv6) dsts.push(`${addressIPv6.split("/")[0]}/128`);
          addShimRoutes(ctx, shim.name, dsts);
        }
        if (kind === "ipvlan" && cfg.mode.startsWith("l3") && target) {
          // No router to name in l3 modes (the parent routes, nothing answers ARP): the default
          // route goes through the device, as Docker's `default dev eth0`. A device route needs
          // the link up; the namespace brings it up first anyway. EEXIST: another network
          // already gave this namespace its default route; keep it.
          const rt = target.rtnl;
          rt.link.set(dstName, { up: true });
          for (const family of [address ? 4 : 0, addressIPv6 ? 6 : 0] as const) {
            if (family === 0) continue;
            try {
              rt.route.add({ dev: dstName, family });
            } catch (e) {
              if (!(e instanceof NetlinkError && e.code === "EEXIST")) throw e;
            }
          }
        }
      } catch (e) {
        try {
          removeEndpoint(ctx, record, ep);
        } catch { /* report the first error */ }
        throw e;
      }
      const iface: Interface = {
        srcName,
        dstName,
        macAddress,
        address,
        addressIPv6,
        // The LAN's router; none on an isolated segment, nor in ipvlan l3 modes (no ARP there).
        gateway: cfg.internal || cfg.mode.startsWith("l3") ? "" : v4?.gateway ?? "",
        gatewayIPv6: cfg.internal || cfg.mode.startsWith("l3") ? "" : v6?.gateway ?? "",
        mtu: 0,
      };
      ep.interfaces = [iface];
      return ep;
    },

    hostLinks(record: NetworkRecord, endpoint: string): string[] {
      return [srcNameOf(record, endpoint)];
    },

    unlink(ctx: DriverContext, record: NetworkRecord, endpoint: EndpointRecord): boolean {
      // A namespace that is gone took the link with it (it was never on the host).
      removeEndpoint(ctx, record, endpoint);
      return true;
    },

    abandon(ctx: DriverContext, record: NetworkRecord, endpoint: EndpointRecord): void {
      removeEndpoint(ctx, record, endpoint);
    },

    liveEndpoint(ctx: DriverContext, record: NetworkRecord, ep: EndpointRecord): boolean {
      if (ep.namespace === undefined) {
        return ep.hostLinks.some((n) => ctx.host.link.find(n) !== undefined);
      }
      if (!exists(ep.namespace)) return findZombie(record, ep) !== undefined;
      return inside(ep.namespace, (rt) => findInside(rt, ctx, record, ep) !== undefined) ?? false;
    },
  };
  return driver;
}

function formatCidrOf(cidr: string): string {
  return formatCidr(networkOf(parseCidr(cidr)));
}

/** The macvlan driver: a macvlan link per container, with its own MAC, on the parent. */
export const macvlanDriver: Driver = makeDriver("macvlan");

/** The ipvlan driver: an ipvlan link per container, sharing the parent's MAC. */
export const ipvlanDriver: Driver = makeDriver("ipvlan");
