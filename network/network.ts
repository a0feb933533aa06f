/**
 * libnetwork's `Network`: a named network of a driver type, whose state (configuration, address
 * pools, endpoints) is saved under a state directory and guarded by a file lock, so that several
 * processes can link containers to it at once and a later process can reopen it.
 *
 * @module
 */
import type { Driver, DriverContext, LinkTarget, NetworkRecord } from "../drivers/driver.ts";
import { getDriver } from "../drivers/registry.ts";
import { hostRtnl } from "./host.ts";
import type { Interface } from "./interface.ts";
import { createdIn, knownNames, noteNamespace } from "./internal.ts";
import { releaseOwner } from "./ipam.ts";
import type { Namespace } from "./namespace.ts";
import {
  endpointsKind,
  loadRecord,
  NETWORKS,
  recordStamp,
  removeRecord,
  saveEndpoint,
  saveNetwork,
} from "./records.ts";
import { StateStore } from "./state.ts";

/** Options of {@linkcode newNetwork}: the driver's options, plus where state lives. */
export interface NetworkOptions {
  /** State directory; default `$NSLINK_STATE_DIR` or `/run/nslink`. */
  stateDir?: string;
  /** Driver options, e.g. `subnet`, `gateway`, `subnetIPv6`, `bridgeName`, `mtu` for `bridge`. */
  [option: string]: unknown;
}

/** Options of {@linkcode Network.link}. */
export interface LinkOptions {
  /**
   * Create the container end directly inside this namespace, already named (`eth0`, …), so
   * that `addInterface` only configures it: no move and no rename (the fast path).
   */
  namespace?: Namespace;
  /** A static IPv4 address (no prefix) instead of the next free one, like `docker run --ip`. */
  address?: string;
  /** A static IPv6 address (no prefix), like `docker run --ip6`. */
  addressIPv6?: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function checkName(name: string, what: string): string {
  if (typeof name !== "string" || !NAME_RE.test(name)) {
    throw new TypeError(
      `Invalid ${what} "${name}": 1 to 64 characters of letters, digits, "_", "." and "-", starting with a letter or digit`,
    );
  }
  return name;
}

function randomId(): string {
  const b = new Uint8Array(6);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function context(store?: StateStore): DriverContext {
  const ctx: DriverContext = { host: hostRtnl(), takenSubnets: [], otherConfigs: [] };
  for (const other of store?.list(NETWORKS) ?? []) {
    const r = store!.read<NetworkRecord>(NETWORKS, other);
    if (!r) continue;
    if (r.pools.v4) ctx.takenSubnets.push(r.pools.v4.subnet);
    if (r.pools.v6) ctx.takenSubnets.push(r.pools.v6.subnet);
    ctx.otherConfigs.push(r.config);
  }
  return ctx;
}

/**
 * A network, as libnetwork's `Network`: `name`, `type`, and `link()` to hand out a container's
 * interfaces. Get one from {@linkcode newNetwork} or {@linkcode openNetwork}.
 *
 * @example
 * ```ts ignore
 * const network = await newNetwork("bridge", "blue", { subnet: "198.51.100.0/24" });
 * const ifaces = await network.link("c1");
 * await network.unlink("c1");
 * await network.delete();
 * ```
 */
export class Network implements AsyncDisposable {
  /** The network's name. */
  readonly name: string;
  /** The driver type, e.g. `bridge`. */
  readonly type: string;
  /** A random id made at creation. */
  readonly id: string;
  #driver: Driver;
  #store: StateStore;
  #owned: boolean;
  #record: NetworkRecord;
  /** The saved state's stamp when `#record` was loaded or saved; `undefined`: load it again. */
  #stamp: string | undefined;

  private constructor(record: NetworkRecord, store: StateStore, owned: boolean) {
    this.name = record.name;
    this.type = record.type;
    this.id = record.id;
    this.#driver = getDriver(record.type);
    this.#store = store;
    this.#owned = owned;
    this.#record = record;
  }

  /**
   * Wraps a saved record; used by {@linkcode newNetwork} and {@linkcode openNetwork}.
   *
   * @param record The saved record.
   * @param store Where it is saved.
   * @param owned Whether disposing of the object deletes the network.
   * @returns The network object.
   */
  static fromRecord(record: NetworkRecord, store: StateStore, owned: boolean): Network {
    return new Network(record, store, owned);
  }

  /** The driver's normalized configuration, as saved at creation. */
  get config(): Readonly<Record<string, unknown>> {
    return structuredClone(this.#record.config);
  }

  /** The IPv4 subnet, e.g. `198.51.100.0/24`; empty when the network has none. */
  get subnet(): string {
    return this.#record.pools.v4?.subnet ?? "";
  }

  /** The IPv4 gateway; empty when none. */
  get gateway(): string {
    return this.#record.pools.v4?.gateway ?? "";
  }

  /** The IPv6 subnet; empty when none. */
  get subnetIPv6(): string {
    return this.#record.pools.v6?.subnet ?? "";
  }

  /** The IPv6 gateway; empty when none. */
  get gatewayIPv6(): string {
    return this.#record.pools.v6?.gateway ?? "";
  }

  /** The state directory this network is saved in. */
  get stateDir(): string {
    return this.#store.dir;
  }

  /**
   * The names of the linked endpoints (containers), read from the saved state.
   *
   * @example
   * ```ts ignore
   * network.endpoints(); // ["c1", "c2"]
   * ```
   * @returns The names, sorted.
   */
  endpoints(): string[] {
    return this.#store.withLock(() =>
      // No network file: the network is gone, whatever endpoint files may be left over.
      this.#store.stamp(NETWORKS, this.name) === undefined
        ? []
        : this.#store.list(endpointsKind(this.name))
    );
  }

  /**
   * Allocates addresses and creates the interfaces of one container (for `bridge`: a veth pair
   * with the host end on the bridge, up). Hand them to `Namespace.addInterface`. With
   * `{ namespace }`, the container end is created directly inside that namespace. Either
   * completes or leaves nothing behind (no link, no address taken, no record).
   *
   * @example
   * ```ts ignore
   * const ifaces = await network.link("c1");                    // seed path
   * const fast = await network.link("c2", { namespace: ns2 });  // fast path
   * ```
   * @param name The container (endpoint) name, unique in this network.
   * @param options `namespace` for the fast path.
   * @returns The container's interfaces (none for `null` and `host`).
   */
  link(name: string, options: LinkOptions = {}): Promise<Interface[]> {
    try {
      return Promise.resolve(this.#link(name, options));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #link(name: string, options: LinkOptions): Interface[] {
    checkName(name, "endpoint name");
    const ns = options.namespace;
    let target: LinkTarget | undefined;
    if (ns !== undefined) {
      const rtnl = ns.rtnl();
      const taken = new Set(ns.interfaces.map((i) => i.dstName));
      const known = knownNames.get(ns);
      const inKernel = (n: string) => taken.has(n) || rtnl.link.find(n) !== undefined;
      // In a namespace nslink made, it knows every name: no need to ask the kernel.
      target = {
        netns: ns.netns,
        rtnl,
        nameInUse: known ? (n) => known.has(n) : inKernel,
        inKernel,
      };
    }
    const ep = this.#store.withLock(() =>
      this.#update((record) => {
        if (record.endpoints[name]) {
          throw new TypeError(`Endpoint "${name}" is already linked to network "${this.name}"`);
        }
        const ctx = context();
        const ep = this.#driver.link(ctx, record, name, {
          ...(target ? { target } : {}),
          ...(options.address !== undefined ? { address: options.address } : {}),
          ...(options.addressIPv6 !== undefined ? { addressIPv6: options.addressIPv6 } : {}),
        });
        record.endpoints[name] = ep;
        return [ep, name, () => this.#driver.unlink(ctx, record, { ...ep, namespace: undefined })];
      })
    );
    for (const iface of ep.interfaces) {
      if (ns !== undefined) {
        createdIn.set(iface, ns.path);
        knownNames.get(ns)?.add(iface.dstName);
      }
      noteNamespace.set(iface, (path) => this.#noteNamespace(name, path));
    }
    return ep.interfaces;
  }

  #noteNamespace(name: string, path: string): void {
    this.#store.withLock(() =>
      this.#update((record) => {
        const ep = record.endpoints[name];
        if (!ep) return [undefined];
        ep.namespace = path;
        return [undefined, name];
      }, true)
    );
  }

  /**
   * Runs `change` on the current record under the lock and saves the endpoint it names (one
   * small file). The loaded record is kept between calls and loaded again only when the saved
   * state changed (another process wrote it). When `change` or the save fails, the kept copy is
   * dropped, and `undo` (if given) reverts kernel work.
   */
  #update<T>(
    change: (record: NetworkRecord) => [T, string?, (() => void)?],
    missingOk = false,
  ): T {
    const stamp = recordStamp(this.#store, this.name);
    if (stamp === undefined) {
      if (missingOk) return undefined as T;
      throw new Error(
        `Network "${this.name}" does not exist in ${JSON.stringify(this.#store.dir)}`,
      );
    }
    if (stamp !== this.#stamp) {
      this.#record = this.#read();
      this.#stamp = stamp;
    }
    let undo: (() => void) | undefined;
    try {
      const [result, endpoint, revert] = change(this.#record);
      undo = revert;
      if (endpoint !== undefined) {
        saveEndpoint(this.#store, this.#record, endpoint);
        // Under the lock no one else wrote since: the stamp is the generation just saved.
        this.#stamp = String(this.#record.generation);
      }
      return result;
    } catch (e) {
      this.#stamp = undefined;
      if (undo) {
        try {
          undo();
        } catch { /* report the first error */ }
      }
      throw e;
    }
  }

  /**
   * Removes a container's interfaces and frees its addresses. Succeeds when the container is
   * not linked (any more). When its namespace was deleted first, its veth pairs are already
   * going away with it, and no per-link delete (with its ~20 ms kernel wait) is made.
   *
   * @example
   * ```ts ignore
   * await ns.delete();
   * await network.unlink("c1"); // no per-link wait
   * ```
   * @param name The container (endpoint) name.
   */
  unlink(name: string): Promise<void> {
    try {
      checkName(name, "endpoint name");
      this.#store.withLock(() =>
        this.#update((record) => {
          const ep = record.endpoints[name];
          if (!ep) return [undefined];
          this.#driver.unlink(context(), record, ep);
          this.#release(record, name);
          return [undefined, name];
        }, true)
      );
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Unlinks every container, removes the network's kernel objects (the bridge) and its saved
   * state. Succeeds when the network is already gone.
   *
   * @example
   * ```ts ignore
   * await network.delete();
   * ```
   */
  delete(): Promise<void> {
    try {
      this.#store.withLock(() => {
        const record = loadRecord(this.#store, this.name);
        if (!record) return;
        const ctx: DriverContext = context();
        for (const [name, ep] of Object.entries(record.endpoints)) {
          this.#driver.unlink(ctx, record, ep);
          this.#release(record, name);
        }
        this.#driver.destroy(ctx, record);
        removeRecord(this.#store, this.name);
        this.#stamp = undefined;
      });
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Deletes the network if this object created it (for `await using`); otherwise nothing. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#owned ? this.delete() : Promise.resolve();
  }

  #read(): NetworkRecord {
    const record = loadRecord(this.#store, this.name);
    if (!record) {
      throw new Error(
        `Network "${this.name}" does not exist in ${JSON.stringify(this.#store.dir)}`,
      );
    }
    return record;
  }

  #release(record: NetworkRecord, name: string): void {
    if (record.pools.v4) releaseOwner(record.pools.v4, name);
    if (record.pools.v6) releaseOwner(record.pools.v6, name);
    delete record.endpoints[name];
  }
}

/**
 * Creates a network of a driver type (`bridge`/`simplebridge`, `null`, `host`) and saves it.
 * Input is checked before the kernel is touched: a duplicate name, an overlapping subnet, a
 * gateway outside its subnet or an invalid MTU is refused. On failure nothing is left behind.
 *
 * @example
 * ```ts ignore
 * const network = await newNetwork("bridge", "blue", {
 *   subnet: "198.51.100.0/24", subnetIPv6: "2001:db8:1::/64",
 * });
 * network.name; // "blue"
 * network.type; // "bridge"
 * ```
 * @param type The driver type.
 * @param name The network's name.
 * @param options Driver options, and `stateDir`.
 * @returns The network.
 */
export function newNetwork(
  type: string,
  name: string,
  options: NetworkOptions = {},
): Promise<Network> {
  try {
    const driver = getDriver(type);
    checkName(name, "network name");
    const { stateDir, ...driverOptions } = options;
    if (stateDir !== undefined && typeof stateDir !== "string") {
      throw new TypeError(`Option "stateDir" must be a string, got ${JSON.stringify(stateDir)}`);
    }
    const store = new StateStore(stateDir);
    const record = store.withLock(() => {
      if (store.read(NETWORKS, name)) throw new TypeError(`Network "${name}" already exists`);
      const ctx = context(store);
      const id = randomId();
      const { config, pools } = driver.configure(ctx, name, id, driverOptions);
      const record: NetworkRecord = {
        version: 1,
        name,
        type: driver.type,
        id,
        created: new Date().toISOString(),
        config,
        pools,
        endpoints: {},
      };
      driver.create(ctx, record);
      try {
        saveNetwork(store, record);
      } catch (e) {
        try {
          driver.destroy(ctx, record);
        } catch { /* report the first error */ }
        throw e;
      }
      return record;
    });
    return Promise.resolve(Network.fromRecord(record, store, true));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Reopens a network from its saved state (made by this or another process).
 *
 * @example
 * ```ts ignore
 * const network = await openNetwork("blue");
 * await network.link("c3");
 * ```
 * @param name The network's name.
 * @param options `stateDir`, when not the default.
 * @returns The network.
 */
export function openNetwork(name: string, options: { stateDir?: string } = {}): Promise<Network> {
  try {
    checkName(name, "network name");
    const store = new StateStore(options.stateDir);
    const record = store.withLock(() => loadRecord(store, name));
    if (!record) {
      throw new Error(`Network "${name}" does not exist in ${JSON.stringify(store.dir)}`);
    }
    return Promise.resolve(Network.fromRecord(record, store, false));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Lists the saved networks' names.
 *
 * @example
 * ```ts ignore
 * listNetworks(); // ["blue", "red"]
 * ```
 * @param options `stateDir`, when not the default.
 * @returns The names, sorted.
 */
export function listNetworks(options: { stateDir?: string } = {}): string[] {
  const store = new StateStore(options.stateDir);
  return store.withLock(() => store.list(NETWORKS));
}
