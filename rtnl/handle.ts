/**
 * {@linkcode Rtnl}: one route-netlink socket bound to one network namespace, with link, address,
 * route, neighbour and bridge FDB operations on it, like `ip -n NS link|addr|route|neigh …` and
 * `bridge -n NS fdb …`.
 *
 * @module
 */
import type { NetlinkError } from "../netlink/errors.ts";
import { type BatchRequest, NetlinkSocket, type NetlinkTransport } from "../netlink/socket.ts";
import { AddrOps } from "./address.ts";
import { LinkOps, type NetnsFd } from "./link.ts";
import { type MonitorOptions, RtnlMonitor } from "./monitor.ts";
import { FdbOps, NeighOps } from "./neigh.ts";
import { RouteOps } from "./route.ts";

/** The operations inside {@linkcode Rtnl.batch}: the usual calls, queued instead of sent. */
export interface RtnlBatch {
  /** Link operations (name links by index, or by name where no lookup is needed). */
  readonly link: LinkOps;
  /** Address operations (name the link by index). */
  readonly addr: AddrOps;
  /** Route operations (name the link by index). */
  readonly route: RouteOps;
  /** Neighbour operations (name the link by index). */
  readonly neigh: NeighOps;
  /** Bridge FDB operations (name the link by index). */
  readonly fdb: FdbOps;
  /** Queues a prepared request (any message the socket's protocol takes, e.g. a bridge port's). */
  request(req: BatchRequest): void;
}

/** Options of {@linkcode Rtnl.open}. */
export interface RtnlOptions {
  /** Act inside this namespace: the socket is opened there (enter, open, return) and stays bound to it. */
  netns?: NetnsFd & { readonly path?: string };
  /**
   * The calling thread is inside `netns` already (as in the callback of `NetNs.create`): open
   * the socket where the thread is, without switching namespaces.
   */
  inside?: boolean;
  /** Use this socket, already bound in `netns` (the handle owns it then), instead of opening one. */
  socket?: NetlinkSocket;
}

/**
 * A route-netlink handle for one namespace. Operations are synchronous: the kernel answers
 * inside each request.
 *
 * @example Create a veth pair and address one end
 * ```ts ignore
 * import { Rtnl } from "./handle.ts";
 * using rt = Rtnl.open();
 * rt.link.add({ kind: "veth", name: "nsl0a", peer: { name: "nsl0b" }, up: true });
 * rt.addr.add("nsl0a", "198.51.100.1/24");
 * rt.link.del("nsl0a");
 * ```
 */
export class Rtnl implements Disposable {
  /** Link operations: `ip link`. */
  readonly link: LinkOps;
  /** Address operations: `ip addr`. */
  readonly addr: AddrOps;
  /** Route operations: `ip route`. */
  readonly route: RouteOps;
  /** Neighbour (ARP/NDP) operations: `ip neigh`. */
  readonly neigh: NeighOps;
  /** Bridge forwarding-database operations: `bridge fdb`. */
  readonly fdb: FdbOps;
  #sock: NetlinkSocket;
  #netns: (NetnsFd & { readonly path?: string }) | undefined;

  private constructor(sock: NetlinkSocket, netns?: NetnsFd & { readonly path?: string }) {
    this.#sock = sock;
    this.#netns = netns;
    this.link = new LinkOps(sock);
    this.addr = new AddrOps(sock, this.link);
    this.route = new RouteOps(sock, this.link);
    this.neigh = new NeighOps(sock, this.link);
    this.fdb = new FdbOps(sock, this.link);
  }

  /**
   * Opens a handle in the current namespace, or in `options.netns`.
   *
   * @example
   * ```ts ignore
   * using rt = Rtnl.open({ netns: ns });
   * rt.link.set("lo", { up: true });
   * ```
   * @param options The namespace.
   * @returns The handle.
   */
  static open(options: RtnlOptions = {}): Rtnl {
    const ns = options.netns;
    const sock = options.socket ??
      (ns === undefined || options.inside ? NetlinkSocket.open() : NetlinkSocket.open({
        netnsFd: ns.fd,
        netnsName: ns.path ? JSON.stringify(ns.path) : undefined,
      }));
    return new Rtnl(sock, ns);
  }

  /**
   * Follows the kernel's events in a namespace (the calling thread's, or `options.netns`): an
   * async iterable of decoded link, address, route and neighbour changes, like `ip monitor`.
   * See {@linkcode RtnlMonitor}.
   *
   * @example Wait until a link is gone, without polling
   * ```ts ignore
   * import { Rtnl } from "./handle.ts";
   * await using events = Rtnl.monitor({ groups: ["link"] });
   * for await (const e of events) {
   *   if (e.type === "link" && e.action === "del" && e.link.name === "nsl0a") break;
   * }
   * ```
   * @param options Groups, namespace and receive buffer.
   * @returns The monitor; close it (or `break` out of its loop) when done.
   */
  static monitor(options: MonitorOptions = {}): RtnlMonitor {
    return RtnlMonitor.open(options);
  }

  /**
   * Follows the kernel's events in this handle's namespace (the one given to
   * {@linkcode Rtnl.open}, which must still be open). Equivalent to: `ip -n NS monitor`.
   *
   * @example Events for a link as it is made, set up and addressed
   * ```ts ignore
   * using rt = Rtnl.open();
   * using events = rt.monitor({ groups: ["link", "address"] });
   * rt.link.add({ kind: "veth", name: "nsl0a", peer: { name: "nsl0b" }, up: true });
   * for await (const e of events) {
   *   if (e.type === "link") console.log(e.action, e.link.name, e.link.up);
   * }
   * ```
   * @param options Groups and receive buffer (the namespace is the handle's).
   * @returns The monitor.
   */
  monitor(options: Omit<MonitorOptions, "netns"> = {}): RtnlMonitor {
    return RtnlMonitor.open({ ...options, netns: this.#netns });
  }

  /**
   * Queues the requests `fn` makes and sends them in one `sendmsg` (as few as fit, for many: see
   * {@linkcode NetlinkSocket.batch}); the kernel handles them in
   * order, and one failing does not stop the others. Lookups need an answer and cannot be
   * queued, so name links by index inside (`set("lo", …)` and `del(name)` need no lookup).
   *
   * @example Configure an interface in one round trip
   * ```ts
   * import { Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * const errors = rt.batch((b) => {
   *   b.addr.add(2, "198.51.100.2/24");
   *   b.link.set(2, { up: true });
   *   b.route.add({ gateway: "198.51.100.1", dev: 2 });
   * });
   * errors.filter(Boolean); // [] when all succeeded
   * ```
   * @param fn Makes the requests.
   * @returns For each queued request, in order, `undefined` or its `NetlinkError`.
   */
  batch(fn: (b: RtnlBatch) => void): (NetlinkError | undefined)[] {
    const queue: BatchRequest[] = [];
    const outer = this.#queue;
    this.#queue = queue;
    try {
      fn(this.#batchOps ??= this.#makeBatchOps());
    } finally {
      this.#queue = outer;
    }
    return this.#sock.batch(queue);
  }

  /** The queue the batch operations fill, while a `batch()` callback runs. */
  #queue: BatchRequest[] | undefined;
  /** The batch operations, made once per handle: they queue into {@linkcode Rtnl.#queue}. */
  #batchOps: RtnlBatch | undefined;

  #makeBatchOps(): RtnlBatch {
    const queued = (): BatchRequest[] => {
      if (!this.#queue) throw new TypeError("Batch operations are only valid inside Rtnl.batch()");
      return this.#queue;
    };
    const transport: NetlinkTransport = {
      request(type, flags, codec, body, ctx) {
        if (type % 4 === 2) {
          throw new TypeError(
            "A lookup cannot be batched: name links by index inside Rtnl.batch()",
          );
        }
        queued().push({ type, flags, codec, body, ctx } as BatchRequest);
        return [];
      },
      dump() {
        throw new TypeError("A dump cannot be batched");
      },
    };
    const link = new LinkOps(transport);
    return {
      link,
      addr: new AddrOps(transport, link),
      route: new RouteOps(transport, link),
      neigh: new NeighOps(transport, link),
      fdb: new FdbOps(transport, link),
      request: (req) => void queued().push(req),
    };
  }

  /** The underlying socket. */
  get socket(): NetlinkSocket {
    return this.#sock;
  }

  /** Closes the socket; safe to call twice. */
  close(): void {
    this.#sock.close();
  }

  /** Closes the socket (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}
