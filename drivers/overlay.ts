/**
 * The `overlay` driver's kernel part, beside `bridge`: on each host of an overlay network, one
 * Linux bridge `nslov<VNI>` (a FIXED MAC, the gateway's, as bridge networks have, and the
 * gateway addresses) and one VXLAN device `nslvx<VNI>` on it (learning off, ARP/NDP proxy on,
 * UDP 4789 from this host's underlay address `advertise`, IPv4 or IPv6); containers get a veth
 * pair on the bridge exactly as on a bridge network; other hosts' containers are reached through
 * FDB (MAC → remote tunnel endpoint) and permanent neighbour (IP → MAC) entries on the VXLAN
 * device.
 *
 * What only a distributed driver needs is the small {@linkcode DistributedDriver} extension of
 * the {@linkcode Driver} contract: the tunnel device and the kernel operations that make a
 * remote endpoint reachable (or not). Keeping the shared records, the claims and the host's
 * liveness is the store's and the network's job, not the driver's.
 *
 * @module
 */
import { exists } from "../ffi/libc.ts";
import { NetlinkError } from "../netlink/errors.ts";
import { formatIP, parseCidr, parseIP } from "../net/ip.ts";
import { checkIP } from "../net/validate.ts";
import type { Pool } from "../model/ipam.ts";
import { createPool } from "../model/ipam.ts";
import { vxlanOverhead } from "../rtnl/link.ts";
import type { Rtnl, RtnlBatch } from "../rtnl/handle.ts";
import { bridgeDriver, linkLocalOf, macOf } from "./bridge.ts";
import type {
  Driver,
  DriverContext,
  EndpointOptions,
  EndpointRecord,
  NetworkRecord,
} from "./driver.ts";

/** The overlay driver's configuration on one host, as kept in the network's record. */
export interface OverlayDriverConfig {
  /** The VXLAN network identifier (cluster-wide). */
  vni: number;
  /** The bridge's name, `nslov<VNI>`. */
  bridgeName: string;
  /** The VXLAN device's name, `nslvx<VNI>`. */
  vxlanName: string;
  /** This host's underlay address (its tunnel endpoint), canonical text, IPv4 or IPv6. */
  advertise: string;
  /** Container MTU: the one given at creation, else the underlay's MTU minus VXLAN's overhead. */
  mtu: number;
  /** Container-side names are this prefix plus a number. */
  containerInterfacePrefix: string;
}

/** A remote endpoint, as the kernel needs it: its host, MAC and addresses. */
export interface RemoteEndpoint {
  /** The remote host's underlay address (its tunnel endpoint). */
  host: string;
  /** The container's MAC. */
  mac: string;
  /** IPv4 address with prefix, or empty. */
  address: string;
  /** IPv6 address with prefix, or empty. */
  addressIPv6: string;
}

/**
 * What a driver of networks that span hosts adds to {@linkcode Driver}: the device remote
 * endpoints are reached through, and the kernel operations installing or removing one.
 */
export interface DistributedDriver extends Driver {
  /** Always `true`: tells a distributed driver from others (see {@linkcode isDistributed}). */
  readonly distributed: true;
  /** The device carrying other hosts' traffic (the VXLAN device). */
  tunnelDevice(record: NetworkRecord): string;
  /**
   * The operations, for one rtnetlink batch, that make a remote endpoint reachable through the
   * tunnel device of index `dev` (`add`), or that remove that again.
   */
  remoteOps(dev: number, remote: RemoteEndpoint, add: boolean): ((b: RtnlBatch) => void)[];
}

/**
 * Whether a driver is a {@linkcode DistributedDriver}.
 *
 * @example
 * ```ts
 * import { isDistributed, overlayDriver } from "./overlay.ts";
 * isDistributed(overlayDriver); // true
 * ```
 * @param d The driver.
 * @returns Whether it spans hosts.
 */
export function isDistributed(d: Driver): d is DistributedDriver {
  return (d as Partial<DistributedDriver>).distributed === true;
}

/**
 * The device names of an overlay network on a host.
 *
 * @example
 * ```ts
 * import { overlayDevices } from "./overlay.ts";
 * overlayDevices(4096); // { bridge: "nslov4096", vxlan: "nslvx4096" }
 * ```
 * @param vni The VNI.
 * @returns The bridge's and the VXLAN device's names.
 */
export function overlayDevices(vni: number): { bridge: string; vxlan: string } {
  return { bridge: `nslov${vni}`, vxlan: `nslvx${vni}` };
}

/**
 * A host's underlay address, checked (IPv4 or IPv6) and in canonical text: kernel dumps come
 * back canonical, so comparisons with them only match canonical text.
 *
 * @example
 * ```ts
 * import { canonicalAdvertise } from "./overlay.ts";
 * canonicalAdvertise("2001:DB8:10:0::11"); // "2001:db8:10::11"
 * ```
 * @param advertise The address as given.
 * @returns The canonical text.
 */
export function canonicalAdvertise(advertise: string): string {
  checkIP(advertise);
  return formatIP(parseIP(advertise)!);
}

/**
 * The link holding a host's underlay address, and what an overlay on it can carry.
 *
 * @example
 * ```ts ignore
 * underlayOf(hostRtnl(), "2001:db8:10::11"); // { index: 2, mtu: 1500, family: 6, containerMtu: 1430 }
 * ```
 * @param rt A handle in the host namespace.
 * @param advertise The underlay address (canonical).
 * @returns The link's index and MTU, the address family, and the largest container MTU.
 */
export function underlayOf(
  rt: Rtnl,
  advertise: string,
): { index: number; mtu: number; family: 4 | 6; containerMtu: number } {
  const family = checkIP(advertise);
  const a = rt.addr.list({ family }).find((x) => x.address === advertise);
  if (!a) {
    throw new TypeError(`Overlay option "advertise": ${advertise} is not an address of this host`);
  }
  const mtu = rt.link.get(a.index).mtu;
  return { index: a.index, mtu, family, containerMtu: mtu - vxlanOverhead(family) };
}

function num(options: Record<string, unknown>, key: string): number {
  const v = options[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new TypeError(`Overlay driver option "${key}" must be an integer, got ${String(v)}`);
  }
  return v;
}

function text(options: Record<string, unknown>, key: string): string {
  const v = options[key];
  if (v === undefined || v === "") return "";
  if (typeof v !== "string") {
    throw new TypeError(`Overlay driver option "${key}" must be a string, got ${String(v)}`);
  }
  return v;
}

function config(record: NetworkRecord): OverlayDriverConfig {
  return record.config as unknown as OverlayDriverConfig;
}

function gone(e: unknown): boolean {
  return e instanceof NetlinkError &&
    (e.code === "ENODEV" || e.code === "ENOENT" || e.code === "EADDRNOTAVAIL");
}

/** The record the bridge driver's link/unlink read (its config keys). */
function asBridge(record: NetworkRecord): NetworkRecord {
  const c = config(record);
  return {
    ...record,
    config: {
      bridgeName: c.bridgeName,
      mtu: c.mtu,
      containerInterfacePrefix: c.containerInterfacePrefix ?? "eth",
    },
  };
}

/**
 * The `overlay` driver: {@linkcode DistributedDriver} over VXLAN. `configure` takes the shared
 * configuration (`vni`, `subnet`, `gateway`, `subnetIPv6`, `gatewayIPv6`, `mtu`, 0 for the
 * underlay's) and this host's `advertise`; `create` makes (or adopts, when another process of
 * this host made them) the bridge and VXLAN device; `link`/`unlink` are the bridge driver's.
 *
 * @example
 * ```ts ignore
 * const { config, pools } = overlayDriver.configure(ctx, "ov1", id, {
 *   vni: 4096, subnet: "203.0.113.0/24", advertise: "2001:db8:10::11", mtu: 0,
 * });
 * ```
 */
export const overlayDriver: DistributedDriver = {
  type: "overlay",
  aliases: [],
  distributed: true,

  configure(ctx: DriverContext, _name: string, _id: string, options: Record<string, unknown>) {
    const vni = num(options, "vni");
    const advertise = canonicalAdvertise(text(options, "advertise"));
    const subnet = text(options, "subnet");
    const subnetIPv6 = text(options, "subnetIPv6");
    const pools: { v4?: Pool; v6?: Pool } = {};
    if (subnet) pools.v4 = createPool(subnet, text(options, "gateway") || undefined);
    if (subnetIPv6) pools.v6 = createPool(subnetIPv6, text(options, "gatewayIPv6") || undefined);
    const given = options.mtu === undefined ? 0 : num(options, "mtu");
    const mtu = given || underlayOf(ctx.host, advertise).containerMtu;
    const { bridge, vxlan } = overlayDevices(vni);
    const cfg: OverlayDriverConfig = {
      vni,
      bridgeName: bridge,
      vxlanName: vxlan,
      advertise,
      mtu,
      containerInterfacePrefix: "eth",
    };
    return { config: cfg as unknown as Record<string, unknown>, pools };
  },

  create(ctx: DriverContext, record: NetworkRecord): void {
    const { bridgeName, vxlanName, vni, advertise, mtu } = config(record);
    const rt = ctx.host;
    const made: string[] = [];
    try {
      if (!rt.link.find(bridgeName)) {
        const { v4, v6 } = record.pools;
        // Fixed MAC: a bridge without one would take its ports' lowest, changing as they come
        // and go (the VXLAN device's too), while containers keep the gateway's old MAC.
        const mac = macOf(v4?.gateway ?? "", v6?.gateway ?? "") || undefined;
        rt.link.add({ kind: "bridge", name: bridgeName, mtu, up: true, ...(mac ? { mac } : {}) });
        made.push(bridgeName);
        if (v6 && mac) rt.addr.add(bridgeName, `${linkLocalOf(mac)}/64`, { nodad: true });
        if (v4) rt.addr.add(bridgeName, `${v4.gateway}/${parseCidr(v4.subnet).prefixLength}`);
        if (v6) {
          rt.addr.add(bridgeName, `${v6.gateway}/${parseCidr(v6.subnet).prefixLength}`, {
            nodad: true,
          });
        }
      }
      if (!rt.link.find(vxlanName)) {
        // An IPv6 `local` goes out as IFLA_VXLAN_LOCAL6 (VXLAN over an IPv6 underlay).
        rt.link.add({
          kind: "vxlan",
          name: vxlanName,
          vni,
          port: 4789,
          local: advertise,
          learning: false,
          proxy: true,
          mtu,
        });
        made.push(vxlanName);
        rt.link.set(vxlanName, { master: bridgeName, up: true });
      }
    } catch (e) {
      for (const name of made.reverse()) {
        try {
          rt.link.del(name);
        } catch { /* report the first error */ }
      }
      throw e;
    }
  },

  destroy(ctx: DriverContext, record: NetworkRecord): void {
    const { bridgeName, vxlanName } = config(record);
    for (const dev of [vxlanName, bridgeName]) {
      try {
        ctx.host.link.del(dev);
      } catch (e) {
        if (!gone(e)) throw e;
      }
    }
  },

  link(
    ctx: DriverContext,
    record: NetworkRecord,
    endpoint: string,
    options: EndpointOptions,
  ): EndpointRecord {
    return bridgeDriver.link(ctx, asBridge(record), endpoint, options);
  },

  hostLinks(record: NetworkRecord, endpoint: string): string[] {
    return bridgeDriver.hostLinks!(asBridge(record), endpoint);
  },

  hairpin(ctx: DriverContext, record: NetworkRecord, endpoint: string, ep: EndpointRecord): void {
    bridgeDriver.hairpin!(ctx, asBridge(record), endpoint, ep);
  },

  unlink(ctx: DriverContext, record: NetworkRecord, endpoint: EndpointRecord): boolean {
    if (endpoint.namespace !== undefined && !exists(endpoint.namespace)) return false;
    return bridgeDriver.unlink(ctx, asBridge(record), endpoint);
  },

  tunnelDevice(record: NetworkRecord): string {
    return config(record).vxlanName;
  },

  remoteOps(dev: number, r: RemoteEndpoint, add: boolean): ((b: RtnlBatch) => void)[] {
    const ops: ((b: RtnlBatch) => void)[] = [];
    const bare = (cidr: string) => cidr.split("/")[0];
    if (add) {
      ops.push((b) => b.fdb.replace({ dev, lladdr: r.mac, dst: r.host }));
      if (r.address) {
        ops.push((b) => b.neigh.replace({ dev, address: bare(r.address), lladdr: r.mac }));
      }
      if (r.addressIPv6) {
        ops.push((b) => b.neigh.replace({ dev, address: bare(r.addressIPv6), lladdr: r.mac }));
      }
    } else {
      ops.push((b) => b.fdb.del({ dev, lladdr: r.mac, dst: r.host }));
      if (r.address) ops.push((b) => b.neigh.del({ dev, address: bare(r.address) }));
      if (r.addressIPv6) ops.push((b) => b.neigh.del({ dev, address: bare(r.addressIPv6) }));
    }
    return ops;
  },
};
