/**
 * Garbage collection: reconcile nslink's saved state with the kernel of the namespace it runs
 * in, after crashes (`kill -9`, power loss) or objects removed behind nslink's back.
 *
 * @module
 */
import { getDriver } from "../drivers/registry.ts";
import { parseLinkAlias } from "../drivers/bridge.ts";
import {
  addressOwner,
  deleteNetwork,
  endpointGone,
  forgetEndpoint,
  hostContext,
  ownerName,
  undoEndpoint,
} from "./lifecycle.ts";
import { reconcileFirewall } from "./publish.ts";
import { otherStateDirNetworks } from "../firewall/firewall.ts";
import { definitionOf, fromEarlierBoot } from "./definitions.ts";
import { dropRuntime } from "./restore.ts";
import { isDistributed } from "../drivers/overlay.ts";
import { hostRtnl } from "../model/host.ts";
import { FileStore, LocalStore } from "./store.ts";
import { agentAfterGc } from "./dns_hooks.ts";
import type { NetworkRecord } from "../model/records.ts";
import type { Driver, DriverContext } from "../drivers/driver.ts";

/** Options of {@linkcode gc}. */
export interface GcOptions {
  /** State directory; default `$NSLINK_STATE_DIR` or `/run/nslink`. */
  stateDir?: string;
  /** Where definitions live (see `NetworkOptions.configDir`). */
  configDir?: string;
  /** Only report what would be done; change nothing. */
  dryRun?: boolean;
  /** How long to wait for the state lock (default 10 000 ms). */
  lockTimeoutMs?: number;
}

/** What {@linkcode gc} did (or, with `dryRun`, would do). Each entry is a short description. */
export interface GcReport {
  /** Whether this was a dry run (nothing was changed). */
  dryRun: boolean;
  /** Networks whose interrupted creation or deletion was finished (they are deleted). */
  networks: string[];
  /** Endpoints removed: `NETWORK/ENDPOINT (reason)`. */
  endpoints: string[];
  /** Address reservations freed: `NETWORK/ADDRESS (holder)`. */
  addresses: string[];
  /** Kernel links deleted: `NAME (alias)` or the name. */
  links: string[];
  /** Stray state files and directories removed. */
  files: string[];
  /**
   * Links carrying an nslink alias for a network id this state directory does not know, whose
   * network is alive elsewhere: a link carries its bridge alias (another state directory's
   * network), or one of its links is on a bridge (an overlay network, a bridge adopted with
   * `bridgeName`). `NAME (ALIAS[, on BRIDGE])`. Reported, never touched. (Links of an unknown
   * network with neither are garbage: deleted, and listed in `links`.)
   */
  foreign: string[];
  /**
   * What gc could not do, one entry per failed step (`NETWORK: message`, `NETWORK/ENDPOINT:
   * message`, `firewall: message`): gc reports it and goes on with the rest, so one bad record
   * never keeps it from collecting everything else.
   */
  errors: string[];
}

/**
 * Finds (and unless `dryRun` removes) what a network spanning hosts keeps in its shared store
 * for this host that this host's own state no longer explains (an endpoint registered by a
 * link that was killed and undone since). Registered by the driver's network code
 * (network/overlay.ts); called by {@linkcode gc} under the exclusive lock, after the local
 * records were collected.
 */
export type StoreSweep = (
  store: FileStore,
  record: NetworkRecord,
  dryRun: boolean,
) => Promise<string[]>;

const sweeps = new Map<string, StoreSweep>();

/**
 * Registers the shared-store sweep of a network type (see {@linkcode StoreSweep}).
 *
 * @example
 * ```ts ignore
 * registerStoreSweep("overlay", sweepOverlay);
 * ```
 * @param type The network type.
 * @param sweep The sweep.
 */
export function registerStoreSweep(type: string, sweep: StoreSweep): void {
  sweeps.set(type, sweep);
}

/** The name of a bridge driver's host end (`nslh` and 8 hex digits: see drivers/bridge.ts). */
const UNTAGGED_PORT = /^nslh[0-9a-f]{8}$/;

/**
 * Reconciles the state directory with the kernel of the calling thread's network namespace:
 * - finishes interrupted `newNetwork`/`delete()` calls (the network is deleted, with its
 *   definition);
 * - drops runtime state of an earlier boot (network and endpoint records whose boot id is not
 *   the running one: their kernel objects and owners are gone); a defined network stays defined,
 *   made again on first use; writes the missing definition of a ready network (made by a
 *   version that kept none);
 * - undoes interrupted `link()` calls (their links are deleted, addresses freed, records removed);
 * - removes endpoint records whose kernel objects are gone (a namespace deleted without
 *   `unlink`, links removed by hand), freeing their addresses; finishes pending releases;
 * - frees address reservations no endpoint record holds;
 * - deletes links tagged with nslink's alias (`nslink:NETWORK_ID:ENDPOINT`) that belong to no
 *   endpoint record: of a known network, or of an unknown one that shows no sign of life
 *   (no link carries its bridge alias, none of its links is on a bridge); and a fast-path
 *   container's bridge port (`nslh…`, untagged) that no endpoint record names, on a bridge a
 *   known network made (not one it adopted: another state directory may share it) or on none;
 * - puts the bridge port of a live endpoint that publishes ports back in hairpin mode;
 * - releases port claims no endpoint record holds, restores missing ones, and rebuilds nslink's
 *   firewall table from the records (one batch: the maps hold exactly the saved bindings, every
 *   saved network has its chains), when this state directory has a bridge network;
 * - removes temporary files of writers that died, claims held by no one, and data of network ids no
 *   record names;
 * - for networks spanning hosts (`overlay`), releases what their shared store holds for this
 *   host that no local record explains (see {@linkcode registerStoreSweep}).
 *
 * A step that fails (a record it cannot read, a kernel error) is reported in `errors` and gc
 * goes on with the rest: one bad record never keeps the other networks from being collected.
 *
 * It holds the state lock exclusively while it works, so it is safe beside other processes
 * using the same networks (they wait, asynchronously). With `{ dryRun: true }` nothing changes.
 *
 * @example
 * ```ts ignore
 * import { gc } from "./gc.ts";
 * const report = await gc({ dryRun: true });
 * report.endpoints; // e.g. ["blue/c7 (interrupted link)"]
 * await gc(); // do it
 * ```
 * @param options `stateDir`, `dryRun`, `lockTimeoutMs`.
 * @returns What was (or would be) done.
 */
export async function gc(options: GcOptions = {}): Promise<GcReport> {
  const { stateDir, configDir, dryRun = false, lockTimeoutMs } = options;
  if (stateDir !== undefined && typeof stateDir !== "string") {
    throw new TypeError(`Option "stateDir" must be a string, got ${JSON.stringify(stateDir)}`);
  }
  if (typeof dryRun !== "boolean") {
    throw new TypeError(`Option "dryRun" must be a boolean, got ${JSON.stringify(dryRun)}`);
  }
  if (configDir !== undefined && typeof configDir !== "string") {
    throw new TypeError(`Option "configDir" must be a string, got ${JSON.stringify(configDir)}`);
  }
  // Records and claims through the store's contract; the lock, marks, definitions, port claims
  // and the sweep of temporary files on the host's own side (the same directory).
  const local = new LocalStore(new FileStore(stateDir, configDir));
  const store = local.files;
  const report: GcReport = {
    dryRun,
    networks: [],
    endpoints: [],
    addresses: [],
    links: [],
    files: [],
    foreign: [],
    errors: [],
  };
  const lock = await store.lock({ timeoutMs: lockTimeoutMs });
  try {
    const host = hostRtnl();
    const byId = new Map<string, Set<string>>();
    const finished = new Set<string>();
    // The host links every recorded endpoint has (by name, read or not), and the known
    // networks' bridges: for fast-path ports, which carry no alias (see below).
    const expected = new Set<string>();
    const bridges = new Set<string>();
    const fail = (what: string, e: unknown) =>
      report.errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    const collectEndpoint = async (
      record: NetworkRecord,
      ep: string,
      driver: Driver,
      ctx: DriverContext,
    ): Promise<void> => {
      const name = record.name;
      const e = await local.readEndpoint(record, ep);
      if (!e) return;
      let reason: string | undefined;
      if (fromEarlierBoot(e)) reason = "of an earlier boot";
      else if (e.state === "creating") reason = "interrupted link";
      else if (endpointGone(ctx, e, driver, record)) {
        reason = e.state === "releasing" ? "release finished" : "kernel objects gone";
      } else if (e.state === "releasing") reason = "links kept alive after unlink";
      if (!reason) {
        // A live endpoint with ports: its bridge port in hairpin mode, as the firewall is put
        // back from the records below (publish() writes the ports before it sets the mode: a
        // crash between the two left it off). Idempotent: one request.
        if (!dryRun && e.ports?.length && (e.state ?? "linked") === "linked") {
          driver.hairpin?.(ctx, record, ep, e);
        }
        return;
      }
      report.endpoints.push(`${name}/${ep} (${reason})`);
      for (const l of e.hostLinks) {
        if (host.link.find(l)) report.links.push(`${l} (${name}/${ep})`);
      }
      if (dryRun) return;
      const freed = reason === "kernel objects gone" || reason === "release finished" ||
          reason === "of an earlier boot"
        ? await forgetEndpoint(local, record, ep, e)
        : await undoEndpoint(local, driver, ctx, record, ep, e);
      for (const a of freed) report.addresses.push(`${name}/${a} (${ep})`);
    };
    const collectNetwork = async (record: NetworkRecord): Promise<void> => {
      const name = record.name;
      if (fromEarlierBoot(record)) {
        // Runtime state of an earlier boot: its kernel objects and processes are gone. Dropped;
        // a definition stays (the first use makes the network again), except that of a delete
        // the reboot interrupted.
        finished.add(record.id);
        report.networks.push(`${name} (runtime state of an earlier boot)`);
        for (const ep of await local.endpoints(record)) {
          report.endpoints.push(`${name}/${ep} (of an earlier boot)`);
        }
        if (dryRun) return;
        if (record.state === "deleting" && !record.restore) {
          store.definitions.remove(name, record.id);
        }
        dropRuntime(store, record);
        return;
      }
      if (record.state === "creating" || record.state === "deleting") {
        // Under the exclusive lock nobody works on it: it was abandoned midway.
        finished.add(record.id);
        report.networks.push(
          `${name} (interrupted ${record.state === "creating" ? "create" : "delete"})`,
        );
        for (const ep of await local.endpoints(record)) {
          report.endpoints.push(`${name}/${ep} (network deleted)`);
        }
        if (!dryRun) await deleteNetwork(local, record);
        return;
      }
      if (
        (record.state ?? "ready") === "ready" && !store.definitions.read(name) &&
        !isDistributed(getDriver(record.type))
      ) {
        // Made by a version that kept no definitions: kept from now on (its options unknown).
        report.files.push(`definition ${name} (written)`);
        if (!dryRun) store.definitions.write(definitionOf(record, {}));
      }
      // Every endpoint counts as recorded, also one whose record gc cannot read: its links stay.
      const recorded = new Set(await local.endpoints(record));
      byId.set(record.id, recorded);
      const driver = getDriver(record.type);
      // Only a bridge the network made: an adopted one may be shared with another state
      // directory, whose untagged fast-path ports this one's records cannot tell from garbage.
      const { bridgeName, adopted } = record.config as { bridgeName?: unknown; adopted?: unknown };
      if (typeof bridgeName === "string" && adopted !== true) bridges.add(bridgeName);
      for (const ep of recorded) {
        for (const l of driver.hostLinks?.(record, ep) ?? []) expected.add(l);
      }
      const ctx = hostContext();
      for (const ep of recorded) {
        try {
          await collectEndpoint(record, ep, driver, ctx);
        } catch (e) {
          fail(`${name}/${ep}`, e);
        }
      }
      for (const mark of store.releasing(record)) {
        if ((await local.readEndpoint(record, mark))?.state === "releasing") continue;
        report.files.push(`releasing mark rel.${record.id}/${mark} (no such endpoint)`);
        if (!dryRun) store.unmarkReleasing(record, mark);
      }
      for (const a of await local.reserved(record)) {
        const holder = await local.holder(record, a);
        if (holder !== undefined) {
          const ep = await local.readEndpoint(record, ownerName(holder));
          if (ep && addressOwner(ownerName(holder), ep) === holder) continue;
        }
        report.addresses.push(`${name}/${a} (${holder ?? "no holder"}, no endpoint record)`);
        if (!dryRun && holder !== undefined) await local.release(record, a, holder);
      }
    };
    for (const name of await local.networks()) {
      let record;
      try {
        record = await local.readNetwork(name);
      } catch (e) {
        fail(name, e);
        continue;
      }
      if (!record) continue;
      try {
        await collectNetwork(record);
      } catch (e) {
        // One bad record never stops gc: say so, and go on with the next network.
        fail(name, e);
      }
    }
    // Kernel objects tagged as nslink's whose record is gone. An endpoint's link of a network
    // this state directory does not know is garbage only when nothing shows that network is
    // alive elsewhere: a link carrying its bridge alias (another state directory's bridge), or
    // any of its endpoint links still on a bridge (an overlay network, kept in its cluster
    // store; a bridge adopted with `bridgeName`, which carries no alias). A network that died
    // took its bridge with it, and its links with their bridge.
    const links = host.link.list();
    const alive = new Set<string>();
    for (const link of links) {
      const tag = parseLinkAlias(link.alias);
      if (tag && (tag.endpoint === undefined || link.master !== undefined)) {
        alive.add(tag.networkId);
      }
    }
    const names = new Map(links.map((l) => [l.index, l.name]));
    for (const link of links) {
      const tag = parseLinkAlias(link.alias);
      if (!tag?.endpoint) continue; // bridges belong to their network record, kept or deleted above
      const recorded = byId.get(tag.networkId);
      if (!recorded) {
        if (finished.has(tag.networkId)) continue; // deleted with its network above
        if (alive.has(tag.networkId)) {
          const master = link.master === undefined ? undefined : names.get(link.master);
          report.foreign.push(`${link.name} (${link.alias}${master ? `, on ${master}` : ""})`);
          continue;
        }
      } else if (recorded.has(tag.endpoint)) continue; // its record was dealt with above
      report.links.push(`${link.name} (${link.alias}${recorded ? "" : ", network gone"})`);
      if (!dryRun) {
        try {
          host.link.del(link.index);
        } catch (e) {
          if ((e as { code?: string }).code !== "ENODEV") throw e;
        }
      }
    }
    // A fast-path container's bridge port carries no alias (link() makes no request after the
    // create): its name, `nslh` and a hash of its network's id and endpoint, is what tells it.
    // One that no endpoint record names is garbage when it is on a bridge a network of this
    // state directory made (not adopted), or on no bridge (its network died with its bridge); on another
    // bridge it is another state directory's (or an overlay's), left alone as `foreign`.
    // Another state directory may have adopted a bridge this one made: the host links its
    // records name (read only when an untagged port is about to go) are its, not garbage.
    let others: Set<string> | undefined;
    const othersPorts = () => others ??= hostLinksOf(otherStateDirNetworks(store.location));
    for (const link of links) {
      if (link.alias !== undefined || link.kind !== "veth" || !UNTAGGED_PORT.test(link.name)) {
        continue;
      }
      if (expected.has(link.name)) continue;
      const master = link.master === undefined ? undefined : names.get(link.master);
      if (master !== undefined && (!bridges.has(master) || othersPorts().has(link.name))) {
        report.foreign.push(`${link.name} (on ${master})`);
        continue;
      }
      report.links.push(
        `${link.name} (no endpoint record, ${master ? `on ${master}` : "network gone"})`,
      );
      if (!dryRun) {
        try {
          host.link.del(link.index);
        } catch (e) {
          if ((e as { code?: string }).code !== "ENODEV") throw e;
        }
      }
    }
    // What shared stores keep for this host that its own state no longer explains.
    for (const name of store.networks()) {
      const record = store.readNetwork(name);
      const sweep = record && (record.state ?? "ready") === "ready"
        ? sweeps.get(record.type)
        : undefined;
      if (!record || !sweep) continue;
      try {
        report.endpoints.push(...await sweep(store, record, dryRun));
      } catch (e) {
        fail(`${name} (shared store)`, e);
      }
    }
    // The firewall as the saved state says: port claims, then the whole table in one batch.
    try {
      report.files.push(...reconcileFirewall(store, dryRun));
    } catch (e) {
      fail("firewall", e);
    }
    try {
      report.files.push(...store.sweep(dryRun));
    } catch (e) {
      fail("state files", e);
    }
  } finally {
    lock.release();
  }
  // The host agent: started again while any network exists (after kill -9, a reboot of its
  // process), stopped when none does.
  if (!dryRun) await agentAfterGc(store.location);
  return report;
}

/** The host links (by name) that the endpoints of `records` have, as their drivers name them. */
function hostLinksOf(records: NetworkRecord[]): Set<string> {
  const out = new Set<string>();
  for (const record of records) {
    let driver: Driver;
    try {
      driver = getDriver(record.type);
    } catch {
      continue; // a driver this process does not know: its links are not bridge ports of ours
    }
    for (const ep of Object.keys(record.endpoints ?? {})) {
      for (const l of driver.hostLinks?.(record, ep) ?? []) out.add(l);
    }
  }
  return out;
}
