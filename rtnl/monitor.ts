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
import {
  canPollOffThread,
  close,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  eventfd,
  POLLIN,
  pollOffThread,
  write,
} from "../ffi/libc.ts";
import { decode } from "../netlink/codec.ts";
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
export function toEvent(m: RawMessage): RtnlEvent | undefined {
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

const MAX_BACKOFF_MS = 8;
/** A pool-thread wait returns at least this often, so a lost wake-up costs at most this long. */
const POLL_TIMEOUT_MS = 1000;

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
export class RtnlMonitor implements AsyncIterableIterator<RtnlEvent>, Disposable, AsyncDisposable {
  #sock: NetlinkSocket;
  #queue: RtnlEvent[] = [];
  #closed = false;
  #wakeFd = -1;
  #pollfds: Uint8Array<ArrayBuffer> | undefined;
  #waiting: Promise<unknown> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | undefined;
  #backoff = 1;
  #tail: Promise<void> = Promise.resolve();

  private constructor(sock: NetlinkSocket) {
    this.#sock = sock;
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
    const monitor = new RtnlMonitor(sock);
    if (canPollOffThread()) {
      try {
        monitor.#wakeFd = eventfd(EFD_CLOEXEC | EFD_NONBLOCK, "monitor wake-up");
      } catch (e) {
        sock.close();
        throw e;
      }
      const pfd = new Uint8Array(16);
      const dv = new DataView(pfd.buffer);
      dv.setInt32(0, sock.fd, true);
      dv.setInt16(4, POLLIN, true);
      dv.setInt32(8, monitor.#wakeFd, true);
      dv.setInt16(12, POLLIN, true);
      monitor.#pollfds = pfd;
    }
    return monitor;
  }

  /** Whether the monitor was closed (by `close()`, `break` or disposal). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The next event; waits (without blocking the JS thread) until one comes. Done once closed.
   *
   * @returns The next event, or `{ done: true }` after `close()`.
   */
  next(): Promise<IteratorResult<RtnlEvent, undefined>> {
    // Calls that overlap are served one after the other, each getting its own event.
    const result = this.#tail.then(() => this.#next());
    this.#tail = result.then(() => {}, () => {});
    return result;
  }

  async #next(): Promise<IteratorResult<RtnlEvent, undefined>> {
    for (;;) {
      if (this.#queue.length > 0) return { done: false, value: this.#queue.shift()! };
      if (this.#closed) return { done: true, value: undefined };
      if (this.#read()) {
        this.#backoff = 1;
        continue;
      }
      await this.#wait();
    }
  }

  /**
   * Ends the iteration (called by `break`) and closes the monitor.
   *
   * @returns `{ done: true }`.
   */
  return(): Promise<IteratorResult<RtnlEvent, undefined>> {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  /** The monitor itself: `for await (const e of monitor)`. @returns This monitor. */
  [Symbol.asyncIterator](): RtnlMonitor {
    return this;
  }

  /**
   * Closes the socket and wakes a pending `next()`, which then reports done; safe to call twice.
   * Events already read but not yet consumed are dropped.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    if (this.#wakeFd >= 0) {
      try {
        write(this.#wakeFd, new Uint8Array(new BigUint64Array([1n]).buffer));
      } catch { /* the poll returns on its own timeout */ }
    }
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#wake?.();
    }
    this.#sock.close();
    const wakeFd = this.#wakeFd;
    this.#wakeFd = -1;
    // The pool thread's poll holds its own reference to both files; close the eventfd once the
    // poll has returned, so that its number is not reused while a poll may still start on it.
    if (wakeFd >= 0) {
      if (this.#waiting) this.#waiting.finally(() => close(wakeFd));
      else close(wakeFd);
    }
  }

  /** Closes the monitor (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes the monitor (for `await using`). @returns A settled promise. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** Reads everything queued on the socket into events; `false` when nothing was there. */
  #read(): boolean {
    let any = false;
    for (;;) {
      const got = this.#sock.receiveNow();
      if (got === undefined) return any;
      any = true;
      if (got === "overrun") {
        // Collapse back-to-back overruns: one resync covers them all.
        if (this.#queue.at(-1)?.type !== "overrun") this.#queue.push({ type: "overrun" });
        continue;
      }
      for (const m of got) {
        const e = toEvent(m);
        if (e) this.#queue.push(e);
      }
    }
  }

  async #wait(): Promise<void> {
    const pfd = this.#pollfds;
    if (pfd !== undefined) {
      const waiting = pollOffThread(pfd, POLL_TIMEOUT_MS);
      this.#waiting = waiting;
      try {
        await waiting;
      } finally {
        if (this.#waiting === waiting) this.#waiting = undefined;
      }
      return;
    }
    const ms = this.#backoff;
    this.#backoff = Math.min(MAX_BACKOFF_MS, ms * 2);
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        resolve();
      }, ms);
    });
    this.#wake = undefined;
  }
}
