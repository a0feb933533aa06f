/**
 * {@linkcode LinkedOps}: what address and route operations share — a transport bound to one
 * namespace, and link lookups on that same transport to turn names into indexes.
 *
 * @module
 */
import type { NetlinkTransport } from "../netlink/socket.ts";
import { LinkOps } from "./link.ts";

/** The base of `AddrOps` and `RouteOps`: requests go to `sock`, names resolve through `links`. */
export abstract class LinkedOps {
  /** The transport every request of these operations goes to. */
  protected readonly sock: NetlinkTransport;
  /** Link operations on the same transport, to resolve names to indexes. */
  protected readonly links: LinkOps;

  /**
   * Operations over a transport.
   *
   * @param sock The socket (or any transport), bound to the namespace to act in.
   * @param links Link operations on the same transport (made from `sock` when left out).
   */
  constructor(sock: NetlinkTransport, links: LinkOps = new LinkOps(sock)) {
    this.sock = sock;
    this.links = links;
  }
}
