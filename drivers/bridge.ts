/**
 * The bridge driver (also `simplebridge`, the original libnetwork driver's name): a Linux bridge
 * holding the gateway addresses, and one veth pair per container with the host end on the bridge.
 *
 * Options (all optional):
 * - `bridgeName`: default `nsl-NAME` (or `nsl-` + a hash when that is over 15 bytes)
 * - `subnet`, `gateway`: IPv4; with no subnet a free /24 is picked from `pool`
 * - `enableIPv4`: `false` for a network without IPv4 (Docker's `--ipv4=false`; needs
 *   `subnetIPv6`)
 * - `subnetIPv6`, `gatewayIPv6`: IPv6, off unless a subnet is given or `enableIPv6` is `true`
 * - `enableIPv6`: `true` without `subnetIPv6` picks a free /64 (`poolSizeIPv6`) from
 *   `poolIPv6` (a list of CIDRs; there is no built-in IPv6 pool: give your own ULA or global
 *   prefix), as Docker 27 and Podman pick one
 * - `ipRange`, `ipRangeIPv6`: automatic addresses only from this part of the subnet, a CIDR
 *   (Docker's `--ip-range`) or `START-END` (CNI host-local's `rangeStart`/`rangeEnd`)
 * - `mtu`: default 1500
 * - `containerInterfacePrefix`: the container-side name prefix, default `eth` (`eth0`, `eth1`, …)
 * - `pool`: candidate CIDRs for an automatic subnet, default `10.89.0.0/16`; `poolSize`: 24
 * - `masquerade` (default `true`): containers reach the outside through the host's addresses
 * - `internal` (default `false`): no traffic beyond the bridge, no published ports
 * - `icc` (default `true`): containers of the network may talk to each other
 * - `ipForward` (default `true`): turn on IPv4 (and, with an IPv6 subnet, IPv6) forwarding in
 *   the host namespace, as a network that reaches the outside needs; `false` leaves it alone
 *
 * A bridge that already exists (made by hand, say) is adopted as Docker does: the network uses
 * it, adds the gateway addresses it lacks, and on delete removes only what it added.
 *
 * The bridge's MAC is fixed, so that the gateway's MAC never changes under the containers (a
 * Linux bridge without an address of its own takes the lowest MAC among its ports, changing as
 * they come and go): a bridge nslink makes gets `02:42` and its IPv4 gateway (Docker's scheme,
 * the last four bytes of the IPv6 gateway without IPv4); an adopted bridge keeps the MAC it has,
 * set explicitly once so that it stops following its ports (the value does not change, and it
 * stays so after delete). With IPv6, a bridge nslink makes gets its link-local address (the one
 * the kernel would derive) without duplicate address detection, so forwarding to containers
 * works at once; an adopted bridge's addresses are left as they are.
 *
 * @module
 */
import { NetlinkError } from "../netlink/errors.ts";
import { firewallOptions } from "../firewall/firewall.ts";
import { checkIfName, checkMtu } from "../net/validate.ts";
import { exists } from "../ffi/libc.ts";
import { freeName, type Interface, macForIPv4 } from "../model/interface.ts";
import {
  allocate,
  createPool,
  DEFAULT_POOL,
  pickSubnet,
  type Pool,
  prefixLength,
  setPoolRange,
} from "../model/ipam.ts";
import { formatIP, overlaps, parseCidr, parseIP } from "../net/ip.ts";
import type {
  Driver,
  DriverContext,
  EndpointOptions,
  EndpointRecord,
  NetworkRecord,
} from "./driver.ts";

/**
 * Docker's MAC for an address: 02:42 and the IPv4 address; without one, 02:42 and the IPv6
 * address's last four bytes (unique in any subnet up to a /96). Containers get their address's,
 * the bridge its gateway's: never the same.
 *
 * @param address IPv4 address (any prefix ignored), or empty.
 * @param addressIPv6 IPv6 address (any prefix ignored), or empty.
 * @returns The MAC, or empty without either address.
 */
export function macOf(address: string, addressIPv6: string): string {
  if (address) return macForIPv4(address);
  if (addressIPv6) return macForIPv4(formatIP(parseIP(addressIPv6.split("/")[0])!.subarray(12)));
  return "";
}

/**
 * The IPv6 link-local address the kernel derives from a MAC (modified EUI-64, RFC 4291
 * appendix A).
 *
 * @param mac The MAC, `aa:bb:cc:dd:ee:ff`.
 * @returns The address, e.g. `fe80::42:c6ff:fe33:6401` for `02:42:c6:33:64:01`.
 */
export function linkLocalOf(mac: string): string {
  const m = mac.split(":").map((h) => parseInt(h, 16));
  const b = new Uint8Array(16);
  b.set([0xfe, 0x80]);
  b.set([m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]], 8);
  return formatIP(b);
}

/** The bridge driver's normalized configuration, as saved. */
export interface BridgeConfig {
  /** The Linux bridge's name. */
  bridgeName: string;
  /** MTU of the bridge and of both veth ends. */
  mtu: number;
  /** Container-side names are this prefix plus a number. */
  containerInterfacePrefix: string;
  /** The bridge existed before the network: it is used as it is, and left in place on delete. */
  adopted: boolean;
  /**
   * Gateway addresses this network adds to an adopted bridge (the ones it lacked), saved before
   * they are added; removed on delete.
   */
  addedAddresses: string[];
  /** Masquerade traffic leaving the host. */
  masquerade: boolean;
  /** No traffic beyond the bridge, no published ports. */
  internal: boolean;
  /** Containers may talk to each other. */
  icc: boolean;
  /** Turn on forwarding in the host namespace. */
  ipForward: boolean;
  /**
   * Containers' names are served on the gateway addresses, port 53, by nslink's host agent
   * (default `true`; networks saved before it existed have none).
   */
  dns?: boolean;
  /** The DNS upstreams for other names (`IP` or `IP#PORT`); empty: the host's resolv.conf. */
  dnsServers?: string[];
}

const KNOWN = [
  "bridgeName",
  "enableIPv4",
  "enableIPv6",
  "poolIPv6",
  "poolSizeIPv6",
  "ipRange",
  "ipRangeIPv6",
  "subnet",
  "gateway",
  "subnetIPv6",
  "gatewayIPv6",
  "mtu",
  "containerInterfacePrefix",
  "pool",
  "poolSize",
  "masquerade",
  "internal",
  "icc",
  "ipForward",
  "dns",
  "dnsServers",
];

/** Upstreams written `IP` or `IP#PORT` (dnsmasq's spelling), at most 3. */
function dnsServers(value: unknown): string[] {
  if (value === undefined) return [];
  const bad = () =>
    new TypeError(
      `Bridge option "dnsServers" must be a list of at most 3 addresses (IP or IP#PORT), got ${
        JSON.stringify(value)
      }`,
    );
  if (!Array.isArray(value) || value.length > 3) throw bad();
  return value.map((v) => {
    const m = typeof v === "string" ? /^(.+?)(?:#(\d{1,5}))?$/.exec(v) : null;
    if (!m || !parseIP(m[1]) || (m[2] !== undefined && (+m[2] < 1 || +m[2] > 65535))) throw bad();
    return v as string;
  });
}

function bool(options: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = options[key];
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") {
    throw new TypeError(`Bridge option "${key}" must be true or false, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * FNV-1a, 32 bits, as 8 hex digits: short stable names for host-side links.
 *
 * @example
 * ```ts
 * import { shortHash } from "./bridge.ts";
 * shortHash("blue/c1").length; // 8
 * ```
 * @param s The text.
 * @returns 8 hex digits.
 */
export function shortHash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

function str(options: Record<string, unknown>, key: string): string | undefined {
  const v = options[key];
  if (v === undefined || v === "") return undefined;
  if (typeof v !== "string") {
    throw new TypeError(`Bridge option "${key}" must be a string, got ${JSON.stringify(v)}`);
  }
  return v;
}

function gone(e: unknown): boolean {
  return e instanceof NetlinkError && (e.code === "ENODEV" || e.code === "EADDRNOTAVAIL");
}

/**
 * Removes what the network made: its bridge, or on an adopted bridge the addresses it added,
 * each on its own (one already removed by hand must not keep the others). Gone is fine.
 */
function removeOwn(ctx: DriverContext, cfg: BridgeConfig): void {
  const attempt = (f: () => void) => {
    try {
      f();
    } catch (e) {
      if (!gone(e)) throw e;
    }
  };
  if (!cfg.adopted) return attempt(() => ctx.host.link.del(cfg.bridgeName));
  for (const cidr of cfg.addedAddresses) attempt(() => ctx.host.addr.del(cfg.bridgeName, cidr));
}

/**
 * The interface alias that ties a kernel object to its network and endpoint:
 * `nslink:NETWORK_ID` for a bridge, `nslink:NETWORK_ID:ENDPOINT` for an endpoint's links.
 * `gc()` finds nslink's objects by it (`ip link show` prints it as `alias …`).
 *
 * @example
 * ```ts
 * import { linkAlias } from "./bridge.ts";
 * linkAlias("0a1b2c3d4e5f", "c1"); // "nslink:0a1b2c3d4e5f:c1"
 * ```
 * @param networkId The network's id.
 * @param endpoint The endpoint's name, for an endpoint's links.
 * @returns The alias.
 */
export function linkAlias(networkId: string, endpoint?: string): string {
  return endpoint === undefined ? `nslink:${networkId}` : `nslink:${networkId}:${endpoint}`;
}

/**
 * Reads an alias made by {@linkcode linkAlias}.
 *
 * @example
 * ```ts
 * import { parseLinkAlias } from "./bridge.ts";
 * parseLinkAlias("nslink:0a1b2c3d4e5f:c1"); // { networkId: "0a1b2c3d4e5f", endpoint: "c1" }
 * parseLinkAlias("uplink"); // undefined
 * ```
 * @param alias The alias text.
 * @returns The network id and endpoint, or `undefined` when it is not nslink's.
 */
export function parseLinkAlias(
  alias: string | undefined,
): { networkId: string; endpoint?: string } | undefined {
  const m = /^nslink:([0-9a-f]{1,64})(?::([A-Za-z0-9][A-Za-z0-9_.-]{0,63}))?$/.exec(alias ?? "");
  if (!m) return undefined;
  return m[2] === undefined ? { networkId: m[1] } : { networkId: m[1], endpoint: m[2] };
}

function names(record: NetworkRecord, endpoint: string): { hostName: string; srcName: string } {
  const hostName = hostEndName(record.id, endpoint);
  return { hostName, srcName: `nslc${hostName.slice(4)}` };
}

/**
 * The name of the host end of an endpoint's veth pair on a bridge network (`nslh` and a hash of
 * the network's id and the endpoint's name): what its record's `hostLinks` says, known without
 * reading it.
 *
 * @example
 * ```ts
 * import { hostEndName } from "./bridge.ts";
 * hostEndName("3f4a5b6c7d8e", "web"); // "nslh" + 8 hex digits
 * ```
 * @param networkId The network's id.
 * @param endpoint The endpoint's name.
 * @returns The link's name.
 */
export function hostEndName(networkId: string, endpoint: string): string {
  return `nslh${shortHash(`${networkId}/${endpoint}`)}`;
}

function config(record: NetworkRecord): BridgeConfig {
  return record.config as unknown as BridgeConfig;
}

/** Bridge indexes by name in the host namespace, remembered between links of this process. */
const bridgeIndexes = new Map<string, number>();

/** The host end this process created last, with its MAC as the kernel echoed it. */
let lastHostEnd: { name: string; mac: string } | undefined;

/**
 * The MAC of a host end that the last bridge link of this process created, as the kernel
 * echoed it (for a CNI result: no lookup); `undefined` when the last link created another one,
 * or its kernel echoes nothing. Answered once.
 *
 * @example
 * ```ts
 * import { echoedHostEndMac } from "./bridge.ts";
 * echoedHostEndMac("nslh0123abcd"); // undefined: none created yet
 * ```
 * @param name The host end's name ({@linkcode hostEndName}).
 * @returns Its MAC, or `undefined`.
 */
export function echoedHostEndMac(name: string): string | undefined {
  if (lastHostEnd?.name !== name) return undefined;
  const { mac } = lastHostEnd;
  lastHostEnd = undefined;
  return mac;
}

/** The bridge driver. */
export const bridgeDriver: Driver = {
  type: "bridge",
  aliases: ["simplebridge"],

  configure(ctx: DriverContext, name: string, _id: string, options: Record<string, unknown>) {
    for (const key of Object.keys(options)) {
      if (!KNOWN.includes(key)) {
        throw new TypeError(
          `Unknown bridge option "${key}": known options are ${KNOWN.join(", ")}`,
        );
      }
    }
    const bridgeName = checkIfName(
      str(options, "bridgeName") ??
        (`nsl-${name}`.length <= 15 && !/[/:\s]/.test(name)
          ? `nsl-${name}`
          : `nsl-${shortHash(name)}`),
      "bridge name",
    );
    const mtu = options.mtu === undefined ? 1500 : checkMtu(options.mtu as number);
    const prefix = str(options, "containerInterfacePrefix") ?? "eth";
    checkIfName(`${prefix}999`, "container interface prefix");
    // Refuse what collides before anything is made.
    const subnet = str(options, "subnet");
    const subnetIPv6 = str(options, "subnetIPv6");
    const gateway = str(options, "gateway");
    const gatewayIPv6 = str(options, "gatewayIPv6");
    if (gateway !== undefined && subnet === undefined) {
      throw new TypeError(`Bridge option "gateway" ("${gateway}") needs "subnet"`);
    }
    if (gatewayIPv6 !== undefined && subnetIPv6 === undefined) {
      throw new TypeError(`Bridge option "gatewayIPv6" ("${gatewayIPv6}") needs "subnetIPv6"`);
    }
    if (subnet !== undefined && parseCidr(subnet).family !== 4) {
      throw new TypeError(`Bridge option "subnet" must be IPv4, got "${subnet}"`);
    }
    if (subnetIPv6 !== undefined && parseCidr(subnetIPv6).family !== 6) {
      throw new TypeError(`Bridge option "subnetIPv6" must be IPv6, got "${subnetIPv6}"`);
    }
    const checkFree = (cidr: string, what: string) => {
      const c = parseCidr(cidr);
      for (const t of ctx.takenSubnets) {
        if (overlaps(c, parseCidr(t))) {
          throw new RangeError(
            `Subnet "${cidr}" (${what}) overlaps "${t}" of another nslink network`,
          );
        }
      }
    };
    const enableIPv4 = options.enableIPv4 ?? true;
    if (typeof enableIPv4 !== "boolean") {
      throw new TypeError(
        `Bridge option "enableIPv4" must be a boolean, got ${JSON.stringify(enableIPv4)}`,
      );
    }
    if (!enableIPv4 && (subnet !== undefined || gateway !== undefined)) {
      throw new TypeError(`Bridge option "enableIPv4" is false: "subnet"/"gateway" make no sense`);
    }
    const enableIPv6 = options.enableIPv6 ?? subnetIPv6 !== undefined;
    if (typeof enableIPv6 !== "boolean") {
      throw new TypeError(
        `Bridge option "enableIPv6" must be a boolean, got ${JSON.stringify(enableIPv6)}`,
      );
    }
    if (!enableIPv6 && subnetIPv6 !== undefined) {
      throw new TypeError(`Bridge option "enableIPv6" is false: "subnetIPv6" makes no sense`);
    }
    if (!enableIPv4 && !enableIPv6) {
      throw new TypeError(
        `Bridge option "enableIPv4" is false: the network needs "subnetIPv6" or "enableIPv6"`,
      );
    }
    let v4: Pool | undefined;
    if (!enableIPv4) {
      v4 = undefined;
    } else if (subnet !== undefined) {
      checkFree(subnet, "subnet");
      v4 = createPool(subnet, gateway);
    } else {
      const pool = (options.pool as string[] | undefined) ?? DEFAULT_POOL;
      if (!Array.isArray(pool) || pool.some((p) => typeof p !== "string")) {
        throw new TypeError(
          `Bridge option "pool" must be a list of CIDRs, got ${JSON.stringify(options.pool)}`,
        );
      }
      const size = (options.poolSize as number | undefined) ?? 24;
      // Host addresses and routes, and other nslink networks, are all taken.
      const hostTaken = [
        ...ctx.host.addr.list().filter((a) => a.scope !== "host" && a.scope !== "link").map((a) =>
          a.cidr
        ),
        ...ctx.host.route.list().filter((r) => r.dst !== "default" && !r.dst.startsWith("fe80:"))
          .map((r) => r.dst),
      ];
      const picked = pickSubnet(pool, size, [...ctx.takenSubnets, ...hostTaken]);
      if (!picked) {
        throw new RangeError(`No free /${size} subnet left in the pool ${JSON.stringify(pool)}`);
      }
      v4 = createPool(picked);
    }
    let v6: Pool | undefined;
    if (subnetIPv6 !== undefined) {
      checkFree(subnetIPv6, "subnetIPv6");
      v6 = createPool(subnetIPv6, gatewayIPv6);
    } else if (enableIPv6) {
      const pool = options.poolIPv6 as string[] | undefined;
      if (
        !Array.isArray(pool) || pool.length === 0 || pool.some((p) => typeof p !== "string")
      ) {
        throw new TypeError(
          `Bridge option "enableIPv6" without "subnetIPv6" needs "poolIPv6", a list of IPv6 ` +
            `CIDRs to pick a /64 from, got ${JSON.stringify(options.poolIPv6)}`,
        );
      }
      for (const p of pool) {
        if (parseCidr(p).family !== 6) {
          throw new TypeError(`Bridge option "poolIPv6" must hold IPv6 CIDRs, got "${p}"`);
        }
      }
      const size = (options.poolSizeIPv6 as number | undefined) ?? 64;
      const hostTaken = [
        ...ctx.host.addr.list().filter((a) => a.scope !== "host" && a.scope !== "link").map((a) =>
          a.cidr
        ),
        ...ctx.host.route.list().filter((r) => r.dst !== "default" && !r.dst.startsWith("fe80:"))
          .map((r) => r.dst),
      ];
      const picked = pickSubnet(pool, size, [...ctx.takenSubnets, ...hostTaken]);
      if (!picked) {
        throw new RangeError(`No free /${size} subnet left in the pool ${JSON.stringify(pool)}`);
      }
      v6 = createPool(picked);
    }
    for (const [key, p] of [["ipRange", v4], ["ipRangeIPv6", v6]] as const) {
      const range = options[key];
      if (range === undefined) continue;
      if (!p) throw new TypeError(`Bridge option "${key}" needs a subnet of its family`);
      if (typeof range !== "string") {
        throw new TypeError(
          `Bridge option "${key}" must be a string, got ${JSON.stringify(range)}`,
        );
      }
      setPoolRange(p, range);
    }
    for (const other of ctx.otherConfigs) {
      if (other.bridgeName === bridgeName) {
        throw new TypeError(`Bridge "${bridgeName}" is already used by another nslink network`);
      }
    }
    const existing = ctx.host.link.find(bridgeName);
    if (existing && existing.kind !== "bridge") {
      throw new TypeError(
        `Bridge name "${bridgeName}" is taken by a ${
          existing.kind ?? "non-bridge"
        } link on the host`,
      );
    }
    // On an adopted bridge, the gateway addresses it lacks are the ones this network will add:
    // saved before they are added, so that an interrupted creation can be undone exactly.
    const planned: string[] = [];
    if (existing) {
      const present = new Set(ctx.host.addr.list({ dev: bridgeName }).map((a) => a.cidr));
      for (const pool of [v4, v6]) {
        if (!pool) continue;
        const cidr = `${pool.gateway}/${prefixLength(pool)}`;
        if (!present.has(cidr)) planned.push(cidr);
      }
    }
    const cfg: BridgeConfig = {
      bridgeName,
      mtu,
      containerInterfacePrefix: prefix,
      adopted: existing !== undefined,
      addedAddresses: planned,
      masquerade: bool(options, "masquerade", true),
      internal: bool(options, "internal", false),
      icc: bool(options, "icc", true),
      ipForward: bool(options, "ipForward", true),
      dns: bool(options, "dns", true),
      dnsServers: dnsServers(options.dnsServers),
    };
    const pools: { v4?: Pool; v6?: Pool } = {};
    if (v4) pools.v4 = v4;
    if (v6) pools.v6 = v6;
    return { config: cfg as unknown as Record<string, unknown>, pools };
  },

  create(ctx: DriverContext, record: NetworkRecord): void {
    const cfg = config(record);
    const { bridgeName, mtu } = cfg;
    const rt = ctx.host;
    // An adopted bridge goes back to how it was found when this fails.
    const found = cfg.adopted ? rt.link.get(bridgeName) : undefined;
    const wasUp = found?.up ?? false;
    // The bridge's MAC is fixed (IFLA_ADDRESS): a bridge without one takes the lowest MAC among
    // its ports, so it would change as containers join and leave while they keep the gateway's
    // old MAC. An adopted bridge is pinned at the MAC it has (the same value, set explicitly).
    const { v4, v6 } = record.pools;
    const mac = found ? undefined : macOf(v4?.gateway ?? "", v6?.gateway ?? "") || undefined;
    if (found) rt.link.set(bridgeName, { up: true, ...(found.mac ? { mac: found.mac } : {}) });
    else rt.link.add({ kind: "bridge", name: bridgeName, mtu, up: true, ...(mac ? { mac } : {}) });
    try {
      if (!cfg.adopted) rt.link.set(bridgeName, { alias: linkAlias(record.id) });
      // The bridge's IPv6 link-local address, usable at once (IFA_F_NODAD): the host resolves
      // a container's address on the bridge with a neighbour solicitation, which the kernel
      // sends only from a link-local address past duplicate address detection. The kernel's
      // own comes when the first port brings the carrier, tentative for 1–2 s (again whenever
      // the carrier comes back), and forwarded packets to containers were lost meanwhile. This
      // is the same address (EUI-64 of the bridge's MAC), so the kernel adds no second one.
      if (v6 && mac) rt.addr.add(bridgeName, `${linkLocalOf(mac)}/64`, { nodad: true });
      for (const [pool, nodad] of [[v4, false], [v6, true]] as const) {
        if (!pool) continue;
        const cidr = `${pool.gateway}/${prefixLength(pool)}`;
        // An adopted bridge gets only what configure() planned (what it lacked).
        if (cfg.adopted && !cfg.addedAddresses.includes(cidr)) continue;
        rt.addr.add(bridgeName, cidr, { nodad });
      }
    } catch (e) {
      try {
        removeOwn(ctx, cfg);
        if (cfg.adopted && !wasUp) rt.link.set(bridgeName, { up: false });
      } catch { /* report the first error */ }
      throw e;
    }
  },

  destroy(ctx: DriverContext, record: NetworkRecord): void {
    bridgeIndexes.delete(config(record).bridgeName);
    removeOwn(ctx, config(record));
  },

  link(
    ctx: DriverContext,
    record: NetworkRecord,
    endpoint: string,
    options: EndpointOptions,
  ): EndpointRecord {
    const { bridgeName, mtu, containerInterfacePrefix } = config(record);
    const { v4, v6 } = record.pools;
    const target = options.target;
    if (options.address !== undefined && !v4) {
      throw new TypeError(`Network has no IPv4 subnet for "${options.address}"`);
    }
    if (options.addressIPv6 !== undefined && !v6) {
      throw new TypeError(`Network has no IPv6 subnet for "${options.addressIPv6}"`);
    }
    const take = ctx.allocate ?? allocate;
    const address = v4 ? take(v4, endpoint, options.address) : "";
    const addressIPv6 = v6 ? take(v6, endpoint, options.addressIPv6) : "";
    const { hostName, srcName } = names(record, endpoint);
    const alias = linkAlias(record.id, endpoint);
    const macAddress = macOf(address, addressIPv6);
    let dstName = options.dstName !== undefined
      ? checkIfName(options.dstName, "dstName")
      : target
      ? freeName(containerInterfacePrefix, target.nameInUse)
      : `${containerInterfacePrefix}0`;
    const add = () => {
      const peer = target
        ? { name: dstName, mtu, ...(macAddress ? { mac: macAddress } : {}), netns: target.netns }
        : { name: srcName, mtu, ...(macAddress ? { mac: macAddress } : {}) };
      // The bridge's index, remembered between links (no lookup per container). A stale one
      // (the bridge was made again) fails the whole create, atomically: look it up and retry.
      const cached = bridgeIndexes.get(bridgeName);
      const master = cached ?? ctx.host.link.index(bridgeName);
      const spec = { kind: "veth", name: hostName, mtu, up: true, master, peer } as const;
      // On the fast path the kernel's echo of the new host end names the container end's
      // index (IFLA_LINK): addInterface then needs no lookup.
      // The echo also gives the host end's index, for the tagging request below.
      const echo = true;
      lastHostEnd = undefined;
      let made;
      try {
        made = ctx.host.link.add(spec, { echo });
        bridgeIndexes.set(bridgeName, master);
      } catch (e) {
        bridgeIndexes.delete(bridgeName);
        if (cached === undefined) throw e;
        const fresh = ctx.host.link.index(bridgeName);
        if (fresh === cached) throw e;
        made = ctx.host.link.add({ ...spec, master: fresh }, { echo });
        bridgeIndexes.set(bridgeName, fresh);
      }
      if (made?.name === hostName) {
        hostIndex = made.index;
        if (made.mac) lastHostEnd = { name: hostName, mac: made.mac };
        if (target && made.parent) target.created?.(dstName, made.parent);
      }
    };
    let hostIndex: number | undefined;
    try {
      add();
    } catch (e) {
      if (!(e instanceof NetlinkError && e.code === "EEXIST")) throw e;
      if (ctx.host.link.find(hostName)?.alias === alias) {
        // This endpoint's own leftover (a process died before its record said so): remove it.
        ctx.host.link.del(hostName);
      } else if (target && options.dstName === undefined && target.inKernel(dstName)) {
        // The name was taken behind nslink's back: pick again, asking the kernel this time.
        dstName = freeName(containerInterfacePrefix, target.inKernel);
      } else throw e;
      add();
    }
    // Hairpin mode (a container reaching its own published port through the host's address)
    // only for an endpoint that publishes ports (or asks for it), never on internal networks.
    const hairpin = options.hairpin === true && !firewallOptions(record).internal;
    // The fast path without it makes no request after the create (issue 21: it was the largest
    // single item of a link). Its host end then carries no alias: its name (a hash of the
    // network's id and the endpoint's name) is in the intent record written before it, which
    // is how an interrupted link is undone, and gc() tells an untagged `nslh…` port of a
    // network's bridge that no record names (see gc.ts).
    if (!target || hairpin) {
      try {
        // Tag both ends (the container end only while it is on the host) — gc() finds them by
        // it — and put the port in hairpin mode: the host end's in one request, all in one
        // round trip. (Not in the create's round trip: should the create fail with EEXIST, a
        // request naming the link would change a link that is not this one.)
        // Kernels before 6.3 do not echo a new link: look its index up.
        hostIndex ??= ctx.host.link.index(hostName);
        const index = hostIndex;
        const failed = ctx.host.batch((b) => {
          b.link.set(index, { alias, ...(hairpin ? { hairpin } : {}) });
          if (!target) b.link.set(srcName, { alias });
        }).find((err) => err !== undefined);
        if (failed) throw failed;
      } catch (e) {
        try {
          ctx.host.link.del(hostName);
        } catch { /* report the first error */ }
        throw e;
      }
    }
    const iface: Interface = {
      srcName,
      dstName,
      macAddress,
      address,
      addressIPv6,
      gateway: v4?.gateway ?? "",
      gatewayIPv6: v6?.gateway ?? "",
      mtu,
    };
    const ep: EndpointRecord = { interfaces: [iface], hostLinks: [hostName] };
    if (target) ep.namespace = target.netns.path;
    return ep;
  },

  hostLinks(record: NetworkRecord, endpoint: string): string[] {
    return [names(record, endpoint).hostName];
  },

  hairpin(ctx: DriverContext, record: NetworkRecord, endpoint: string, ep: EndpointRecord): void {
    if (firewallOptions(record).internal) return;
    const alias = linkAlias(record.id, endpoint);
    for (const name of ep.hostLinks) ctx.host.link.set(name, { alias, hairpin: true });
  },

  unlink(ctx: DriverContext, _record: NetworkRecord, endpoint: EndpointRecord): boolean {
    // When the container's namespace is gone, the kernel is already tearing its veth pairs
    // down in one batch: deleting them one by one would only wait ~20 ms each. But a namespace
    // file says nothing about the namespace itself (an open fd or a process keeps it, and its
    // veth, alive): the links are gone only when the kernel says so. Asking now would wait on
    // the kernel's teardown (it holds the RTNL lock while it removes a batch of namespaces), so
    // the answer is "not confirmed yet": the network checks later, many at once.
    if (endpoint.namespace !== undefined && !exists(endpoint.namespace)) return false;
    for (const name of endpoint.hostLinks) {
      try {
        ctx.host.link.del(name);
      } catch (e) {
        if (!gone(e)) throw e;
      }
    }
    return true;
  },
};
