/**
 * How networks are kept: the {@linkcode Store} interface that `Network`, `newNetwork` and `gc()`
 * talk to, and {@linkcode FileStore}, its implementation on a local state directory.
 *
 * The file layout (all under the state directory, `/run/nslink` by default):
 *
 * ```text
 * .lock                         flock: shared by link/unlink, exclusive for create/delete/gc
 * networks/NAME.json            the network: id, driver config, pools, state (creating|ready|deleting)
 * ep.ID/ENDPOINT.json           one file per endpoint: an intent (state "creating", owner pid,
 *                               the host link names) written BEFORE any kernel object exists,
 *                               then the finished record ("linked"), or "releasing"
 * ip.ID/ADDRESS/ENDPOINT@TOKEN  one claim per reserved address: a directory made with mkdir(2)
 *                               (atomic, exclusive, no lock needed: CNI host-local's idea)
 *                               holding one entry named after its owner, the endpoint and the
 *                               identity of its link; released entry first, then directory
 * rel.ID/ENDPOINT -> releasing-AT  endpoints whose links the kernel is still removing (a mark:
 *                               one symbolic link, made in one step)
 * ```
 *
 * `ID` is the network's random id: data of a network that was deleted and re-created under the
 * same name lives in other directories, so an object still holding the old network can never
 * write into the new one (its writes fail, and it says so).
 *
 * @module
 */
import type { EndpointRecord, NetworkRecord } from "../drivers/driver.ts";
import { pidAlive } from "../model/owner.ts";
import { type LockOptions, type StateLock, StateStore } from "./state.ts";
import { FileWatch } from "./store_watch.ts";
import { configDirFor, Definitions } from "./definitions.ts";

/** The kind (directory) of network files. */
export const NETWORKS = "networks";

/**
 * A network's data is gone: it was deleted (and perhaps re-created, with another id) since the
 * object that tried to use it was opened.
 *
 * @example
 * ```ts ignore
 * try {
 *   await staleNetwork.link("c1");
 * } catch (e) {
 *   if (e instanceof StaleNetworkError) await openNetwork(e.network);
 * }
 * ```
 */
export class StaleNetworkError extends Error {
  /** The network's name. */
  readonly network: string;
  /** The id the caller held. */
  readonly id: string;

  /**
   * Makes the error.
   *
   * @param network The network's name.
   * @param id The id the caller held.
   * @param now The id the network has now, if it was re-created.
   */
  constructor(network: string, id: string, now?: string) {
    super(
      `Network "${network}" (id ${id}) no longer exists` +
        (now ? `: it was deleted and re-created with id ${now}` : ": it was deleted") +
        "; open it again",
    );
    this.name = "StaleNetworkError";
    this.network = network;
    this.id = id;
  }
}

/**
 * The file store's own synchronous face: {@linkcode FileStore}'s methods, each synchronous and
 * atomic on its own (exported with `FileStore`, which implements it; not a second store design:
 * the contract of every store is {@linkcode Store}). `Network` reads and writes records and claims
 * only through the asynchronous {@linkcode Store} contract; it uses this face only for what is
 * this host's own ({@linkcode HostedStore.local}): the state lock (link/unlink hold it shared,
 * network create/delete and `gc()` exclusively), `releasing` marks, the sweep, definitions,
 * published ports' claims and the firewall's view of this host's endpoints, and the snapshot
 * that answers the synchronous `Network.endpoints()`/`endpoint()`.
 */
export interface SyncStore {
  /** Where the state lives, for messages (a directory, a URL). */
  readonly location: string;
  /** Where networks' definitions live, apart from runtime state (see network/definitions.ts). */
  readonly definitions?: Definitions;
  /** Takes the lock without blocking the event loop (see `StateStore.lock`). */
  lock(options?: LockOptions): Promise<StateLock>;
  /** One non-blocking attempt at the lock. */
  tryLock(options?: { shared?: boolean }): StateLock | undefined;
  /** The networks' names, sorted. */
  networks(): string[];
  /** A network's record (with `endpoints` empty), or `undefined`. */
  readNetwork(name: string): NetworkRecord | undefined;
  /** Creates a network's record and its (empty) data; `false` when the name exists. */
  createNetwork(record: NetworkRecord): boolean;
  /** Replaces a network's record (its state changes). */
  writeNetwork(record: NetworkRecord): void;
  /** Removes everything kept for a network (its data first, the record last). */
  removeNetwork(record: NetworkRecord): void;
  /**
   * Creates an endpoint record only if there is none of that name.
   * @returns `false` when one exists. Throws {@linkcode StaleNetworkError} when the network's
   *   data is gone.
   */
  createEndpoint(network: NetworkRecord, name: string, ep: EndpointRecord): boolean;
  /** Replaces an endpoint record; throws {@linkcode StaleNetworkError} when the network is gone. */
  writeEndpoint(network: NetworkRecord, name: string, ep: EndpointRecord): void;
  /** An endpoint record (`releasing` when it is marked so), or `undefined`. */
  readEndpoint(network: NetworkRecord, name: string): EndpointRecord | undefined;
  /**
   * Removes an endpoint record (not its `releasing` mark: see `unmarkReleasing`); with `token`,
   * only the record of that identity, atomically (a newer record of the name stays).
   * @returns `false` when, given a token, the record there has another one.
   */
  removeEndpoint(network: NetworkRecord, name: string, token?: string): boolean;
  /** The endpoints' names, sorted. */
  endpoints(network: NetworkRecord): string[];
  /** Reserves an address (no prefix) for an endpoint; `false` when it is taken. */
  reserve(network: NetworkRecord, address: string, owner: string): boolean;
  /** Frees an address if `owner` holds it; `true` when it did. */
  release(network: NetworkRecord, address: string, owner: string): boolean;
  /** The reserved addresses (no prefix), unsorted. */
  reserved(network: NetworkRecord): string[];
  /** Who holds a reserved address. */
  holder(network: NetworkRecord, address: string): string | undefined;
  /**
   * Marks an endpoint `releasing` (its links are still going away), since `at` (ms since the
   * epoch). One atomic step: from then on {@linkcode Store.readEndpoint} returns the record as
   * `releasing`, with `releasedAt`.
   */
  markReleasing(network: NetworkRecord, name: string, at: number): void;
  /** Removes an endpoint's `releasing` mark, if any. */
  unmarkReleasing(network: NetworkRecord, name: string): void;
  /** The endpoints marked `releasing`. */
  releasing(network: NetworkRecord): string[];
  /**
   * Finds (and unless `dryRun` removes) what no record explains: temporary files of writers
   * that died, claims held by no one (a claimer died between making one and naming itself in
   * it), and data of network ids no network record names. Call under the exclusive lock.
   * @returns What was found, described.
   */
  sweep(dryRun: boolean): string[];
}

const TMP_RE = /\.tmp-(\d+)-[0-9a-f]+$/;
/** A releasing mark's target: `releasing-AT` (or `releasing`, as earlier versions wrote it). */
const RELEASING_RE = /^releasing-(\d+)$/;
const DATA_RE = /^(ep|ip|rel)\.([0-9a-f]+)$/;

/**
 * {@linkcode Store} on a local directory, through {@linkcode StateStore}'s primitives.
 *
 * @example
 * ```ts ignore
 * import { FileStore } from "./store.ts";
 * const store = new FileStore("/run/nslink");
 * store.networks(); // ["blue"]
 * ```
 */
export class FileStore implements SyncStore {
  /** The file primitives underneath. */
  readonly files: StateStore;
  /** The definitions that go with this state directory (see network/definitions.ts). */
  readonly definitions: Definitions;

  /**
   * Opens a state directory (created on first write).
   *
   * @param dir The directory; by default `$NSLINK_STATE_DIR` or `/run/nslink`.
   * @param configDir Where definitions live; by default `$NSLINK_CONFIG_DIR`, else
   *   `/var/lib/nslink` for the default state directory and `DIR.config` for another one.
   */
  constructor(dir?: string, configDir?: string) {
    this.files = new StateStore(dir);
    this.definitions = new Definitions(configDirFor(this.files.dir, configDir));
  }

  /** The state directory. */
  get location(): string {
    return this.files.dir;
  }

  /** See {@linkcode Store.lock}. @param options Shared or not, and the timeout. @returns The lock. */
  lock(options?: LockOptions): Promise<StateLock> {
    return this.files.lock(options);
  }

  /** See {@linkcode Store.tryLock}. @param options Shared or not. @returns The lock or nothing. */
  tryLock(options?: { shared?: boolean }): StateLock | undefined {
    return this.files.tryLock(options);
  }

  /** See {@linkcode Store.networks}. @returns The names. */
  networks(): string[] {
    return this.files.list(NETWORKS);
  }

  /** See {@linkcode Store.readNetwork}. @param name The name. @returns The record. */
  readNetwork(name: string): NetworkRecord | undefined {
    const r = this.files.read<NetworkRecord>(NETWORKS, name);
    if (r) r.endpoints = {};
    return r;
  }

  /** See {@linkcode Store.createNetwork}. @param record The record. @returns Whether created. */
  createNetwork(record: NetworkRecord): boolean {
    const kinds = dataKinds(record.id);
    for (const k of kinds) this.files.makeKind(k);
    const made = this.files.create(NETWORKS, record.name, fileOf(record));
    if (!made) {
      // Another record holds the name: the directories just made are not ours to keep unless
      // they already belonged to that record (same id: practically impossible).
      if (this.files.read<NetworkRecord>(NETWORKS, record.name)?.id !== record.id) {
        for (const k of kinds) this.files.removeKind(k);
      }
    }
    return made;
  }

  /** See {@linkcode Store.writeNetwork}. @param record The record. */
  writeNetwork(record: NetworkRecord): void {
    this.files.write(NETWORKS, record.name, fileOf(record));
  }

  /** See {@linkcode Store.removeNetwork}. @param record The record. */
  removeNetwork(record: NetworkRecord): void {
    for (const k of dataKinds(record.id)) this.files.removeKind(k);
    // Temporary files of this network's record (a writer killed before its rename).
    for (const e of this.files.entries(NETWORKS)) {
      if (e.startsWith(`${record.name}.json.tmp-`)) this.files.removeEntry(NETWORKS, e);
    }
    if (this.files.read<NetworkRecord>(NETWORKS, record.name)?.id === record.id) {
      this.files.remove(NETWORKS, record.name);
    }
  }

  /**
   * See {@linkcode Store.createEndpoint}.
   * @param network The network. @param name The endpoint. @param ep The record.
   * @returns Whether created.
   */
  createEndpoint(network: NetworkRecord, name: string, ep: EndpointRecord): boolean {
    try {
      return this.files.create(`ep.${network.id}`, name, ep, { mkdir: false });
    } catch (e) {
      throw this.#stale(network, e);
    }
  }

  /** See {@linkcode Store.writeEndpoint}. @param network The network. @param name The endpoint. @param ep The record. */
  writeEndpoint(network: NetworkRecord, name: string, ep: EndpointRecord): void {
    try {
      this.files.write(`ep.${network.id}`, name, ep, { mkdir: false });
    } catch (e) {
      throw this.#stale(network, e);
    }
  }

  /** See {@linkcode Store.readEndpoint}. @param network The network. @param name The endpoint. @returns The record. */
  readEndpoint(network: NetworkRecord, name: string): EndpointRecord | undefined {
    const ep = this.files.read<EndpointRecord>(`ep.${network.id}`, name);
    if (ep && (ep.state ?? "linked") === "linked") {
      // A linked record with a releasing mark is releasing (unlink() writes only the mark).
      const mark = this.files.claimant(`rel.${network.id}`, name);
      if (mark !== undefined) {
        ep.state = "releasing";
        const at = RELEASING_RE.exec(mark);
        if (at) ep.releasedAt = Number(at[1]);
      }
    }
    return ep;
  }

  /**
   * See {@linkcode Store.removeEndpoint}.
   * @param network The network. @param name The endpoint. @param token Only this identity's.
   * @returns Whether the record is gone (removed, or absent).
   */
  removeEndpoint(network: NetworkRecord, name: string, token?: string): boolean {
    if (token === undefined) {
      this.files.remove(`ep.${network.id}`, name);
      return true;
    }
    return this.files.removeIf<EndpointRecord>(
      `ep.${network.id}`,
      name,
      (e) => e.token === token,
    ) !== "kept";
  }

  /** See {@linkcode Store.endpoints}. @param network The network. @returns The names. */
  endpoints(network: NetworkRecord): string[] {
    return this.files.list(`ep.${network.id}`);
  }

  /**
   * See {@linkcode Store.reserve}.
   * @param network The network. @param address The address. @param owner The endpoint.
   * @returns Whether reserved.
   */
  reserve(network: NetworkRecord, address: string, owner: string): boolean {
    try {
      return this.files.claim(`ip.${network.id}`, address, owner);
    } catch (e) {
      throw this.#stale(network, e);
    }
  }

  /**
   * See {@linkcode Store.release}.
   * @param network The network. @param address The address. @param owner The endpoint.
   * @returns Whether freed.
   */
  release(network: NetworkRecord, address: string, owner: string): boolean {
    return this.files.unclaim(`ip.${network.id}`, address, owner);
  }

  /** See {@linkcode Store.reserved}. @param network The network. @returns The addresses. */
  reserved(network: NetworkRecord): string[] {
    return this.files.claims(`ip.${network.id}`);
  }

  /** See {@linkcode Store.holder}. @param network The network. @param address The address. @returns The endpoint. */
  holder(network: NetworkRecord, address: string): string | undefined {
    return this.files.claimant(`ip.${network.id}`, address);
  }

  /**
   * See {@linkcode Store.markReleasing}: a symbolic link `rel.ID/ENDPOINT -> releasing-AT`.
   * @param network The network. @param name The endpoint. @param at Since when (ms).
   */
  markReleasing(network: NetworkRecord, name: string, at: number): void {
    try {
      // A mark, not a claim: one atomic step, so no crash leaves half of one (which would make
      // the record look linked again).
      this.files.mark(`rel.${network.id}`, name, `releasing-${Math.trunc(at)}`);
    } catch (e) {
      throw this.#stale(network, e);
    }
  }

  /** See {@linkcode Store.unmarkReleasing}. @param network The network. @param name The endpoint. */
  unmarkReleasing(network: NetworkRecord, name: string): void {
    this.files.unmark(`rel.${network.id}`, name);
  }

  /** See {@linkcode Store.releasing}. @param network The network. @returns The endpoints. */
  releasing(network: NetworkRecord): string[] {
    return this.files.claims(`rel.${network.id}`);
  }

  /** See {@linkcode Store.sweep}. @param dryRun Only report. @returns What was found. */
  sweep(dryRun: boolean): string[] {
    const found: string[] = [];
    const ids = new Set<string>();
    for (const name of this.networks()) {
      const id = this.files.read<NetworkRecord>(NETWORKS, name)?.id;
      if (id) ids.add(id);
    }
    for (const kind of this.files.kinds()) {
      const data = DATA_RE.exec(kind);
      if (data && !ids.has(data[2])) {
        found.push(`state ${kind}/ (no network has id ${data[2]})`);
        if (!dryRun) this.files.removeKind(kind);
        continue;
      }
      const claims = (data && data[1] !== "ep") || kind.startsWith("ports.");
      for (const entry of this.files.entries(kind)) {
        const tmp = TMP_RE.exec(entry);
        if (!tmp && claims && this.files.claimant(kind, entry) === undefined) {
          // A claim with no owner entry: its claimer died between its two steps.
          found.push(`claim ${kind}/${entry} (held by no one)`);
          if (!dryRun) this.files.removeEntry(kind, entry);
          continue;
        }
        if (!tmp || pidAlive(Number(tmp[1]))) continue;
        found.push(`temporary file ${kind}/${entry}`);
        if (!dryRun) this.files.removeEntry(kind, entry);
      }
    }
    return found;
  }

  #stale(network: NetworkRecord, e: unknown): unknown {
    if ((e as { code?: string } | null)?.code !== "ENOENT") return e;
    const now = this.files.read<NetworkRecord>(NETWORKS, network.name)?.id;
    return new StaleNetworkError(network.name, network.id, now !== network.id ? now : undefined);
  }
}

function dataKinds(id: string): string[] {
  return [`ep.${id}`, `ip.${id}`, `rel.${id}`];
}

/** What a network's own file holds: everything but the endpoints and pool allocations. */
function fileOf(record: NetworkRecord): NetworkRecord {
  const pools: NetworkRecord["pools"] = {};
  if (record.pools.v4) pools.v4 = { ...record.pools.v4, allocated: {} };
  if (record.pools.v6) pools.v6 = { ...record.pools.v6, allocated: {} };
  return { ...record, pools, endpoints: {} };
}

/** One change to an endpoint record, as {@linkcode Store.watch} reports it. */
export interface EndpointChange {
  /** The network's name. */
  network: string;
  /** The network's id (a network re-created under the same name has another). */
  networkId: string;
  /** The endpoint's name. */
  endpoint: string;
  /** The record as it is now (read when the change was seen); absent: removed. */
  record?: EndpointRecord;
  /**
   * The endpoint's addresses now (IPv4 and IPv6, without prefix), what a name server answers
   * for it; empty when it is removed or not linked (yet).
   */
  addresses: string[];
  /** For a network spanning hosts: the host the endpoint lives on (its underlay address). */
  host?: string;
}

/**
 * The addresses of an endpoint record (linked ones only), without prefix.
 *
 * @example
 * ```ts ignore
 * endpointAddresses(record); // ["198.51.100.2", "2001:db8:1::2"]
 * ```
 * @param ep The record, or nothing.
 * @returns The addresses.
 */
export function endpointAddresses(ep: EndpointRecord | undefined): string[] {
  if (!ep || (ep.state ?? "linked") !== "linked") return [];
  const out: string[] = [];
  for (const i of ep.interfaces) {
    for (const a of [i.address, i.addressIPv6]) if (a) out.push(a.split("/")[0]);
  }
  return out;
}

/** A running {@linkcode Store.watch}. */
export interface StoreWatch {
  /** Resolves once the watch is in place (changes after this are reported). */
  readonly ready: Promise<void>;
  /** Stops it; resolves once no more changes will be reported. */
  stop(): Promise<void>;
}

/** What {@linkcode Store.claim} did: all of it, or nothing and what was in the way. */
export type ClaimResult =
  | { claimed: true }
  | { claimed: false; endpointExists: boolean; taken: string[] };

/**
 * The one contract of a place that keeps networks, their endpoints and their address claims:
 * asynchronous, so that a store across the network (etcd) fits it as well as the local files.
 *
 * - `create*` and `reserve` are atomic on the absence of their key (file: `O_EXCL`/`mkdir`;
 *   etcd: a transaction comparing the key's create revision with 0): two writers never both
 *   succeed.
 * - Claims (`reserve`) are never under a lease or a TTL: ownership of an address survives any
 *   outage; only a host's reachability may come and go with its liveness (see
 *   `network/overlay_host.ts`).
 * - {@linkcode Store.watch} reports changes of endpoint records (all networks, or one), for
 *   consumers that must keep something in step: DNS names, other hosts' forwarding entries.
 * - {@linkcode Store.generation} is the synchronous "has anything changed since?" check: a
 *   number that grows with every change this process can know of. For the file store, a change
 *   made by any process is visible the moment its write returned (inotify queues events in the
 *   writer's system call), so a reader that compares generations never answers from stale
 *   state; for etcd, it counts the changes the watch has delivered so far.
 *
 * Implementations: {@linkcode LocalStore} (the state directory, the default; synchronous inside,
 * see {@linkcode SyncStore}) and `EtcdStore` (network/store_etcd.ts; one key per record and per
 * claim).
 *
 * @example
 * ```ts ignore
 * const store: Store = new LocalStore("/run/nslink");
 * const seen = store.generation();
 * const w = store.watch((changes) => console.log(changes), { network: "blue" });
 * await w.ready;
 * // …
 * if (store.generation() !== seen) { /* re-read what you serve *\/ }
 * await w.stop();
 * ```
 */
export interface Store {
  /** Where the state lives, for messages (a directory, a URL). */
  readonly location: string;
  /** The networks' names, sorted. */
  networks(): Promise<string[]>;
  /** A network's record (with `endpoints` empty), or `undefined`. */
  readNetwork(name: string): Promise<NetworkRecord | undefined>;
  /** Creates a network's record; `false` when the name exists. */
  createNetwork(record: NetworkRecord): Promise<boolean>;
  /** Replaces a network's record. */
  writeNetwork(record: NetworkRecord): Promise<void>;
  /** Removes everything kept for a network (its data first, the record last). */
  removeNetwork(record: NetworkRecord): Promise<void>;
  /** Creates an endpoint record only if there is none of that name; `false` when one exists. */
  createEndpoint(network: NetworkRecord, name: string, ep: EndpointRecord): Promise<boolean>;
  /** Replaces an endpoint record. */
  writeEndpoint(network: NetworkRecord, name: string, ep: EndpointRecord): Promise<void>;
  /** An endpoint record, or `undefined`. */
  readEndpoint(network: NetworkRecord, name: string): Promise<EndpointRecord | undefined>;
  /**
   * Removes an endpoint record; with `token`, only the record of that identity, atomically.
   * @returns `false` when, given a token, the record there has another one.
   */
  removeEndpoint(network: NetworkRecord, name: string, token?: string): Promise<boolean>;
  /** The endpoints' names, sorted. */
  endpoints(network: NetworkRecord): Promise<string[]>;
  /** Reserves an address (no prefix) for an owner (`ENDPOINT@TOKEN`); `false` when taken. */
  reserve(network: NetworkRecord, address: string, owner: string): Promise<boolean>;
  /** Frees an address if `owner` holds it; `true` when it did. */
  release(network: NetworkRecord, address: string, owner: string): Promise<boolean>;
  /** The reserved addresses (no prefix), unsorted. */
  reserved(network: NetworkRecord): Promise<string[]>;
  /** Who holds a reserved address. */
  holder(network: NetworkRecord, address: string): Promise<string | undefined>;
  /**
   * Creates an endpoint record and reserves its addresses (no prefix) for `owner`, as one step:
   * all of it, or nothing. On etcd one transaction (the record's and every claim's key compared
   * with absence); on the file store the record, then each claim, undone in reverse when one is
   * in the way. Like `reserve`, never under a lease.
   *
   * @returns `{ claimed: true }`, or what was in the way: the endpoint's name, or the addresses
   *   held by someone else.
   */
  claim(
    network: NetworkRecord,
    name: string,
    ep: EndpointRecord,
    addresses: readonly string[],
    owner: string,
  ): Promise<ClaimResult>;
  /**
   * Reports changes of endpoint records, in batches, until stopped: of every network, or of
   * `options.network` only.
   */
  watch(
    onChange: (changes: EndpointChange[]) => void,
    options?: { network?: string },
  ): StoreWatch;
  /** Grows with every change this process can know of; synchronous and cheap (see above). */
  generation(): number;
}

/**
 * A {@linkcode Store} together with this host's own state, what a `Network` runs on: records and
 * address claims go through the asynchronous contract; `local` is the host's state directory
 * (synchronous, host-local): the state lock, `releasing` marks, definitions, port claims, the
 * firewall's records and the snapshot behind `Network.endpoints()`. For the file store both are
 * the same directory ({@linkcode LocalStore}: `local` is its {@linkcode FileStore}).
 *
 * @example
 * ```ts ignore
 * const store: HostedStore = new LocalStore("/run/nslink");
 * const lock = await store.local.lock({ shared: true });
 * await store.reserve(record, "198.51.100.2", "c1@0a1b");
 * lock.release();
 * ```
 */
export interface HostedStore extends Store {
  /** This host's own state (synchronous): lock, marks, definitions, ports, snapshot reads. */
  readonly local: SyncStore;
}

/**
 * {@linkcode Store} on the local state directory: {@linkcode FileStore}'s synchronous
 * operations behind the asynchronous contract (each promise is already settled: no I/O waits),
 * and a watch through inotify (`inotify_init1`/`inotify_add_watch`/`read` over FFI).
 *
 * @example
 * ```ts ignore
 * import { LocalStore } from "./store.ts";
 * const store = new LocalStore();
 * await store.networks(); // ["blue"]
 * ```
 */
export class LocalStore implements HostedStore {
  /** The synchronous file store underneath. */
  readonly files: FileStore;
  #watch: FileWatch | undefined;

  /**
   * Opens a state directory.
   *
   * @param dir A directory (default `$NSLINK_STATE_DIR` or `/run/nslink`), or a file store.
   */
  constructor(dir?: string | FileStore) {
    this.files = dir instanceof FileStore ? dir : new FileStore(dir);
  }

  /** The state directory. */
  get location(): string {
    return this.files.location;
  }

  /** See {@linkcode HostedStore.local}: the same directory, synchronously. */
  get local(): FileStore {
    return this.files;
  }

  /** See {@linkcode Store.networks}. @returns The names. */
  networks(): Promise<string[]> {
    return settle(() => this.files.networks());
  }

  /** See {@linkcode Store.readNetwork}. @param name The name. @returns The record. */
  readNetwork(name: string): Promise<NetworkRecord | undefined> {
    return settle(() => this.files.readNetwork(name));
  }

  /** See {@linkcode Store.createNetwork}. @param record The record. @returns Whether created. */
  createNetwork(record: NetworkRecord): Promise<boolean> {
    return settle(() => this.files.createNetwork(record));
  }

  /** See {@linkcode Store.writeNetwork}. @param record The record. */
  writeNetwork(record: NetworkRecord): Promise<void> {
    return settle(() => this.files.writeNetwork(record));
  }

  /** See {@linkcode Store.removeNetwork}. @param record The record. */
  removeNetwork(record: NetworkRecord): Promise<void> {
    return settle(() => this.files.removeNetwork(record));
  }

  /** See {@linkcode Store.createEndpoint}. @param network The network. @param name The endpoint. @param ep The record. @returns Whether created. */
  createEndpoint(network: NetworkRecord, name: string, ep: EndpointRecord): Promise<boolean> {
    return settle(() => this.files.createEndpoint(network, name, ep));
  }

  /** See {@linkcode Store.writeEndpoint}. @param network The network. @param name The endpoint. @param ep The record. */
  writeEndpoint(network: NetworkRecord, name: string, ep: EndpointRecord): Promise<void> {
    return settle(() => this.files.writeEndpoint(network, name, ep));
  }

  /** See {@linkcode Store.readEndpoint}. @param network The network. @param name The endpoint. @returns The record. */
  readEndpoint(network: NetworkRecord, name: string): Promise<EndpointRecord | undefined> {
    return settle(() => this.files.readEndpoint(network, name));
  }

  /** See {@linkcode Store.removeEndpoint}. @param network The network. @param name The endpoint. @param token Only this identity's. @returns Whether gone. */
  removeEndpoint(network: NetworkRecord, name: string, token?: string): Promise<boolean> {
    return settle(() => this.files.removeEndpoint(network, name, token));
  }

  /** See {@linkcode Store.endpoints}. @param network The network. @returns The names. */
  endpoints(network: NetworkRecord): Promise<string[]> {
    return settle(() => this.files.endpoints(network));
  }

  /** See {@linkcode Store.reserve}. @param network The network. @param address The address. @param owner The owner. @returns Whether reserved. */
  reserve(network: NetworkRecord, address: string, owner: string): Promise<boolean> {
    return settle(() => this.files.reserve(network, address, owner));
  }

  /** See {@linkcode Store.release}. @param network The network. @param address The address. @param owner The owner. @returns Whether freed. */
  release(network: NetworkRecord, address: string, owner: string): Promise<boolean> {
    return settle(() => this.files.release(network, address, owner));
  }

  /** See {@linkcode Store.reserved}. @param network The network. @returns The addresses. */
  reserved(network: NetworkRecord): Promise<string[]> {
    return settle(() => this.files.reserved(network));
  }

  /** See {@linkcode Store.holder}. @param network The network. @param address The address. @returns The owner. */
  holder(network: NetworkRecord, address: string): Promise<string | undefined> {
    return settle(() => this.files.holder(network, address));
  }

  /**
   * See {@linkcode Store.claim}: the record (exclusively), then each claim; when one is in the
   * way, the claims made are released and the record removed (by its token), in reverse.
   *
   * @param network The network. @param name The endpoint. @param ep The record (with a token).
   * @param addresses The addresses (no prefix). @param owner The claims' owner.
   * @returns What was done.
   */
  claim(
    network: NetworkRecord,
    name: string,
    ep: EndpointRecord,
    addresses: readonly string[],
    owner: string,
  ): Promise<ClaimResult> {
    return settle(() => {
      const files = this.files;
      if (!files.createEndpoint(network, name, ep)) {
        return { claimed: false, endpointExists: true, taken: [] };
      }
      const made: string[] = [];
      try {
        for (const a of addresses) {
          if (files.reserve(network, a, owner)) {
            made.push(a);
            continue;
          }
          for (const m of made.reverse()) files.release(network, m, owner);
          files.removeEndpoint(network, name, ep.token);
          return { claimed: false, endpointExists: false, taken: [a] };
        }
      } catch (e) {
        try {
          for (const m of made.reverse()) files.release(network, m, owner);
          files.removeEndpoint(network, name, ep.token);
        } catch { /* report the first error */ }
        throw e;
      }
      return { claimed: true };
    });
  }

  /**
   * See {@linkcode Store.watch}: inotify on the state directory (records are renamed into
   * place, so a reader never sees half a record).
   *
   * @param onChange Told of each batch of changes.
   * @param options `network`: only that one's endpoints.
   * @returns The running watch.
   */
  watch(
    onChange: (changes: EndpointChange[]) => void,
    options: { network?: string } = {},
  ): StoreWatch {
    const files = this.files;
    const w = new FileWatch(files.location, (entries) => {
      const ids = new Map<string, string>();
      for (const name of files.networks()) {
        const r = files.readNetwork(name);
        if (r) ids.set(r.id, name);
      }
      const changes: EndpointChange[] = [];
      for (const { kind, entry } of entries) {
        const m = /^(ep|rel)\.([0-9a-f]+)$/.exec(kind);
        if (!m) continue;
        const network = ids.get(m[2]);
        if (network === undefined) continue;
        if (options.network !== undefined && network !== options.network) continue;
        const endpoint = entry.replace(/\.json$/, "");
        if (/\.tmp-/.test(endpoint)) continue;
        const r = files.readNetwork(network)!;
        const record = files.readEndpoint(r, endpoint);
        changes.push({
          network,
          networkId: m[2],
          endpoint,
          ...(record ? { record } : {}),
          addresses: endpointAddresses(record),
        });
      }
      if (changes.length) onChange(changes);
    });
    return w;
  }

  /**
   * See {@linkcode Store.generation}: drains this process's inotify queue (one non-blocking
   * `read`); the first call sets the watch up.
   *
   * @returns The generation.
   */
  generation(): number {
    this.#watch ??= new FileWatch(this.files.location);
    return this.#watch.generation();
  }
}

function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}
