/**
 * Making a defined network again after a reboot (its runtime state gone, or of an earlier
 * boot): the first use of it (`openNetwork`, and so `link`, `connect`, CNI ADD; `newNetwork`
 * with the same options) makes its bridge, addresses and firewall again from its definition,
 * with the same id, as Podman does. Nothing of the old runtime state is trusted.
 *
 * @module
 */
import type { NetworkRecord } from "../model/records.ts";
import { bridged } from "../model/records.ts";
import { getDriver } from "../drivers/registry.ts";
import { hostRtnl } from "../model/host.ts";
import { currentOwner } from "../model/owner.ts";
import { syncFirewall } from "../firewall/firewall.ts";
import { recordBridges, tellFirewalld } from "../firewall/zone.ts";
import { bootId, fromEarlierBoot, type NetworkDefinition } from "./definitions.ts";
import { deleteNetwork } from "./lifecycle.ts";
import { loadAll, releaseNetworkClaims, stateDirOf } from "./publish.ts";
import type { FileStore, LocalStore, SyncStore } from "./store.ts";

/**
 * Whether a network needs making again from its definition before use: it is defined, and its
 * runtime record is absent, of an earlier boot, or a remake not finished (call it again under
 * the exclusive lock: there, an unfinished remake is one whose process died).
 *
 * @example
 * ```ts ignore
 * needsRestore(store, "blue"); // true after a reboot
 * ```
 * @param store The state.
 * @param name The network.
 * @param read The network's record as the caller has just read it (not read again), if so.
 * @returns The definition when it does.
 */
export function needsRestore(
  store: FileStore,
  name: string,
  read?: { record: NetworkRecord | undefined },
): NetworkDefinition | undefined {
  const def = store.definitions.read(name);
  if (!def) return undefined;
  const record = read ? read.record : store.readNetwork(name);
  if (!record || fromEarlierBoot(record)) return def;
  if (record.id !== def.id) return undefined;
  // A remake in progress, or (under the exclusive lock, which a remake holds throughout) one
  // whose process died: the caller takes the lock and looks again.
  if (record.restore && record.state === "creating") return def;
  return undefined;
}

/**
 * Drops a network's runtime state of an earlier boot: its port claims and its state (records,
 * endpoints, address claims). Its kernel objects went with that boot; its definition stays.
 *
 * @param store The state.
 * @param record The stale record.
 */
export function dropRuntime(store: SyncStore, record: NetworkRecord): void {
  releaseNetworkClaims(store, record);
  store.removeNetwork(record);
}

/**
 * Deletes a network that is defined but not made in this boot (after a reboot): its stale
 * runtime state, if any, and its definition; nothing is made first. Call under the exclusive
 * lock.
 *
 * @example
 * ```ts ignore
 * removeUnmade(store, "blue", "0a1b2c3d4e5f"); // `nslink network rm blue` after a reboot
 * ```
 * @param store The state.
 * @param name The network.
 * @param id Its id (a definition of another id stays).
 */
export function removeUnmade(store: SyncStore, name: string, id: string): void {
  const old = store.readNetwork(name);
  if (old && old.id === id && fromEarlierBoot(old)) dropRuntime(store, old);
  store.definitions?.remove(name, id);
}

/**
 * Makes a defined network again (call under the exclusive lock, after
 * {@linkcode needsRestore} said so): drops stale runtime state, writes a runtime record saying
 * `creating` (with `restore`, so that undoing an interrupted remake keeps the definition),
 * makes the driver's kernel objects and the firewall, and marks it ready.
 *
 * @example
 * ```ts ignore
 * const record = await restoreNetwork(store, store.definitions.read("blue")!);
 * ```
 * @param store The state directory (its records through the store, its definitions and
 *   firewall on the host's side).
 * @param def The definition.
 * @returns The runtime record.
 */
export async function restoreNetwork(
  store: LocalStore,
  def: NetworkDefinition,
): Promise<NetworkRecord> {
  const files = store.files;
  const old = await store.readNetwork(def.name);
  if (old) {
    if (fromEarlierBoot(old)) dropRuntime(files, old);
    else await deleteNetwork(store, old); // an interrupted remake (keeps the definition)
  }
  const driver = getDriver(def.type);
  const ctx = { host: hostRtnl(), takenSubnets: [], otherConfigs: [] };
  const pools: NetworkRecord["pools"] = {};
  if (def.pools.v4) pools.v4 = { ...def.pools.v4, allocated: {} };
  if (def.pools.v6) pools.v6 = { ...def.pools.v6, allocated: {} };
  const record: NetworkRecord = {
    version: 1,
    name: def.name,
    type: def.type,
    id: def.id,
    created: def.created,
    config: structuredClone(def.config),
    pools,
    endpoints: {},
    state: "creating",
    owner: currentOwner(),
    boot: bootId(),
    restore: true,
    ...(def.labels ? { labels: { ...def.labels } } : {}),
  };
  if (!await store.createNetwork(record)) {
    throw new Error(`Network "${def.name}": its runtime record appeared while it was remade`);
  }
  try {
    driver.create(ctx, record);
    if (bridged(record.type)) {
      syncFirewall(loadAll(files), stateDirOf(files));
      await tellFirewalld("bind", recordBridges([record]));
    }
    delete record.state;
    delete record.owner;
    delete record.restore;
    await store.writeNetwork(record);
  } catch (e) {
    try {
      driver.destroy(ctx, record);
    } catch { /* report the first error */ }
    try {
      await store.removeNetwork(record);
    } catch { /* report the first error */ }
    throw new Error(
      `Network "${def.name}" (id ${def.id}) could not be made again from its definition in ${
        JSON.stringify(files.definitions.dir)
      }: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
  return record;
}
