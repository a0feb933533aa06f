/**
 * {@linkcode RtnlMonitor}: the kernel's route-netlink events (`RTNLGRP_*` multicast groups) in
 * one namespace, decoded, as an async iterable — what `ip monitor link address route neigh`
 * prints.
 *
 * Waiting never blocks the JS thread. Under Deno the wait is a `poll(2)` on a pool thread (a
 * `nonblocking` FFI call that only waits on fds, never enters a namespace), woken at once by an
 * `eventfd` when the monitor closes. Bun cannot run an FFI call off its JS thread, so there the
 * monitor reads without waiting (`MSG_DONTWAIT`) and, when nothing is queued, sleeps on a timer
 * that backs off from 1 ms to 8 ms and starts again at 1 ms after each event.
 *
 * @module
 */
import { decode } from "../netlink/codec.ts";
import { NetlinkEventStream } from "../netlink/events.ts";
import {
  AF_INET,
  AF_INET6,
  NUD_DELAY,
  NUD_FAILED,
  NUD_INCOMPLETE,
  NUD_NOARP,
  NUD_NONE,
  NUD_PERMANENT,
  NUD_PROBE,
  NUD_REACHABLE,
  NUD_STALE,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV4_ROUTE,
  RTNLGRP_IPV6_IFADDR,
  RTNLGRP_IPV6_ROUTE,
  RTNLGRP_LINK,
  RTNLGRP_NEIGH,
} from "../netlink/constants.ts";
import { NetlinkSocket, type RawMessage } from "../netlink/socket.ts";
import { type Address, toAddress } from "./address.ts";
import { type Link, type NetnsFd, toLink } from "./link.ts";
import { AddrMessage } from "./messages/address.ts";
import { LinkViewMessage } from "./messages/link.ts";
import { NeighMessage, type NeighMessageValue } from "./messages/neighbour.ts";
import { RouteMessage } from "./messages/route.ts";
import { type Route, toRoute } from "./route.ts";

/** The event groups a monitor can follow (`address` and `route` cover IPv4 and IPv6). */
export type MonitorGroup = "link" | "address" | "route" | "neighbour";

/** Options of {@linkcode RtnlMonitor.open} (and `Rtnl#monitor`). */
export interface MonitorOptions {
  /** What to follow; default all four groups. */
  groups?: readonly MonitorGroup[];
  /** Follow this namespace instead of the calling thread's (the socket is opened inside it). */
  netns?: NetnsFd & { readonly path?: string };
  /**
   * The socket's receive buffer (`SO_RCVBUF`) in bytes; the kernel's default otherwise. Events
   * that do not fit while the consumer is busy are dropped by the kernel and reported as one
   * `overrun` event.
   */
  receiveBuffer?: number;
}

/** A neighbour (ARP / NDP) entry as the kernel reports it. */
export interface Neighbour {
  /** Interface index. */
  index: number;
  /** 4 or 6 (0 for other families, e.g. bridge FDB entries). */
  family: 4 | 6 | 0;
  /** The neighbour's IP address (`NDA_DST`). */
  address?: string;
  /** Its link-layer address (`NDA_LLADDR`). */
  mac?: string;
  /** `NUD_*` state as `ip neigh` prints it in lower case: `reachable`, `stale`, `permanent`, … */
  state: string;
  /** `NTF_*` flags. */
  flags: number;
}

/** What changed: an object was created or changed (`new`), or removed (`del`). */
export type MonitorAction = "new" | "del";

/**
 * One decoded kernel event. `overrun` means the kernel dropped events because the consumer fell
 * behind (`ENOBUFS`): what the consumer keeps is stale and must be read again (a dump).
 */
export type RtnlEvent =
  | { readonly type: "link"; readonly action: MonitorAction; readonly link: Link }
  | { readonly type: "address"; readonly action: MonitorAction; readonly address: Address }
  | { readonly type: "route"; readonly action: MonitorAction; readonly route: Route }
  | { readonly type: "neighbour"; readonly action: MonitorAction; readonly neighbour: Neighbour }
  | { readonly type: "overrun" };

const GROUPS: Record<MonitorGroup, readonly number[]> = {
  link: [RTNLGRP_LINK],
  address: [RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR],
  route: [RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE],
  neighbour: [RTNLGRP_NEIGH],
};

const NUD_NAMES: [number, string][] = [
  [NUD_INCOMPLETE, "incomplete"],
  [NUD_REACHABLE, "reachable"],
  [NUD_STALE, "stale"],
  [NUD_DELAY, "delay"],
  [NUD_PROBE, "probe"],
  [NUD_FAILED, "failed"],
  [NUD_NOARP, "noarp"],
  [NUD_PERMANENT, "permanent"],
];

/**
 * Turns a decoded `RTM_NEWNEIGH`/`RTM_DELNEIGH` into a {@linkcode Neighbour}.
 *
 * @example
 * ```ts
 * import { toNeighbour } from "./monitor.ts";
 * toNeighbour({ family: 2, index: 2, state: 2, flags: 0, type: 1, dst: "198.51.100.1" }).state; // "reachable"
 * ```
 * @param m The decoded message.
 * @returns The entry.
 */
export function toNeighbour(m: NeighMessageValue): Neighbour {
  const n: Neighbour = {
    index: m.index,
    family: m.family === AF_INET ? 4 : m.family === AF_INET6 ? 6 : 0,
    state: m.state === NUD_NONE
      ? "none"
      : NUD_NAMES.filter(([bit]) => m.state & bit).map(([, name]) => name).join(",") ||
        String(m.state),
    flags: m.flags,
  };
  if (m.dst !== undefined) n.address = m.dst;
  if (m.lladdr !== undefined) n.mac = m.lladdr;
  return n;
}

/**
 * Decodes one multicast message into an event; `undefined` for message types a monitor does not
 * follow (or an address message without an address).
 *
 * @example
 * ```ts ignore
 * const event = toEvent(rawMessage); // { type: "link", action: "new", link: { … } }
 * ```
 * @param m The raw message.
 * @returns The event.
 */
export function toEvent(m: RawMessage): Exclude<RtnlEvent, { type: "overrun" }> | undefined {
  switch (m.type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      return {
        type: "link",
        action: m.type === RTM_NEWLINK ? "new" : "del",
        link: toLink(decode(LinkViewMessage, m.payload)),
      };
    case RTM_NEWADDR:
    case RTM_DELADDR: {
      const address = toAddress(decode(AddrMessage, m.payload));
      if (address === undefined) return undefined;
      return { type: "address", action: m.type === RTM_NEWADDR ? "new" : "del", address };
    }
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      return {
        type: "route",
        action: m.type === RTM_NEWROUTE ? "new" : "del",
        route: toRoute(decode(RouteMessage, m.payload)),
      };
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH:
      return {
        type: "neighbour",
        action: m.type === RTM_NEWNEIGH ? "new" : "del",
        neighbour: toNeighbour(decode(NeighMessage, m.payload)),
      };
  }
  return undefined;
}

/**
 * Kernel events of one namespace, as an async iterable. Events come in the order the kernel
 * sent them. The monitor ends when the loop `break`s, or on `close()` / `using` /
 * `await using`; the socket joins its groups when the monitor is opened, so every change made
 * after `open` is seen.
 *
 * @example Watch a veth pair come and go
 * ```ts ignore
 * import { Rtnl } from "../mod.ts";
 * using rt = Rtnl.open();
 * using events = rt.monitor({ groups: ["link", "address"] });
 * rt.link.add({ kind: "veth", name: "nsl0a", peer: { name: "nsl0b" } });
 * for await (const e of events) {
 *   if (e.type === "overrun") continue; // events were lost: list links again
 *   if (e.type === "link") console.log(e.action, e.link.name, e.link.up);
 *   if (e.type === "link" && e.action === "new" && e.link.name === "nsl0a") break;
 * }
 * ```
 */
export class RtnlMonitor extends NetlinkEventStream<Exclude<RtnlEvent, { type: "overrun" }>> {
  private constructor(sock: NetlinkSocket) {
    super(sock, toEvent);
  }

  /**
   * Opens a monitor: a netlink socket in the namespace that joined the groups' multicast groups.
   *
   * @example
   * ```ts ignore
   * await using events = RtnlMonitor.open({ groups: ["link"] });
   * ```
   * @param options Groups, namespace, receive buffer.
   * @returns The monitor.
   */
  static open(options: MonitorOptions = {}): RtnlMonitor {
    const names = options.groups ?? ["link", "address", "route", "neighbour"];
    if (!Array.isArray(names) || names.length === 0) {
      throw new TypeError("A monitor needs at least one group: link, address, route, neighbour");
    }
    const groups: number[] = [];
    for (const name of names) {
      const g = GROUPS[name as MonitorGroup];
      if (!g || !Object.hasOwn(GROUPS, name)) {
        throw new TypeError(`Unknown monitor group "${name}": link, address, route or neighbour`);
      }
      groups.push(...g);
    }
    if (
      options.receiveBuffer !== undefined &&
      (!Number.isInteger(options.receiveBuffer) || options.receiveBuffer <= 0 ||
        options.receiveBuffer > 0x3fffffff)
    ) {
      throw new RangeError(`Invalid receiveBuffer "${options.receiveBuffer}"`);
    }
    const ns = options.netns;
    if (ns !== undefined && !(ns.fd >= 0)) {
      throw new TypeError(
        `Network namespace ${JSON.stringify(ns.path ?? "")} is closed: cannot monitor it`,
      );
    }
    const sock = NetlinkSocket.open({
      groups,
      receiveBuffer: options.receiveBuffer,
      ...(ns === undefined
        ? {}
        : { netnsFd: ns.fd, netnsName: ns.path ? JSON.stringify(ns.path) : undefined }),
    });
    return new RtnlMonitor(sock);
  }
}
