/**
 * How a network is laid out in the state directory: `networks/NAME.json` holds what changes
 * rarely (driver configuration, subnets, gateways), and `endpoints.NAME/ENDPOINT.json` holds one
 * file per linked container. Linking or unlinking a container writes or removes one small file,
 * whatever the network's size; the address pools' allocations are rebuilt from the endpoint
 * files when a network is loaded.
 *
 * @module
 */
import type { EndpointRecord, NetworkRecord } from "../drivers/driver.ts";
import type { StateStore } from "./state.ts";

/** The kind (directory) of network files. */
export const NETWORKS = "networks";

/**
 * The kind (directory) holding a network's endpoint files.
 *
 * @example
 * ```ts
 * import { endpointsKind } from "./records.ts";
 * endpointsKind("blue"); // "endpoints.blue"
 * ```
 * @param network The network's name.
 * @returns The kind.
 */
export function endpointsKind(network: string): string {
  return `endpoints.${network}`;
}

/**
 * Identifies the saved state of a network; it changes whenever any process writes any part of it.
 *
 * @example
 * ```ts ignore
 * recordStamp(store, "blue"); // undefined when the network does not exist
 * ```
 * @param store The state store.
 * @param network The network's name.
 * @returns The stamp, or `undefined` when the network does not exist.
 */
export function recordStamp(store: StateStore, network: string): string | undefined {
  // Every change re-writes the network file with its generation counter incremented (see
  // saveEndpoint). File times tick too coarsely, and a disk filesystem may reuse an inode at
  // once; the counter changes with every write, by any process.
  const r = store.read<Pick<NetworkRecord, "generation">>(NETWORKS, network);
  return r === undefined ? undefined : String(r.generation ?? 0);
}

/**
 * Loads a network: its file, its endpoint files, and the pools' allocations rebuilt from the
 * endpoints' addresses.
 *
 * @example
 * ```ts ignore
 * const record = loadRecord(store, "blue");
 * Object.keys(record?.endpoints ?? {}); // ["c1", "c2"]
 * ```
 * @param store The state store.
 * @param network The network's name.
 * @returns The record, or `undefined` when the network does not exist.
 */
export function loadRecord(store: StateStore, network: string): NetworkRecord | undefined {
  const record = store.read<NetworkRecord>(NETWORKS, network);
  if (!record) return undefined;
  record.endpoints = {};
  for (const pool of [record.pools.v4, record.pools.v6]) if (pool) pool.allocated = {};
  const kind = endpointsKind(network);
  for (const name of store.list(kind)) {
    const ep = store.read<EndpointRecord>(kind, name);
    if (!ep) continue;
    record.endpoints[name] = ep;
    for (const iface of ep.interfaces) {
      if (iface.address && record.pools.v4) record.pools.v4.allocated[bare(iface.address)] = name;
      if (iface.addressIPv6 && record.pools.v6) {
        record.pools.v6.allocated[bare(iface.addressIPv6)] = name;
      }
    }
  }
  return record;
}

/**
 * Saves a network's own file (without endpoints and allocations, which live in endpoint files).
 *
 * @example
 * ```ts ignore
 * saveNetwork(store, record);
 * ```
 * @param store The state store.
 * @param record The network.
 */
export function saveNetwork(store: StateStore, record: NetworkRecord): void {
  record.generation = (record.generation ?? 0) + 1;
  const pools: NetworkRecord["pools"] = {};
  if (record.pools.v4) pools.v4 = { ...record.pools.v4, allocated: {} };
  if (record.pools.v6) pools.v6 = { ...record.pools.v6, allocated: {} };
  store.write(NETWORKS, record.name, { ...record, pools, endpoints: {} });
}

/**
 * Saves one endpoint's file, or removes it when the record no longer has that endpoint, then
 * the network's own small file, whose new version tells other processes that something changed.
 *
 * @example
 * ```ts ignore
 * saveEndpoint(store, record, "c1");
 * ```
 * @param store The state store.
 * @param record The network.
 * @param endpoint The endpoint's name.
 */
export function saveEndpoint(store: StateStore, record: NetworkRecord, endpoint: string): void {
  const ep = record.endpoints[endpoint];
  if (ep) store.write(endpointsKind(record.name), endpoint, ep);
  else store.remove(endpointsKind(record.name), endpoint);
  saveNetwork(store, record); // small and constant-size: it marks the change for other processes
}

/**
 * Removes everything saved for a network.
 *
 * @example
 * ```ts ignore
 * removeRecord(store, "blue");
 * ```
 * @param store The state store.
 * @param network The network's name.
 */
export function removeRecord(store: StateStore, network: string): void {
  store.removeKind(endpointsKind(network));
  store.remove(NETWORKS, network);
}

function bare(cidr: string): string {
  const slash = cidr.indexOf("/");
  return slash < 0 ? cidr : cidr.slice(0, slash);
}
