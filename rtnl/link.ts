/**
 * Link operations (`ip link …`): list, get, add (veth, bridge, macvlan, ipvlan, vlan, vxlan),
 * delete and set, over one netlink socket.
 *
 * @module
 */
import { decode, encode } from "../netlink/codec.ts";
import {
  AF_PACKET,
  IF_OPER_DORMANT,
  IF_OPER_DOWN,
  IF_OPER_LOWERLAYERDOWN,
  IF_OPER_NOTPRESENT,
  IF_OPER_TESTING,
  IF_OPER_UNKNOWN,
  IF_OPER_UP,
  IFF_UP,
  IPVLAN_MODE_L2,
  IPVLAN_MODE_L3,
  IPVLAN_MODE_L3S,
  MACVLAN_MODE_BRIDGE,
  MACVLAN_MODE_PASSTHRU,
  MACVLAN_MODE_PRIVATE,
  MACVLAN_MODE_SOURCE,
  MACVLAN_MODE_VEPA,
  NLM_F_CREATE,
  NLM_F_ECHO,
  NLM_F_EXCL,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
} from "../netlink/constants.ts";
import { NetlinkDecodeError, NetlinkError } from "../netlink/errors.ts";
import type { NetlinkTransport } from "../netlink/socket.ts";
import { checkIfName, checkInt, checkMac, checkMtu } from "../net/validate.ts";
import { parseIP } from "../net/ip.ts";
import {
  BridgePortData,
  LinkMessage,
  type LinkMessageInput,
  LinkViewMessage,
  type LinkViewValue,
} from "./messages/link.ts";

/** A link by name (`"nsl0a"`) or by index (`7`). */
export type LinkRef = string | number;

/** Something that names a network namespace by an open fd (a `NetNs`, or `{ fd }`). */
export interface NetnsFd {
  /** An fd of the namespace (`/run/netns/NAME` or `/proc/PID/ns/net` opened). */
  readonly fd: number;
}

/** A link as the kernel reports it. */
export interface Link {
  /** Interface index. */
  index: number;
  /** Interface name. */
  name: string;
  /** Link kind (`veth`, `bridge`, …) when the link has one; `undefined` for physical and `lo`. */
  kind?: string;
  /** `IFF_*` flags. */
  flags: number;
  /** Administratively up (`IFF_UP`). */
  up: boolean;
  /** MTU. */
  mtu: number;
  /** Link-layer address, e.g. `02:42:c6:33:64:02`. */
  mac?: string;
  /** Index of the master (bridge) when enslaved. */
  master?: number;
  /** Operational state, as `ip link` prints it in lower case: `up`, `down`, `unknown`, … */
  operstate: string;
  /** `IFLA_LINK`: the parent (vlan, macvlan) or peer (veth) index, in the peer's namespace. */
  parent?: number;
  /** `IFLA_LINK_NETNSID`: the namespace id of the parent/peer when it is in another namespace. */
  linkNetnsid?: number;
  /** Transmit queue length. */
  txqlen?: number;
  /** Kind-specific data the kernel reported (`IFLA_INFO_DATA` decoded), e.g. `{ id: 10 }` for a vlan. */
  data?: Record<string, unknown>;
  /** The interface alias (`IFLA_IFALIAS`, `ip link set NAME alias TEXT`), when set. */
  alias?: string;
}

/** Properties every created link can set. */
export interface LinkCommon {
  /** Interface name, 1 to 15 bytes. */
  name: string;
  /** MTU, 68 to 65535. */
  mtu?: number;
  /** Link-layer address. */
  mac?: string;
  /** Bring it up at creation. */
  up?: boolean;
  /** Enslave it to this bridge at creation. */
  master?: LinkRef;
  /** Transmit queue length. */
  txqlen?: number;
  /**
   * Create it directly inside this namespace (`ip link add link PARENT name NAME netns NS type
   * macvlan`): the parent is resolved in the sender's namespace. For macvlan, ipvlan and vlan.
   */
  netns?: NetnsFd | number;
}

/** The other end of a veth pair. */
export interface VethPeer {
  /** Its name (in its namespace). */
  name: string;
  /** MTU; defaults to the kernel's (1500). */
  mtu?: number;
  /** Link-layer address. */
  mac?: string;
  /** Create it directly inside this namespace, which avoids a later move. */
  netns?: NetnsFd | number;
}

/** macvlan modes. */
export type MacvlanMode = "private" | "vepa" | "bridge" | "passthru" | "source";
/** ipvlan modes. */
export type IpvlanMode = "l2" | "l3" | "l3s";

/** What {@linkcode LinkOps.add} creates. */
export type LinkSpec =
  | LinkCommon & { kind: "veth"; peer: VethPeer }
  | LinkCommon & { kind: "bridge"; stp?: boolean; vlanFiltering?: boolean; ageingTime?: number }
  | LinkCommon & { kind: "macvlan"; parent: LinkRef; mode?: MacvlanMode }
  | LinkCommon & { kind: "ipvlan"; parent: LinkRef; mode?: IpvlanMode }
  | LinkCommon & { kind: "vlan"; parent: LinkRef; id: number; protocol?: "802.1Q" | "802.1ad" }
  | LinkCommon & VxlanOptions;

/**
 * A VXLAN device (`ip link add NAME type vxlan id VNI …`). The underlay is IPv4 or IPv6 as its
 * addresses are: `local` and `group` of one family, sent as `IFLA_VXLAN_LOCAL`/`IFLA_VXLAN_GROUP`
 * (IPv4) or `IFLA_VXLAN_LOCAL6`/`IFLA_VXLAN_GROUP6` (IPv6). A device of one family carries only
 * FDB entries whose `dst` is of that family (the kernel answers `EAFNOSUPPORT` otherwise).
 *
 * @example VXLAN over IPv6, as an overlay makes it
 * ```ts
 * import type { LinkSpec } from "./link.ts";
 * const spec: LinkSpec = { kind: "vxlan", name: "nslvx42", vni: 42, port: 4789,
 *   local: "2001:db8:10::11", learning: false, proxy: true };
 * ```
 */
export interface VxlanOptions {
  /** The kind. */
  kind: "vxlan";
  /** The VXLAN network identifier (`id`), 0 to 16777215. */
  vni: number;
  /** The remote UDP port (`dstport`); default 4789. */
  port?: number;
  /** This host's tunnel endpoint (`local`), IPv4 or IPv6: the source of encapsulated packets. */
  local?: string;
  /**
   * A multicast group to join, or a single unicast remote endpoint (`group`/`remote`); the same
   * family as `local`. A multicast group needs `parent`.
   */
  group?: string;
  /** The underlay device (`dev`). */
  parent?: LinkRef;
  /** Learn remote MAC addresses from received packets (`learning`, the kernel's default). */
  learning?: boolean;
  /** The outer packets' TTL / hop limit (`ttl`), 0 to 255; 0 inherits. */
  ttl?: number;
  /** Answer ARP/NDP requests from the device's neighbour table (`proxy`), as overlays do. */
  proxy?: boolean;
}

/**
 * The bytes VXLAN adds to each frame on an underlay of this family: outer Ethernet 14, IP header
 * (IPv4 20, IPv6 40), UDP 8 and VXLAN 8. An overlay's MTU is the underlay's MTU minus this.
 *
 * @example
 * ```ts
 * import { vxlanOverhead } from "./link.ts";
 * vxlanOverhead(6); // 70
 * 1500 - vxlanOverhead(4); // 1450
 * ```
 * @param family The underlay's IP family, e.g. `checkIP(advertise)`.
 * @returns 50 for IPv4, 70 for IPv6.
 */
export function vxlanOverhead(family: 4 | 6): number {
  if (family !== 4 && family !== 6) {
    throw new TypeError(`Invalid underlay family ${JSON.stringify(family)}: 4 or 6`);
  }
  return family === 4 ? 50 : 70;
}

/** Checks a VXLAN address option, naming it: its family. */
function vxlanAddress(value: string, option: "local" | "group"): 4 | 6 {
  const b = typeof value === "string" ? parseIP(value) : undefined;
  if (!b) {
    throw new TypeError(
      `Invalid VXLAN option "${option}" ${JSON.stringify(value)}: an IPv4 or IPv6 address`,
    );
  }
  return b.length === 4 ? 4 : 6;
}

/**
 * Checks a VXLAN device's `local` and `group` and says which underlay family they make.
 * Both present must be of one family: the kernel has one underlay socket family per device.
 *
 * @example
 * ```ts
 * import { vxlanFamily } from "./link.ts";
 * vxlanFamily({ local: "2001:db8:10::11" }); // 6
 * vxlanFamily({ local: "198.51.100.11", group: "239.1.1.1" }); // 4
 * vxlanFamily({}); // undefined
 * // vxlanFamily({ local: "2001:db8:10::11", group: "239.1.1.1" }) throws a TypeError
 * ```
 * @param opts The device's `local` and `group`.
 * @returns 4 or 6, or `undefined` when neither is given.
 */
export function vxlanFamily(opts: { local?: string; group?: string }): 4 | 6 | undefined {
  const local = opts.local === undefined ? undefined : vxlanAddress(opts.local, "local");
  const group = opts.group === undefined ? undefined : vxlanAddress(opts.group, "group");
  if (local !== undefined && group !== undefined && local !== group) {
    throw new TypeError(
      `Invalid VXLAN option "group" "${opts.group}": an IPv${group} address, but "local" "${opts.local}" is IPv${local}; both must be of one family (the underlay's)`,
    );
  }
  return local ?? group;
}

/** What {@linkcode LinkOps.set} changes; absent fields are left alone. */
export interface LinkChanges {
  /** `up` or `down`. */
  up?: boolean;
  /** New MTU. */
  mtu?: number;
  /** New link-layer address. */
  mac?: string;
  /** New name. */
  name?: string;
  /** Enslave to this bridge, or `null` to release (`nomaster`). */
  master?: LinkRef | null;
  /** Move into this network namespace. */
  netns?: NetnsFd | number;
  /** Transmit queue length. */
  txqlen?: number;
  /** Interface alias, up to 255 bytes (`ip link set NAME alias TEXT`); `""` clears it. */
  alias?: string;
  /**
   * Hairpin mode of a bridge port (`ip link set NAME type bridge_slave hairpin on`): frames may
   * leave by the port they came in. The link must be enslaved to a bridge.
   */
  hairpin?: boolean;
}

/** A null-prototype table: `"constructor" in table` is false, as any unknown key. */
function table<K extends string, V>(entries: Record<K, V>): Readonly<Record<K, V>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<K, V>, entries));
}
const MACVLAN_MODES = table<MacvlanMode, number>({
  private: MACVLAN_MODE_PRIVATE,
  vepa: MACVLAN_MODE_VEPA,
  bridge: MACVLAN_MODE_BRIDGE,
  passthru: MACVLAN_MODE_PASSTHRU,
  source: MACVLAN_MODE_SOURCE,
});
const IPVLAN_MODES = table<IpvlanMode, number>({
  l2: IPVLAN_MODE_L2,
  l3: IPVLAN_MODE_L3,
  l3s: IPVLAN_MODE_L3S,
});
const OPERSTATES: Readonly<Record<number, string>> = table({
  [IF_OPER_UNKNOWN]: "unknown",
  [IF_OPER_NOTPRESENT]: "notpresent",
  [IF_OPER_DOWN]: "down",
  [IF_OPER_LOWERLAYERDOWN]: "lowerlayerdown",
  [IF_OPER_TESTING]: "testing",
  [IF_OPER_DORMANT]: "dormant",
  [IF_OPER_UP]: "up",
});
const RTEXT_FILTER_VF = 1;
/** `RTEXT_FILTER_SKIP_STATS`: leave the statistics out of replies (smaller, faster to parse). */
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
const EXT_MASK = RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS;

function fdOf(ns: NetnsFd | number): number {
  return checkInt(typeof ns === "number" ? ns : ns?.fd, 0, 0x7fffffff, "netns fd");
}

/**
 * Names a link in errors: `link "nsl0a"` or `link 7`.
 *
 * @example
 * ```ts
 * import { describeLink } from "./link.ts";
 * describeLink("nsl0a"); // 'link "nsl0a"'
 * ```
 * @param ref The link.
 * @param what The word in front, e.g. `veth`.
 * @returns The description.
 */
export function describeLink(ref: LinkRef, what = "link"): string {
  return typeof ref === "number" ? `${what} ${ref}` : `${what} "${ref}"`;
}

/** The request fields that name a link: its index, or `IFLA_IFNAME` (the kernel resolves it). */
function refFields(ref: LinkRef): LinkMessageInput {
  if (typeof ref === "number") {
    checkInt(ref, 1, 0x7fffffff, "interface index");
    return { index: ref };
  }
  return { ifname: checkIfName(ref) };
}

/**
 * Turns a decoded `RTM_NEWLINK` into a {@linkcode Link}.
 *
 * @example
 * ```ts ignore
 * const link = toLink(decode(LinkViewMessage, payload));
 * ```
 * @param m The decoded message.
 * @returns The link.
 */
export function toLink(m: LinkViewValue): Link {
  const link: Link = {
    index: m.index,
    name: m.ifname ?? "",
    flags: m.flags,
    up: (m.flags & IFF_UP) !== 0,
    mtu: m.mtu ?? 0,
    operstate: OPERSTATES[m.operstate ?? 0] ?? "unknown",
  };
  if (m.linkinfo?.kind) link.kind = m.linkinfo.kind;
  if (m.address !== undefined) link.mac = m.address;
  if (m.master !== undefined) link.master = m.master;
  if (m.link !== undefined) link.parent = m.link;
  if (m.linkNetnsid !== undefined) link.linkNetnsid = m.linkNetnsid;
  if (m.txqlen !== undefined) link.txqlen = m.txqlen;
  if (m.ifalias) link.alias = m.ifalias;
  const data = m.linkinfo?.data;
  if (data && !(data instanceof Uint8Array)) link.data = data as Record<string, unknown>;
  return link;
}

/** Link operations over one netlink socket (and so one namespace). Get it as `Rtnl#link`. */
export class LinkOps {
  #sock: NetlinkTransport;

  /**
   * Link operations over a socket.
   *
   * @param sock The socket (or any transport), bound to the namespace to act in.
   */
  constructor(sock: NetlinkTransport) {
    this.#sock = sock;
  }

  /**
   * Lists every link. Equivalent to: `ip link show`.
   *
   * @example
   * ```ts
   * import { Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * for (const l of rt.link.list()) console.log(l.index, l.name, l.kind ?? "");
   * ```
   * @returns The links, in index order.
   */
  list(): Link[] {
    const replies = this.#sock.dump(RTM_GETLINK, LinkMessage, {
      family: AF_PACKET,
      extMask: EXT_MASK,
    }, {
      object: "links",
    });
    const out: Link[] = [];
    for (const r of replies) {
      if (r.type === RTM_NEWLINK) out.push(toLink(decode(LinkViewMessage, r.payload)));
    }
    return out;
  }

  /**
   * Gets one link by name or index; throws `NetlinkError` (`ENODEV`) when there is none.
   * Equivalent to: `ip link show dev NAME`.
   *
   * @example
   * ```ts
   * import { Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * rt.link.get("lo").index; // 1
   * ```
   * @param ref Name or index.
   * @returns The link.
   */
  get(ref: LinkRef): Link {
    return toLink(decode(LinkViewMessage, this.#lookup(ref)));
  }

  /**
   * Gets a link, or `undefined` when it does not exist.
   *
   * @example
   * ```ts
   * import { Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * rt.link.find("nsl0a") ?? "absent";
   * ```
   * @param ref Name or index.
   * @returns The link or `undefined`.
   */
  find(ref: LinkRef): Link | undefined {
    try {
      return this.get(ref);
    } catch (e) {
      if (e instanceof NetlinkError && e.code === "ENODEV") return undefined;
      throw e;
    }
  }

  /**
   * Resolves a link to its index (a lookup only when given a name).
   *
   * @example
   * ```ts
   * import { Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * rt.link.index("lo"); // 1
   * ```
   * @param ref Name or index.
   * @returns The index.
   */
  index(ref: LinkRef): number {
    if (typeof ref === "number") return checkInt(ref, 1, 0x7fffffff, "interface index");
    // Only the header's ifi_index is needed: skip decoding the attributes.
    const payload = this.#lookup(ref);
    if (payload.byteLength < 16) {
      throw new NetlinkDecodeError(
        `RTM_NEWLINK reply for ${
          describeLink(ref)
        } of ${payload.byteLength} bytes: ifinfomsg needs 16`,
        0,
      );
    }
    return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getInt32(4, true);
  }

  /** `RTM_GETLINK` for one link; returns its reply's payload, or throws ENODEV. */
  #lookup(ref: LinkRef): Uint8Array {
    const replies = this.#sock.request(
      RTM_GETLINK,
      0,
      LinkMessage,
      { ...refFields(ref), extMask: EXT_MASK },
      { object: describeLink(ref) },
    );
    const m = replies.find((r) => r.type === RTM_NEWLINK);
    if (!m) throw new NetlinkError("RTM_GETLINK", describeLink(ref), 19, "no link in the reply");
    return m.payload;
  }

  /**
   * Creates a link. All input is checked first; nothing reaches the kernel when a value is
   * invalid. Equivalent to: `ip link add NAME [mtu M] [address MAC] [master BR] type KIND …`.
   *
   * @example A veth pair with the peer created directly in a namespace
   * ```ts
   * import { NetNs, Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * declare const ns: NetNs;
   * rt.link.add({ kind: "veth", name: "nsl0a", up: true, master: "nslbr0",
   *   peer: { name: "eth0", netns: ns, mtu: 1500 } });
   * ```
   * @param spec What to create.
   * @param options `echo`: ask the kernel to send the new link back (`NLM_F_ECHO`), which saves a
   *   lookup; for a veth its `parent` is the peer's index in the peer's namespace.
   * @returns With `echo`, the link as created, when the kernel echoes it (Linux 6.3 and later);
   *   else `undefined`.
   */
  add(spec: LinkSpec, options: { echo?: boolean } = {}): Link | undefined {
    const body = this.#encodeSpec(spec);
    const flags = NLM_F_CREATE | NLM_F_EXCL | (options.echo ? NLM_F_ECHO : 0);
    const replies = this.#sock.request(RTM_NEWLINK, flags, LinkMessage, body, {
      object: `${spec.kind} "${spec.name}"`,
    });
    const echoed = replies.find((r) => r.type === RTM_NEWLINK);
    return echoed ? toLink(decode(LinkViewMessage, echoed.payload)) : undefined;
  }

  /**
   * Deletes a link (for a veth, both ends). Equivalent to: `ip link del NAME`.
   *
   * @example
   * ```ts
   * import { Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * rt.link.del("nsl0a");
   * ```
   * @param ref Name or index.
   */
  del(ref: LinkRef): void {
    this.#sock.request(RTM_DELLINK, 0, LinkMessage, refFields(ref), { object: describeLink(ref) });
  }

  /**
   * Changes a link in one request. Equivalent to: `ip link set dev NAME [up|down] [mtu M]
   * [address MAC] [name NEW] [master BR|nomaster] [netns NS]`.
   *
   * @example
   * ```ts
   * import { Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * rt.link.set("nsl0a", { mtu: 1400, up: true, master: "nslbr0" });
   * ```
   * @param ref Name or index.
   * @param changes What to change.
   */
  set(ref: LinkRef, changes: LinkChanges): void {
    // Check everything before the first lookup reaches the kernel.
    const named = refFields(ref);
    const newName = changes.name === undefined
      ? undefined
      : checkIfName(changes.name, "new interface name");
    const mtu = changes.mtu === undefined ? undefined : checkMtu(changes.mtu);
    const mac = changes.mac === undefined ? undefined : checkMac(changes.mac);
    const txqlen = changes.txqlen === undefined
      ? undefined
      : checkInt(changes.txqlen, 0, 0xffffffff, "txqlen");
    if (typeof changes.master === "string") checkIfName(changes.master, "master name");
    else if (typeof changes.master === "number") {
      checkInt(changes.master, 1, 0x7fffffff, "master index");
    }
    const netnsFd = changes.netns === undefined ? undefined : fdOf(changes.netns);
    if (
      changes.alias !== undefined &&
      (typeof changes.alias !== "string" || new TextEncoder().encode(changes.alias).length > 255 ||
        changes.alias.includes("\0"))
    ) {
      throw new TypeError(
        `Invalid interface alias ${JSON.stringify(changes.alias)}: up to 255 bytes, no NUL`,
      );
    }
    // A new name travels in IFLA_IFNAME, so the link itself must then be named by index.
    const body: LinkMessageInput = newName === undefined ? named : { index: this.index(ref) };
    if (changes.up !== undefined) {
      body.flags = changes.up ? IFF_UP : 0;
      body.change = IFF_UP;
    }
    // iproute2's order: IFLA_MTU, IFLA_ADDRESS, …, IFLA_IFNAME (new name) last.
    if (mtu !== undefined) body.mtu = mtu;
    if (mac !== undefined) body.address = mac;
    if (txqlen !== undefined) body.txqlen = txqlen;
    if (changes.master !== undefined) {
      body.master = changes.master === null ? 0 : this.#masterIndex(changes.master);
    }
    if (netnsFd !== undefined) body.netnsFd = netnsFd;
    if (changes.alias !== undefined) body.ifalias = changes.alias;
    if (changes.hairpin !== undefined) {
      if (typeof changes.hairpin !== "boolean") {
        throw new TypeError(`Invalid hairpin ${JSON.stringify(changes.hairpin)}: a boolean`);
      }
      // As iproute2 sends it: the kind "bridge_slave" and the port's attributes (the kernel
      // hands them to the link's master, the bridge).
      body.linkinfo = {
        kind: "bridge_slave",
        slaveData: encode(BridgePortData, { mode: changes.hairpin ? 1 : 0 }),
      };
    }
    if (newName !== undefined) body.ifname = newName;
    this.#sock.request(RTM_NEWLINK, 0, LinkMessage, body, { object: describeLink(ref) });
  }

  #masterIndex(ref: LinkRef): number {
    return typeof ref === "number"
      ? checkInt(ref, 1, 0x7fffffff, "master index")
      : this.index(checkIfName(ref, "master name"));
  }

  #encodeSpec(spec: LinkSpec): LinkMessageInput {
    const body: LinkMessageInput = {};
    checkIfName(spec.name);
    if (spec.up) {
      body.flags = IFF_UP;
      body.change = IFF_UP;
    }
    if (spec.mtu !== undefined) body.mtu = checkMtu(spec.mtu);
    if (spec.mac !== undefined) body.address = checkMac(spec.mac);
    if (spec.txqlen !== undefined) body.txqlen = checkInt(spec.txqlen, 0, 0xffffffff, "txqlen");
    // Check everything that needs no kernel before the lookups below.
    switch (spec.kind) {
      case "veth": {
        const p = spec.peer;
        if (!p || typeof p !== "object") {
          throw new TypeError(`Veth "${spec.name}" needs a peer: { name }`);
        }
        checkIfName(p.name, "peer name");
        if (p.netns !== undefined) fdOf(p.netns);
        if (p.mtu !== undefined) checkMtu(p.mtu);
        if (p.mac !== undefined) checkMac(p.mac);
        break;
      }
      case "vlan":
        checkInt(spec.id, 1, 4094, "VLAN id");
        break;
      case "vxlan":
        checkInt(spec.vni, 0, 0xffffff, "VXLAN id");
        if (spec.port !== undefined) checkInt(spec.port, 1, 65535, "VXLAN port");
        vxlanFamily(spec);
        if (spec.ttl !== undefined) checkInt(spec.ttl, 0, 255, "TTL");
        break;
      case "macvlan":
        if (spec.mode !== undefined && !(spec.mode in MACVLAN_MODES)) {
          throw new TypeError(
            `Invalid macvlan mode "${spec.mode}": one of ${Object.keys(MACVLAN_MODES).join(", ")}`,
          );
        }
        break;
      case "ipvlan":
        if (spec.mode !== undefined && !(spec.mode in IPVLAN_MODES)) {
          throw new TypeError(
            `Invalid ipvlan mode "${spec.mode}": one of ${Object.keys(IPVLAN_MODES).join(", ")}`,
          );
        }
        break;
      case "bridge":
        break;
      default:
        throw new TypeError(
          `Unknown link kind "${
            (spec as { kind: string }).kind
          }": veth, bridge, macvlan, ipvlan, vlan or vxlan`,
        );
    }
    if (spec.master !== undefined) body.master = this.#masterIndex(spec.master);
    switch (spec.kind) {
      case "veth": {
        const p = spec.peer;
        // The peer cannot be brought up at creation: the kernel configures it before the
        // pair is joined (ENOTCONN). Bring it up afterwards, from its namespace.
        const peer: LinkMessageInput = {};
        if (p.mtu !== undefined) peer.mtu = p.mtu;
        if (p.mac !== undefined) peer.address = checkMac(p.mac);
        if (p.netns !== undefined) peer.netnsFd = fdOf(p.netns);
        peer.ifname = p.name; // iproute2 puts the name last
        body.ifname = spec.name;
        body.linkinfo = { kind: "veth", data: { peer } };
        break;
      }
      case "bridge": {
        const data: Record<string, number> = {};
        if (spec.stp !== undefined) data.stpState = spec.stp ? 1 : 0;
        if (spec.vlanFiltering !== undefined) data.vlanFiltering = spec.vlanFiltering ? 1 : 0;
        if (spec.ageingTime !== undefined) {
          data.ageingTime = checkInt(spec.ageingTime, 0, 0xffffffff, "ageing time");
        }
        body.ifname = spec.name;
        body.linkinfo = Object.keys(data).length ? { kind: "bridge", data } : { kind: "bridge" };
        break;
      }
      case "macvlan":
        // As ip sends them: IFLA_NET_NS_FD, IFLA_LINK, IFLA_IFNAME (link-add-macvlan-netns.hex).
        if (spec.netns !== undefined) body.netnsFd = fdOf(spec.netns);
        body.link = this.index(spec.parent);
        body.ifname = spec.name;
        body.linkinfo = { kind: "macvlan", data: { mode: MACVLAN_MODES[spec.mode ?? "bridge"] } };
        break;
      case "ipvlan":
        if (spec.netns !== undefined) body.netnsFd = fdOf(spec.netns);
        body.link = this.index(spec.parent);
        body.ifname = spec.name;
        // ip sends IFLA_IPVLAN_FLAGS (0: bridge) with the mode (link-add-ipvlan.hex).
        body.linkinfo = {
          kind: "ipvlan",
          data: { mode: IPVLAN_MODES[spec.mode ?? "l2"], flags: 0 },
        };
        break;
      case "vlan": {
        if (spec.netns !== undefined) body.netnsFd = fdOf(spec.netns);
        body.link = this.index(spec.parent);
        body.ifname = spec.name;
        const data: { id: number; protocol?: number } = { id: spec.id };
        if (spec.protocol !== undefined) {
          data.protocol = spec.protocol === "802.1ad" ? 0x88a8 : 0x8100;
        }
        body.linkinfo = { kind: "vlan", data };
        break;
      }
      case "vxlan": {
        body.ifname = spec.name;
        // iproute2's order: proxy (sent as parsed), link, id, local, group, ttl, learning, port.
        const data: Record<string, number | string> = {};
        if (spec.proxy) data.proxy = 1;
        if (spec.parent !== undefined) data.link = this.index(spec.parent);
        data.id = spec.vni;
        const family = vxlanFamily(spec);
        if (spec.local !== undefined) data[family === 4 ? "local" : "local6"] = spec.local;
        if (spec.group !== undefined) data[family === 4 ? "group" : "group6"] = spec.group;
        if (spec.ttl !== undefined) data.ttl = spec.ttl;
        data.learning = spec.learning === false ? 0 : 1;
        data.port = spec.port ?? 4789;
        body.linkinfo = { kind: "vxlan", data };
        break;
      }
    }
    return body;
  }
}
