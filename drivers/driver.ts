/**
 * The contract between a {@linkcode Network} and its driver, and the network's saved record.
 * A driver turns validated options into kernel objects (`create`/`destroy`) and creates each
 * container's interfaces (`link`/`unlink`). Drivers are synchronous: every kernel call is.
 *
 * @module
 */
import type { NetNs } from "../netns/netns.ts";
import type { Rtnl } from "../rtnl/handle.ts";

export type {
  EndpointRecord,
  EndpointState,
  NetworkRecord,
  NetworkState,
} from "../model/records.ts";
import type { EndpointRecord, NetworkRecord } from "../model/records.ts";
import type { Pool } from "../model/ipam.ts";

/** Where a link should put the container end directly (the fast path). */
export interface LinkTarget {
  /** The namespace. */
  netns: NetNs;
  /** A handle inside it. */
  rtnl: Rtnl;
  /** Whether a name is already used inside it (may answer from what nslink knows). */
  nameInUse(name: string): boolean;
  /** Whether a name is used inside it, asking the kernel. */
  inKernel(name: string): boolean;
  /** Told the interface index of a container end the driver created inside, when it learns it. */
  created?(dstName: string, index: number): void;
}

/** What drivers get besides the record. */
export interface DriverContext {
  /** The host namespace's handle. */
  host: Rtnl;
  /** Subnets already used by other nslink networks. */
  takenSubnets: string[];
  /** Other nslink networks' saved configurations (to refuse a bridge already in use). */
  otherConfigs: Record<string, unknown>[];
  /**
   * The address of a pool for an endpoint. `Network` reserves an endpoint's addresses in its
   * store before it calls {@linkcode Driver.link} (honouring {@linkcode Driver.pools} and
   * {@linkcode Driver.excluded}), and this hands out the reserved ones; without it (a driver
   * used on its own), IPAM's `allocate` on the pool object alone.
   */
  allocate?(pool: Pool, owner: string, preferred?: string): string;
}

/** Per-container choices passed to {@linkcode Driver.link}. */
export interface EndpointOptions {
  /** Create the container end directly in this namespace (the fast path). */
  target?: LinkTarget;
  /** A static IPv4 address (no prefix) instead of the next free one. */
  address?: string;
  /** A static IPv6 address (no prefix) instead of the next free one. */
  addressIPv6?: string;
  /** The container end's name inside the namespace (e.g. CNI's `CNI_IFNAME`), instead of the next free one. */
  dstName?: string;
  /**
   * Put the host end in hairpin mode (the endpoint publishes ports, or the caller asks for it):
   * a container reaching its own published port through the host's address.
   */
  hairpin?: boolean;
}

/** A network driver. */
export interface Driver {
  /** Canonical type name, e.g. `bridge`. */
  readonly type: string;
  /** Other names it answers to, e.g. `simplebridge`. */
  readonly aliases: readonly string[];
  /**
   * Validates and normalizes options without touching the kernel (reading host state to pick a
   * free subnet is fine). Throws `TypeError`/`RangeError` on bad input.
   */
  configure(ctx: DriverContext, name: string, id: string, options: Record<string, unknown>): {
    config: Record<string, unknown>;
    pools: { v4?: Pool; v6?: Pool };
  };
  /** Creates the network's kernel objects; undoes its own work when it fails. */
  create(ctx: DriverContext, record: NetworkRecord): void;
  /** Removes the network's kernel objects; succeeds when they are already gone. */
  destroy(ctx: DriverContext, record: NetworkRecord): void;
  /**
   * Allocates addresses in `record.pools` and creates the endpoint's interfaces; undoes its own
   * kernel work when it fails (the caller discards the record).
   */
  link(
    ctx: DriverContext,
    record: NetworkRecord,
    endpoint: string,
    options: EndpointOptions,
  ): EndpointRecord;
  /**
   * The pools automatic addresses are taken from, when narrower than `record.pools` (e.g. the
   * `lan` drivers' `ipRange`): the same subnets, with a range. Static addresses may lie anywhere
   * in `record.pools`. Absent: `record.pools`. Synchronous and pure: `Network` calls it before
   * reserving an endpoint's addresses in its store (drivers never touch the store).
   *
   * @example
   * ```ts ignore
   * driver.pools?.(record)?.v4?.rangeStart; // "198.51.100.128"
   * ```
   */
  pools?(record: NetworkRecord): { v4?: Pool; v6?: Pool };
  /**
   * Addresses (no prefix) never handed out automatically to an endpoint, such as the host's own
   * shim address (`hostAccess`). Absent: none.
   *
   * @example
   * ```ts ignore
   * driver.excluded?.(record); // ["198.51.100.254"]
   * ```
   */
  excluded?(record: NetworkRecord): string[];
  /**
   * The names of the host-side links {@linkcode Driver.link} will make for an endpoint, known
   * before they exist: they are saved in the endpoint's intent record, so that an attempt that
   * died midway can be found and undone. Absent: the driver makes none.
   */
  hostLinks?(record: NetworkRecord, endpoint: string): string[];
  /**
   * Puts a linked endpoint's host end in hairpin mode, when it publishes its first ports after
   * `link` (see {@linkcode EndpointOptions.hairpin}). Absent: the driver has no such mode.
   *
   * @example
   * ```ts ignore
   * driver.hairpin?.(ctx, record, "c1", ep);
   * ```
   */
  hairpin?(ctx: DriverContext, record: NetworkRecord, endpoint: string, ep: EndpointRecord): void;
  /**
   * Removes an endpoint's host-side objects; succeeds when they are already gone.
   *
   * @returns `true` when they are confirmed gone (its addresses may be handed out again);
   *   `false` when the kernel is still removing them (their namespace was deleted) and they
   *   must be checked again later.
   */
  unlink(ctx: DriverContext, record: NetworkRecord, endpoint: EndpointRecord): boolean;
  /**
   * Removes an endpoint's kernel objects whatever state its namespace is in (an interrupted
   * link, links kept alive past a release). Absent: `unlink` with no namespace (the host-side
   * links). Drivers whose links live only inside the container's namespace look there.
   */
  abandon?(ctx: DriverContext, record: NetworkRecord, endpoint: EndpointRecord): void;
  /**
   * Whether an endpoint's kernel objects are still there, looking inside its namespace when
   * they live only there. Absent: its host links exist (or, with none, its namespace does).
   */
  liveEndpoint?(ctx: DriverContext, record: NetworkRecord, endpoint: EndpointRecord): boolean;
}
