/**
 * Garbage collection: reconcile nslink's saved state with the kernel of the namespace it runs
 * in, after crashes (`kill -9`, power loss) or objects removed behind nslink's back.
 *
 * @module
 */
import { getDriver } from "../drivers/registry.ts";
import { parseLinkAlias } from "../drivers/bridge.ts";
import {
  deleteNetwork,
  endpointGone,
  forgetEndpoint,
  storeContext,
  undoEndpoint,
} from "./lifecycle.ts";
import { hostRtnl } from "../model/host.ts";
import { FileStore } from "./store.ts";
import { agentAfterGc } from "./dns_hooks.ts";

/** Options of {@linkcode gc}. */
export interface GcOptions {
  /** State directory; default `$NSLINK_STATE_DIR` or `/run/nslink`. */
  stateDir?: string;
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
}

/**
 * Reconciles the state directory with the kernel of the calling thread's network namespace:
 * - finishes interrupted `newNetwork`/`delete()` calls (the network is deleted);
 * - undoes interrupted `link()` calls (their links are deleted, addresses freed, records removed);
 * - removes endpoint records whose kernel objects are gone (a namespace deleted without
 *   `unlink`, links removed by hand), freeing their addresses; finishes pending releases;
 * - frees address reservations no endpoint record holds;
 * - deletes links tagged with nslink's alias (`nslink:NETWORK_ID:ENDPOINT`) that belong to no
 *   endpoint record: of a known network, or of an unknown one that shows no sign of life
 *   (no link carries its bridge alias, none of its links is on a bridge);
 * - removes temporary files of writers that died, and data of network ids no record names.
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
  const { stateDir, dryRun = false, lockTimeoutMs } = options;
  if (stateDir !== undefined && typeof stateDir !== "string") {
    throw new TypeError(`Option "stateDir" must be a string, got ${JSON.stringify(stateDir)}`);
  }
  if (typeof dryRun !== "boolean") {
    throw new TypeError(`Option "dryRun" must be a boolean, got ${JSON.stringify(dryRun)}`);
  }
  const store = new FileStore(stateDir);
  const report: GcReport = {
    dryRun,
    networks: [],
    endpoints: [],
    addresses: [],
    links: [],
    files: [],
    foreign: [],
  };
  const lock = await store.lock({ timeoutMs: lockTimeoutMs });
  try {
    const host = hostRtnl();
    const byId = new Map<string, Set<string>>();
    const finished = new Set<string>();
    for (const name of store.networks()) {
      const record = store.readNetwork(name);
      if (!record) continue;
      if (record.state === "creating" || record.state === "deleting") {
        // Under the exclusive lock nobody works on it: it was abandoned midway.
        finished.add(record.id);
        report.networks.push(
          `${name} (interrupted ${record.state === "creating" ? "create" : "delete"})`,
        );
        for (const ep of store.endpoints(record)) {
          report.endpoints.push(`${name}/${ep} (network deleted)`);
        }
        if (!dryRun) await deleteNetwork(store, record);
        continue;
      }
      const driver = getDriver(record.type);
      const { ctx } = storeContext(store, record);
      const recorded = new Set<string>();
      byId.set(record.id, recorded);
      for (const ep of store.endpoints(record)) {
        const e = store.readEndpoint(record, ep);
        if (!e) continue;
        recorded.add(ep);
        let reason: string | undefined;
        if (e.state === "creating") reason = "interrupted link";
        else if (endpointGone(ctx, e)) {
          reason = e.state === "releasing" ? "release finished" : "kernel objects gone";
        } else if (e.state === "releasing") reason = "links kept alive after unlink";
        if (!reason) continue;
        report.endpoints.push(`${name}/${ep} (${reason})`);
        for (const l of e.hostLinks) {
          if (host.link.find(l)) report.links.push(`${l} (${name}/${ep})`);
        }
        if (dryRun) continue;
        const freed = reason === "kernel objects gone" || reason === "release finished"
          ? forgetEndpoint(store, record, ep, e)
          : undoEndpoint(store, driver, ctx, record, ep, e);
        for (const a of freed) report.addresses.push(`${name}/${a} (${ep})`);
      }
      for (const mark of store.releasing(record)) {
        if (store.readEndpoint(record, mark)?.state === "releasing") continue;
        report.files.push(`releasing mark rel.${record.id}/${mark} (no such endpoint)`);
        if (!dryRun) store.unmarkReleasing(record, mark);
      }
      for (const a of store.reserved(record)) {
        const holder = store.holder(record, a);
        if (holder !== undefined && store.readEndpoint(record, holder)) continue;
        report.addresses.push(`${name}/${a} (${holder ?? "no holder"}, no endpoint record)`);
        if (!dryRun && holder !== undefined) store.release(record, a, holder);
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
    report.files.push(...store.sweep(dryRun));
  } finally {
    lock.release();
  }
  // The host agent: started again when a DNS-enabled network needs it (after kill -9, a reboot
  // of its process), stopped when none does.
  if (!dryRun) await agentAfterGc(store.location);
  return report;
}
