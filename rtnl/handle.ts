/**
 * {@linkcode Rtnl}: one route-netlink socket bound to one network namespace, with link, address
 * and route operations on it, like `ip -n NS link|addr|route …`.
 *
 * @module
 */
import { NetlinkSocket } from "../netlink/socket.ts";
import { AddrOps } from "./address.ts";
import { LinkOps, type NetnsFd } from "./link.ts";
import { RouteOps } from "./route.ts";

/** Options of {@linkcode Rtnl.open}. */
export interface RtnlOptions {
  /** Act inside this namespace: the socket is opened there (enter, open, return) and stays bound to it. */
  netns?: NetnsFd & { readonly path?: string };
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
  #sock: NetlinkSocket;

  private constructor(sock: NetlinkSocket) {
    this.#sock = sock;
    this.link = new LinkOps(sock);
    this.addr = new AddrOps(sock, this.link);
    this.route = new RouteOps(sock, this.link);
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
    const sock = ns === undefined ? NetlinkSocket.open() : NetlinkSocket.open({
      netnsFd: ns.fd,
      netnsName: ns.path ? JSON.stringify(ns.path) : undefined,
    });
    return new Rtnl(sock);
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
