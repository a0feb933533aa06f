/**
 * Neighbour operations (`ip neigh …`): permanent IPv4/IPv6 neighbour (ARP/NDP) entries; and
 * bridge forwarding-database operations (`bridge fdb …`), such as a vxlan device's entries that
 * send a MAC address to a remote tunnel endpoint.
 *
 * @module
 */
import { decode } from "../netlink/codec.ts";
import {
  AF_BRIDGE,
  AF_INET,
  AF_INET6,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NTF_MASTER,
  NTF_ROUTER,
  NTF_SELF,
  NUD_DELAY,
  NUD_FAILED,
  NUD_INCOMPLETE,
  NUD_NOARP,
  NUD_PERMANENT,
  NUD_PROBE,
  NUD_REACHABLE,
  NUD_STALE,
  RTM_DELNEIGH,
  RTM_GETNEIGH,
  RTM_NEWNEIGH,
} from "../netlink/constants.ts";
import { checkIP } from "../net/validate.ts";
import { parseMac } from "../net/mac.ts";
import { describeLink, type LinkRef } from "./link.ts";
import { LinkedOps } from "./ops.ts";
import { NeighMessage, type NeighMessageInput } from "./messages/neighbour.ts";

/** `ip neigh` states (`nud …`). */
export type NeighState =
  | "permanent"
  | "noarp"
  | "reachable"
  | "stale"
  | "delay"
  | "probe"
  | "failed"
  | "incomplete";

const NUD: Record<NeighState, number> = {
  permanent: NUD_PERMANENT,
  noarp: NUD_NOARP,
  reachable: NUD_REACHABLE,
  stale: NUD_STALE,
  delay: NUD_DELAY,
  probe: NUD_PROBE,
  failed: NUD_FAILED,
  incomplete: NUD_INCOMPLETE,
};

function stateNames(state: number): NeighState[] {
  return (Object.keys(NUD) as NeighState[]).filter((n) => (state & NUD[n]) !== 0);
}

/** A neighbour entry to add, replace or delete. */
export interface NeighSpec {
  /** The link, e.g. a vxlan device or `eth0`. */
  dev: LinkRef;
  /** The neighbour's IPv4 or IPv6 address. */
  address: string;
  /** Its link-layer address (needed to add). */
  lladdr?: string;
  /** The state; default `permanent`. */
  state?: NeighState;
  /** The neighbour is a router (`router`, IPv6). */
  router?: boolean;
}

/** A neighbour entry as `NeighOps.list` reports it. */
export interface NeighEntry {
  /** Interface index. */
  index: number;
  /** 4 or 6. */
  family: 4 | 6;
  /** The IP address. */
  address: string;
  /** The link-layer address, when known. */
  lladdr?: string;
  /** The `NUD_*` states set, e.g. `["permanent"]`. */
  state: NeighState[];
  /** `NTF_*` flags. */
  flags: number;
}

/** A bridge forwarding entry to add, replace or delete. */
export interface FdbSpec {
  /** The device: a bridge port (`master`) or a vxlan device (`self`). */
  dev: LinkRef;
  /** The MAC address. */
  lladdr: string;
  /**
   * For a vxlan device: the remote tunnel endpoint's IP address (`NDA_DST`, 4 or 16 bytes), of
   * the device's underlay family (else the kernel answers `EAFNOSUPPORT`).
   */
  dst?: string;
  /** The vxlan network identifier, when not the device's own. */
  vni?: number;
  /** The remote UDP port, when not the device's own. */
  port?: number;
  /** Put the entry in the device's own table (`self`, the default when `master` is not set). */
  self?: boolean;
  /** Put the entry in the master bridge's table (`master`). */
  master?: boolean;
  /** `permanent` (default), `static` (permanent but not local) or `dynamic` (ages out). */
  state?: "permanent" | "static" | "dynamic";
}

/** A forwarding entry as the kernel reports it. */
export interface FdbEntry {
  /** The device's interface index. */
  index: number;
  /** The MAC address. */
  lladdr: string;
  /** The remote tunnel endpoint (vxlan entries), IPv4 or IPv6. */
  dst?: string;
  /** The vxlan network identifier, when reported. */
  vni?: number;
  /** The master bridge's index, when the entry is reported through one. */
  master?: number;
  /** VLAN id, when set. */
  vlan?: number;
  /** The `NUD_*` states set, e.g. `["permanent"]`. */
  state: NeighState[];
  /** `NTF_*` flags (`NTF_SELF` 0x02, `NTF_MASTER` 0x04, …). */
  flags: number;
}

/** Neighbour operations over one netlink socket. Get it as `Rtnl#neigh`. */
export class NeighOps extends LinkedOps {
  /**
   * Adds a neighbour entry. Equivalent to:
   * `ip neigh add ADDRESS lladdr LLADDR dev DEV nud permanent`.
   *
   * @example
   * ```ts ignore
   * rt.neigh.add({ dev: "nsvx42", address: "203.0.113.3", lladdr: "02:42:cb:00:71:03" });
   * ```
   * @param spec The entry.
   */
  add(spec: NeighSpec): void {
    this.#new(spec, NLM_F_CREATE | NLM_F_EXCL, "add");
  }

  /**
   * Adds a neighbour entry or replaces the one for that address. Equivalent to:
   * `ip neigh replace ADDRESS lladdr LLADDR dev DEV nud permanent`.
   *
   * @example
   * ```ts ignore
   * rt.neigh.replace({ dev: "nsvx42", address: "203.0.113.3", lladdr: "02:42:cb:00:71:03" });
   * ```
   * @param spec The entry.
   */
  replace(spec: NeighSpec): void {
    this.#new(spec, NLM_F_CREATE | NLM_F_REPLACE, "replace");
  }

  /**
   * Deletes a neighbour entry. Equivalent to: `ip neigh del ADDRESS dev DEV`.
   *
   * @example
   * ```ts ignore
   * rt.neigh.del({ dev: "nsvx42", address: "203.0.113.3" });
   * ```
   * @param spec The link and address.
   */
  del(spec: Pick<NeighSpec, "dev" | "address">): void {
    const family = checkIP(spec.address);
    const body: NeighMessageInput = {
      family: family === 4 ? AF_INET : AF_INET6,
      index: this.links.index(spec.dev),
      state: NUD_PERMANENT,
      dst: spec.address,
    };
    this.sock.request(RTM_DELNEIGH, 0, NeighMessage, body, {
      object: `${spec.address} dev ${describeLink(spec.dev, "").trim()}`,
    });
  }

  /**
   * Lists neighbour entries. Equivalent to: `ip neigh show [dev DEV]` (`-4`/`-6` with `family`).
   *
   * @example
   * ```ts ignore
   * rt.neigh.list({ dev: "nsvx42" }).map((n) => `${n.address} ${n.lladdr}`);
   * ```
   * @param filter Optional link and family.
   * @returns The entries.
   */
  list(filter: { dev?: LinkRef; family?: 4 | 6 } = {}): NeighEntry[] {
    const family = filter.family === 4 ? AF_INET : filter.family === 6 ? AF_INET6 : 0;
    const index = filter.dev === undefined ? 0 : this.links.index(filter.dev);
    const body: NeighMessageInput = { family };
    if (index) body.ifindex = index;
    const replies = this.sock.dump(RTM_GETNEIGH, NeighMessage, body, { object: "neighbours" });
    const out: NeighEntry[] = [];
    for (const r of replies) {
      if (r.type !== RTM_NEWNEIGH) continue;
      const m = decode(NeighMessage, r.payload);
      if (m.family !== AF_INET && m.family !== AF_INET6) continue;
      if (index && m.index !== index) continue;
      if (family && m.family !== family) continue;
      if (m.dst === undefined) continue;
      const n: NeighEntry = {
        index: m.index,
        family: m.family === AF_INET6 ? 6 : 4,
        address: m.dst,
        state: stateNames(m.state),
        flags: m.flags,
      };
      if (m.lladdr !== undefined) n.lladdr = m.lladdr;
      out.push(n);
    }
    return out;
  }

  #new(spec: NeighSpec, flags: number, verb: string): void {
    const family = checkIP(spec.address);
    if (spec.lladdr === undefined) {
      throw new TypeError(`ip neigh ${verb} "${spec.address}" needs "lladdr"`);
    }
    parseMac(spec.lladdr);
    if (spec.state !== undefined && !(spec.state in NUD)) {
      throw new TypeError(
        `Invalid neighbour state "${spec.state}": ${Object.keys(NUD).join(", ")}`,
      );
    }
    const body: NeighMessageInput = {
      family: family === 4 ? AF_INET : AF_INET6,
      index: this.links.index(spec.dev),
      state: NUD[spec.state ?? "permanent"],
      flags: spec.router ? NTF_ROUTER : 0,
      dst: spec.address,
      lladdr: spec.lladdr,
    };
    this.sock.request(RTM_NEWNEIGH, flags, NeighMessage, body, {
      object: `${spec.address} lladdr ${spec.lladdr} dev ${describeLink(spec.dev, "").trim()}`,
    });
  }
}

/** Bridge forwarding-database operations over one netlink socket. Get it as `Rtnl#fdb`. */
export class FdbOps extends LinkedOps {
  /**
   * Adds a forwarding entry. Equivalent to:
   * `bridge fdb add LLADDR dev DEV [dst IP] [self|master] [permanent]`.
   *
   * @example Send a MAC address through a vxlan device to a remote tunnel endpoint
   * ```ts ignore
   * rt.fdb.add({ dev: "nsvx42", lladdr: "02:42:cb:00:71:03", dst: "198.51.100.12" });
   * ```
   * @param spec The entry.
   */
  add(spec: FdbSpec): void {
    this.#send(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, spec);
  }

  /**
   * Adds a forwarding entry or replaces the one for that MAC address. Equivalent to:
   * `bridge fdb replace LLADDR dev DEV [dst IP] [self|master] [permanent]`.
   *
   * @example
   * ```ts ignore
   * rt.fdb.replace({ dev: "nsvx42", lladdr: "02:42:cb:00:71:03", dst: "198.51.100.13" });
   * ```
   * @param spec The entry.
   */
  replace(spec: FdbSpec): void {
    this.#send(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, spec);
  }

  /**
   * Adds one more forwarding entry for a MAC address that may already have some, each with its
   * own `dst`. On a vxlan device, entries for the all-zero MAC address `00:00:00:00:00:00` list
   * the remote tunnel endpoints that get broadcast, unknown-unicast and multicast frames (head-end
   * replication). Equivalent to: `bridge fdb append LLADDR dev DEV dst IP [self] [permanent]`.
   *
   * @example Flood a vxlan device's broadcasts to two remote hosts over an IPv6 underlay
   * ```ts ignore
   * for (const dst of ["2001:db8:10::12", "2001:db8:10::13"]) {
   *   rt.fdb.append({ dev: "nsvx42", lladdr: "00:00:00:00:00:00", dst });
   * }
   * ```
   * @param spec The entry; `dst` is what tells it from the others for the same MAC address.
   */
  append(spec: FdbSpec): void {
    this.#send(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, spec);
  }

  /**
   * Deletes a forwarding entry. Equivalent to: `bridge fdb del LLADDR dev DEV [dst IP] [self]`.
   *
   * @example
   * ```ts ignore
   * rt.fdb.del({ dev: "nsvx42", lladdr: "02:42:cb:00:71:03", dst: "198.51.100.12" });
   * ```
   * @param spec The entry (`dst` picks one of several entries for the same MAC address).
   */
  del(spec: FdbSpec): void {
    this.#send(RTM_DELNEIGH, 0, spec);
  }

  /**
   * Lists forwarding entries. Equivalent to: `bridge fdb show [dev DEV]`.
   *
   * @example
   * ```ts ignore
   * rt.fdb.list({ dev: "nsvx42" }).filter((e) => e.dst).map((e) => `${e.lladdr} -> ${e.dst}`);
   * ```
   * @param filter Optional device.
   * @returns The entries.
   */
  list(filter: { dev?: LinkRef } = {}): FdbEntry[] {
    const index = filter.dev === undefined ? 0 : this.links.index(filter.dev);
    const replies = this.sock.dump(RTM_GETNEIGH, NeighMessage, { family: AF_BRIDGE, index }, {
      object: "bridge fdb",
    });
    const out: FdbEntry[] = [];
    for (const r of replies) {
      if (r.type !== RTM_NEWNEIGH) continue;
      const m = decode(NeighMessage, r.payload);
      if (m.family !== AF_BRIDGE || m.lladdr === undefined) continue;
      if (index && m.index !== index) continue;
      const e: FdbEntry = {
        index: m.index,
        lladdr: m.lladdr,
        state: stateNames(m.state),
        flags: m.flags,
      };
      if (m.dst !== undefined) e.dst = m.dst;
      if (m.vni !== undefined) e.vni = m.vni;
      if (m.master !== undefined) e.master = m.master;
      if (m.vlan !== undefined) e.vlan = m.vlan;
      out.push(e);
    }
    return out;
  }

  #send(type: number, flags: number, spec: FdbSpec): void {
    parseMac(spec.lladdr);
    if (spec.dst !== undefined) checkIP(spec.dst);
    const state = spec.state ?? "permanent";
    if (!["permanent", "static", "dynamic"].includes(state)) {
      throw new TypeError(`Invalid FDB state "${state}": permanent, static or dynamic`);
    }
    // bridge(8): NUD_NOARP unless dynamic, plus NUD_PERMANENT or NUD_REACHABLE.
    const nud = (state === "dynamic" ? 0 : NUD_NOARP) |
      (state === "permanent" ? NUD_PERMANENT : NUD_REACHABLE);
    let ntf = (spec.self ? NTF_SELF : 0) | (spec.master ? NTF_MASTER : 0);
    if (ntf === 0) ntf = NTF_SELF;
    const body: NeighMessageInput = {
      family: AF_BRIDGE,
      index: this.links.index(spec.dev),
      state: nud,
      flags: ntf,
      lladdr: spec.lladdr,
    };
    if (spec.dst !== undefined) body.dst = spec.dst;
    if (spec.port !== undefined) body.port = spec.port;
    if (spec.vni !== undefined) body.vni = spec.vni;
    const to = spec.dst === undefined ? "" : ` dst ${spec.dst}`;
    this.sock.request(type, flags, NeighMessage, body, {
      object: `fdb ${spec.lladdr} dev ${describeLink(spec.dev, "").trim()}${to}`,
    });
  }
}
