/**
 * The records nslink saves for a network and its endpoints: what every layer above the wire
 * (drivers, the firewall, the state store, networks) reads and writes.
 *
 * @module
 */
import type { Interface } from "./interface.ts";
import type { Pool } from "./ipam.ts";
import type { Owner } from "./owner.ts";
import type { PortBinding } from "../netfilter/ports.ts";

/**
 * Where an endpoint stands: `creating` while `link()` makes its kernel objects (an intent,
 * written before them), `linked` once they exist, `releasing` after `unlink()` found its
 * namespace gone while the kernel was still tearing its links down (its addresses stay
 * reserved until the links are confirmed gone).
 */
export type EndpointState = "creating" | "linked" | "releasing";

/** One container's entry in a network record. */
export interface EndpointRecord {
  /** Where it stands; absent means `linked`. */
  state?: EndpointState;
  /** Who is linking it, while `creating`: recovery undoes the attempt only when it is dead. */
  owner?: Owner;
  /** The interfaces handed out (empty while `creating`). */
  interfaces: Interface[];
  /** Host-side link names the driver makes (veth host ends), named before they are made. */
  hostLinks: string[];
  /** The namespace the interfaces went into, once known. */
  namespace?: string;
  /** When `unlink()` left it `releasing` (ms since the epoch). */
  releasedAt?: number;
  /** Published ports (`link(…, { ports })`, `publish()`), chosen host ports filled in. */
  ports?: PortBinding[];
  /** More DNS names of the container on this network (`link(…, { aliases })`). */
  aliases?: string[];
  /**
   * This endpoint's identity, never reused (random per process, plus a counter): made by each
   * `link()` and written in its intent, it names the owner of every claim the endpoint makes
   * (`ENDPOINT@TOKEN`), so that releasing one link of a name never frees what a later link of the
   * same name holds. Absent in records written before it existed (their claims are owned by the
   * bare name).
   */
  token?: string;
  /** The boot it was written in (`/proc/sys/kernel/random/boot_id`): a record of an earlier boot is stale. */
  boot?: string;
}

/**
 * Where a network stands: `creating` while `newNetwork` makes its kernel objects, `ready`, and
 * `deleting` while `delete()` removes them. Unfinished states with a dead owner are finished by
 * `gc()` (or by the next `newNetwork` of that name).
 */
export type NetworkState = "creating" | "ready" | "deleting";

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
  /** Labels (`--label k=v`); absent when none. */
  labels?: Record<string, string>;
  /** Endpoints by name (filled when a whole network is loaded; not saved in its file). */
  endpoints: Record<string, EndpointRecord>;
  /** Where it stands; absent means `ready`. */
  state?: NetworkState;
  /** The boot its runtime state was made in: a record of an earlier boot is stale. */
  boot?: string;
  /** Made again from its definition (after a reboot): undoing an interrupted one keeps the definition. */
  restore?: boolean;
  /** Who is creating or deleting it, while it is `creating` or `deleting`. */
  owner?: Owner;
}

/**
 * Whether a network of this type has a Linux bridge of its own on this host, so that the
 * firewall (masquerade, isolation, `internal`, `icc`) and published ports apply to it: `bridge`
 * networks, and `overlay` networks (their bridge `nslov<VNI>`).
 *
 * @example
 * ```ts
 * import { bridged } from "./records.ts";
 * bridged("overlay"); // true
 * bridged("null"); // false
 * ```
 * @param type The network's driver type.
 * @returns Whether it is bridged.
 */
export function bridged(type: string): boolean {
  return type === "bridge" || type === "overlay";
}
