/**
 * The contract between a {@linkcode Network} and its driver, and the network's saved record.
 * A driver turns validated options into kernel objects (`create`/`destroy`) and creates each
 * container's interfaces (`link`/`unlink`). Drivers are synchronous: every kernel call is.
 *
 * @module
 */
import type { Interface } from "../network/interface.ts";
import type { Pool } from "../network/ipam.ts";
import type { NetNs } from "../netns/netns.ts";
import type { Rtnl } from "../rtnl/handle.ts";

/** One container's entry in a network record. */
export interface EndpointRecord {
  /** The interfaces handed out. */
  interfaces: Interface[];
  /** Host-side link names the driver made (veth host ends), to remove on unlink. */
  hostLinks: string[];
  /** The namespace the interfaces went into, once known. */
  namespace?: string;
}

/** What a network saves in its state file. */
export interface NetworkRecord {
  /** Format version. */
  version: 1;
  /** Network name. */
  name: string;
  /** Driver type (canonical name). */
  type: string;
  /** Random id, 12 hex digits. */
  id: string;
  /** ISO creation time. */
  created: string;
  /** The driver's normalized configuration. */
  config: Record<string, unknown>;
  /** Address pools by family. */
  pools: { v4?: Pool; v6?: Pool };
  /** Endpoints by name. */
  endpoints: Record<string, EndpointRecord>;
  /** Incremented by every save: tells processes sharing the network that it changed. */
  generation?: number;
}

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
}

/** What drivers get besides the record. */
export interface DriverContext {
  /** The host namespace's handle. */
  host: Rtnl;
  /** Subnets already used by other nslink networks. */
  takenSubnets: string[];
  /** Other nslink networks' saved configurations (to refuse a bridge already in use). */
  otherConfigs: Record<string, unknown>[];
}

/** Per-container choices passed to {@linkcode Driver.link}. */
export interface EndpointOptions {
  /** Create the container end directly in this namespace (the fast path). */
  target?: LinkTarget;
  /** A static IPv4 address (no prefix) instead of the next free one. */
  address?: string;
  /** A static IPv6 address (no prefix) instead of the next free one. */
  addressIPv6?: string;
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
  /** Removes an endpoint's host-side objects; succeeds when they are already gone. */
  unlink(ctx: DriverContext, record: NetworkRecord, endpoint: EndpointRecord): void;
}
