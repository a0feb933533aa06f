/**
 * libnetwork's `Network`: a named network of a driver type, whose state (configuration, address
 * pools, endpoints) is saved under a state directory and guarded by a file lock, so that several
 * processes can link containers to it at once and a later process can reopen it.
 *
 * @module
 */
import type {
  Driver,
  DriverContext,
  EndpointRecord,
  LinkTarget,
  NetworkRecord,
} from "../drivers/driver.ts";
import { getDriver, knownTypes } from "../drivers/registry.ts";
import { isDistributed } from "../drivers/overlay.ts";
import { hostRtnl } from "../model/host.ts";
import type { Interface } from "../model/interface.ts";
import { handoffs, knownNames } from "./internal.ts";
import {
  abandonLinks,
  addressOwner,
  deleteNetwork,
  forgetEndpoint,
  hostContext,
  newToken,
  releaseAddress,
  reserveAddresses,
  scheduleSettle,
  settleReleasing,
  undoEndpoint,
} from "./lifecycle.ts";
import { closeDeletedNamespaces, type Namespace } from "./namespace.ts";
import { IpamExhaustedError } from "../model/ipam.ts";
import { currentOwner, isAlive, working } from "../model/owner.ts";
import { FileStore, type HostedStore, LocalStore, StaleNetworkError } from "./store.ts";
import { bootId, definitionOf, fromEarlierBoot, sameOptions } from "./definitions.ts";
import { dropRuntime, needsRestore, removeUnmade, restoreNetwork } from "./restore.ts";
import type { PortBinding, PortSpec } from "../netfilter/ports.ts";
import { syncFirewall } from "../firewall/firewall.ts";
import { agentAfterCreate, agentAfterDelete, agentAfterLink, agentAfterOpen } from "./dns_hooks.ts";
import { recordBridges, tellFirewalld } from "../firewall/zone.ts";
import {
  chooseBindings,
  claimBindings,
  endpointRemoved,
  loadAll,
  matchBindings,
  publishBindings,
  rebuildClaims,
  releaseBindings,
  stateDirOf,
  unpublishBindings,
  type UnpublishSpec,
} from "./publish.ts";

/** Options of {@linkcode newNetwork}: the driver's options, plus where state lives. */
export interface NetworkOptions {
  /** State directory; default `$NSLINK_STATE_DIR` or `/run/nslink`. */
  stateDir?: string;
  /**
   * Where the network's definition is kept across reboots; default `$NSLINK_CONFIG_DIR`, else
   * `/var/lib/nslink` with the default state directory and `STATEDIR.config` with another one.
   */
  configDir?: string;
  /**
   * How long an operation waits for the state lock held by another process before failing
   * with a `LockTimeoutError` naming it; default 10 000 ms. The wait never blocks the event loop.
   */
  lockTimeoutMs?: number;
  /**
   * Labels (Docker's `--label k=v`): saved with the network, shown by `labels`, matched by
   * `nslink network ls --filter label=…`; they change nothing in the kernel.
   */
  labels?: Record<string, string>;
  /** Driver options, e.g. `subnet`, `gateway`, `subnetIPv6`, `bridgeName`, `mtu` for `bridge`. */
  [option: string]: unknown;
}

/**
 * What a network that spans hosts adds around {@linkcode Network.link} and
 * {@linkcode Network.unlink}: the small, named extension of `Network`'s contract a distributed
 * driver's network (the overlay's) passes to its constructor. `Network` still does the link
 * itself (intent, addresses, driver, ports, firewall, crash recovery); the hooks take and free
 * only what other hosts read (the overlay: its endpoint record and address claims in etcd, under
 * the host's registration).
 *
 * @example
 * ```ts ignore
 * const hooks: SpanningHooks = {
 *   async beforeLink(name, options) {
 *     const address = await claimInStore(name); // e.g. one etcd transaction
 *     return { options: { ...options, address }, undo: () => releaseInStore(name) };
 *   },
 *   async beforeUnlink(name) {
 *     return () => releaseInStore(name); // after the local unlink
 *   },
 *   watch: () => watchStore(),
 *   inUse: () => anyOfThisHostInStore(),
 *   leave: () => leaveStore(), // in place of the local delete
 * };
 * ```
 */
export interface SpanningHooks {
  /**
   * Runs before the local link, under the host's shared state lock (so that `gc()` on this host
   * never sees what it took without the local record): takes what spans hosts.
   *
   * @returns The options to link with (e.g. the addresses taken) and how to give it back when
   *   the local link fails.
   */
  beforeLink(
    name: string,
    options: LinkOptions,
  ): Promise<{ options: LinkOptions; undo(): Promise<void> }>;
  /**
   * Runs before the local unlink (checks it may, e.g. that the endpoint is this host's).
   *
   * @returns What to run after the local unlink (free what spans hosts), if anything.
   */
  beforeUnlink(name: string): Promise<(() => Promise<void>) | undefined>;
  /**
   * {@linkcode Network.watch}: keeps this host's kernel state in step with the other hosts'
   * endpoints (the overlay: FDB and neighbour entries).
   *
   * @returns The running watcher.
   */
  watch(): NetworkWatcher;
  /**
   * {@linkcode Network.deleteIfUnused}: whether a container of this host is linked to the
   * network (the overlay: this host's endpoints in the shared store).
   *
   * @returns `true` when in use (nothing is deleted).
   */
  inUse(): Promise<boolean>;
  /**
   * {@linkcode Network.delete}, in place of the local delete: this host leaves the network
   * (the overlay: unlinks this host's endpoints in the shared store, removes the devices and the
   * local record, deregisters the host; the last host removes the shared configuration).
   * `Network.delete` then tells the agent.
   */
  leave(): Promise<void>;
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
  /**
   * The container end's name inside the namespace (CNI's `CNI_IFNAME`), instead of the next free
   * `eth<N>`. With `namespace`, a name already taken there fails with `EEXIST`.
   */
  dstName?: string;
  /**
   * Ports to publish, like `docker run -p`: `{ hostPort: 8080, port: 80 }` (protocol `tcp`
   * by default), `{ hostPort: 5353, port: 53, protocol: "udp", hostIP: "203.0.113.1" }`,
   * `{ hostPort: 0, port: 443 }` (a free port of `net.ipv4.ip_local_port_range`), ranges
   * `{ hostPort: "8000-8010", port: "80-90" }`. See {@linkcode Network.publish}.
   */
  ports?: PortSpec[];
  /**
   * More names the container answers to on this network's DNS, besides its endpoint name
   * (`docker network connect --alias`): `["www", "api"]`.
   */
  aliases?: string[];
  /**
   * Put the container's bridge port in hairpin mode even when it publishes no port (CNI's
   * `hairpinMode`): traffic it sends that the host turns back to it (a DNAT of its own) can
   * reach it. Default: only a container that publishes ports ({@linkcode LinkOptions.ports},
   * {@linkcode Network.publish}) gets it.
   */
  hairpin?: boolean;
}

/** One linked container as saved: see {@linkcode Network.endpoint}. */
export interface EndpointInfo {
  /** The endpoint (container) name. */
  name: string;
  /** Its interfaces, as handed out (`dstName` is the name inside the namespace). */
  interfaces: Interface[];
  /** Host-side links made for it (the veth host ends). */
  hostLinks: string[];
  /** The namespace its interfaces went into, once known. */
  namespace?: string;
  /** Published ports, chosen host ports filled in (see {@linkcode Network.ports}). */
  ports?: PortBinding[];
  /** Its DNS aliases. */
  aliases?: string[];
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

function checkAliases(aliases: unknown): void {
  if (!Array.isArray(aliases) || aliases.some((a) => typeof a !== "string" || !ALIAS_RE.test(a))) {
    throw new TypeError(
      `Invalid aliases ${
        JSON.stringify(aliases)
      }: a list of DNS names (letters, digits, "-", "_", dots between labels)`,
    );
  }
}

const ALIAS_RE =
  /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*$/;

function randomId(): string {
  const b = new Uint8Array(6);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Options of {@linkcode openNetwork} and {@linkcode listNetworks}. */
export interface OpenOptions {
  /** State directory; default `$NSLINK_STATE_DIR` or `/run/nslink`. */
  stateDir?: string;
  /** See {@linkcode NetworkOptions.configDir}. */
  configDir?: string;
  /**
   * `false`: a defined network whose runtime state is gone (after a reboot) is opened from its
   * definition as it is, for reading (`nslink network ls`), without making it again; default
   * `true`: the first use makes it again.
   */
  restore?: boolean;
  /** See {@linkcode NetworkOptions.lockTimeoutMs}. */
  lockTimeoutMs?: number;
  /** An overlay network's store, `etcd://HOST:PORT[,HOST:PORT…]`: join the network kept there. */
  store?: string;
  /** With `store`: this host's underlay address (its VXLAN tunnel endpoint). */
  advertise?: string;
  /** With `store`: seconds this host's endpoints outlive the process without keepalives. */
  ttl?: number;
}

function checkTimeout(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new TypeError(
      `Option "lockTimeoutMs" must be a number of milliseconds >= 0, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function openStore(stateDir: unknown, configDir?: unknown): LocalStore {
  if (stateDir !== undefined && typeof stateDir !== "string") {
    throw new TypeError(`Option "stateDir" must be a string, got ${JSON.stringify(stateDir)}`);
  }
  if (configDir !== undefined && typeof configDir !== "string") {
    throw new TypeError(`Option "configDir" must be a string, got ${JSON.stringify(configDir)}`);
  }
  return new LocalStore(new FileStore(stateDir, configDir));
}

/**
 * Runs `fn` under the host's state lock: taken at once when it is free (no extra tick), else
 * after waiting for it asynchronously.
 */
async function locked<T>(
  store: HostedStore,
  shared: boolean,
  timeoutMs: number | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  const lock = store.local.tryLock({ shared }) ?? await store.local.lock({ shared, timeoutMs });
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

async function context(store?: HostedStore): Promise<DriverContext> {
  const ctx: DriverContext = { host: hostRtnl(), takenSubnets: [], otherConfigs: [] };
  const made = new Map<string, NetworkRecord>();
  for (const other of await store?.networks() ?? []) {
    const r = await store!.readNetwork(other);
    if (!r) continue;
    made.set(other, r);
    if (r.pools.v4) ctx.takenSubnets.push(r.pools.v4.subnet);
    if (r.pools.v6) ctx.takenSubnets.push(r.pools.v6.subnet);
    ctx.otherConfigs.push(r.config);
  }
  // Networks defined but not made again since a reboot keep their subnets.
  const defs = store?.local.definitions;
  for (const other of defs?.list() ?? []) {
    if (made.has(other) && !fromEarlierBoot(made.get(other)!)) continue;
    const d = defs!.read(other);
    if (d?.pools.v4) ctx.takenSubnets.push(d.pools.v4.subnet);
    if (d?.pools.v6) ctx.takenSubnets.push(d.pools.v6.subnet);
    if (d) ctx.otherConfigs.push(d.config);
  }
  return ctx;
}

/**
 * Where a link should create the container end directly (the fast path): the namespace, a
 * handle inside it, and how to tell whether a name is taken there.
 *
 * @param ns The namespace.
 * @returns The target for `Driver.link`.
 */
export function linkTarget(ns: Namespace, created?: Map<string, number>): LinkTarget {
  const rtnl = ns.rtnl();
  const taken = new Set(ns.interfaces.map((i) => i.dstName));
  const known = knownNames.get(ns);
  const inKernel = (n: string) => taken.has(n) || rtnl.link.find(n) !== undefined;
  // In a namespace nslink made, it knows every name: no need to ask the kernel.
  return {
    netns: ns.netns,
    rtnl,
    nameInUse: known ? (n) => known.has(n) : inKernel,
    inKernel,
    // Only in namespaces nslink made: nothing else renumbers links there.
    ...(known && created
      ? { created: (dst: string, index: number) => created.set(dst, index) }
      : {}),
  };
}

/**
 * Tells `Namespace.addInterface` about an interface a network handed out: where it was created
 * (fast path), its index there when known, and whom to tell which namespace it went into.
 *
 * @param iface The interface.
 * @param ns The namespace it was created in, if any.
 * @param note Called with the namespace's path when it is added.
 * @param created Indexes of container ends by name, as {@linkcode linkTarget} collected them.
 */
export function createNoteHook(
  iface: Interface,
  ns: Namespace | undefined,
  note: (path: string) => void,
  created?: Map<string, number>,
): void {
  if (ns !== undefined) knownNames.get(ns)?.add(iface.dstName);
  if (!iface.srcName) return;
  const index = created?.get(iface.dstName);
  handoffs.set(iface.srcName, {
    ...(ns !== undefined ? { createdIn: ns.path } : {}),
    ...(index !== undefined ? { index } : {}),
    noteNamespace: note,
  });
}

/** A running watcher of a distributed network (see {@linkcode Network.watch}). */
export interface NetworkWatcher {
  /** Resolves once the first snapshot has been applied to the kernel. */
  readonly ready: Promise<void>;
  /** The store revision the kernel state matches. */
  readonly revision: number;
  /** Stops watching; the entries installed so far stay. */
  stop(): Promise<void>;
}

/** How networks whose state lives in a distributed store are made (see network/overlay.ts). */
export interface DistributedNetworks {
  /** The network types, e.g. `overlay`. */
  types: readonly string[];
  /** Creates or joins a network. */
  create(type: string, name: string, options: Record<string, unknown>): Promise<Network>;
  /** Reopens (joins) an existing network. */
  open(name: string, options: Record<string, unknown>): Promise<Network>;
}

let distributed: DistributedNetworks | undefined;

/**
 * Registers the maker of distributed networks (done by network/overlay.ts when it is loaded).
 *
 * @param d The maker.
 */
export function registerDistributedNetworks(d: DistributedNetworks): void {
  distributed = d;
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
  /** A random id made at creation; a network re-created under the same name has another. */
  readonly id: string;
  #driver: Driver;
  #store: HostedStore;
  #owned: boolean;
  #record: NetworkRecord;
  #timeoutMs: number | undefined;
  #spanning: SpanningHooks | undefined;

  /**
   * Wraps a record; subclasses (networks kept in a distributed store) pass their driver and
   * their {@linkcode SpanningHooks}.
   *
   * @param record The record.
   * @param store Where it is saved, with this host's own state.
   * @param owned Whether disposing of the object deletes the network.
   * @param timeoutMs How long to wait for the state lock.
   * @param driver The driver; default the registered one of `record.type`.
   * @param spanning What a network across hosts adds around link and unlink.
   */
  protected constructor(
    record: NetworkRecord,
    store: HostedStore,
    owned: boolean,
    timeoutMs: number | undefined,
    driver: Driver = getDriver(record.type),
    spanning?: SpanningHooks,
  ) {
    this.#spanning = spanning;
    this.name = record.name;
    this.type = record.type;
    this.id = record.id;
    this.#driver = driver;
    this.#store = store;
    this.#owned = owned;
    this.#record = record;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Wraps a saved record; used by {@linkcode newNetwork} and {@linkcode openNetwork}.
   *
   * @param record The saved record.
   * @param store Where it is saved, with this host's own state (`LocalStore` for a state
   *   directory).
   * @param owned Whether disposing of the object deletes the network.
   * @param lockTimeoutMs How long to wait for the state lock.
   * @returns The network object.
   */
  static fromRecord(
    record: NetworkRecord,
    store: HostedStore,
    owned: boolean,
    lockTimeoutMs?: number,
  ): Network {
    return new Network(record, store, owned, lockTimeoutMs);
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

  /** Where this network's state is kept (the state directory). */
  get stateDir(): string {
    return this.#store.location;
  }

  /**
   * The names of the linked endpoints (containers), read synchronously from this host's own
   * state (the state directory: for networks of one host, that is their whole store; see
   * `HostedStore.local`). Endpoints being linked, or released while the kernel removes their
   * links, are not listed.
   *
   * @example
   * ```ts
   * import { Network } from "../mod.ts";
   * declare const network: Network;
   * network.endpoints(); // ["c1", "c2"]
   * ```
   * @returns The names, sorted; `[]` when the network no longer exists.
   */
  endpoints(): string[] {
    const local = this.#store.local;
    if (local.readNetwork(this.name)?.id !== this.id) return [];
    return local.endpoints(this.#record).filter((n) =>
      (local.readEndpoint(this.#record, n)?.state ?? "linked") === "linked"
    );
  }

  /**
   * One linked container as saved (interfaces, host-side links, namespace), read synchronously
   * from this host's own state, as {@linkcode Network.endpoints}; `undefined` when it is not
   * linked.
   *
   * @example
   * ```ts
   * import { Network } from "../mod.ts";
   * declare const network: Network;
   * network.endpoint("c1")?.interfaces[0].address; // "198.51.100.2/24"
   * ```
   * @param name The endpoint (container) name.
   * @returns A copy of its record, or `undefined`.
   */
  endpoint(name: string): EndpointInfo | undefined {
    checkName(name, "endpoint name");
    const local = this.#store.local;
    if (local.readNetwork(this.name)?.id !== this.id) return undefined;
    const ep = local.readEndpoint(this.#record, name);
    if (!ep || (ep.state ?? "linked") !== "linked") return undefined;
    return {
      name,
      interfaces: ep.interfaces.map((i) => ({ ...i })),
      hostLinks: [...ep.hostLinks],
      ...(ep.namespace !== undefined ? { namespace: ep.namespace } : {}),
      ...(ep.ports?.length ? { ports: structuredClone(ep.ports) } : {}),
      ...(ep.aliases?.length ? { aliases: [...ep.aliases] } : {}),
    };
  }

  /** When the network was created (ISO 8601), as saved. */
  get created(): string {
    return this.#record.created;
  }

  /** Its labels (`NetworkOptions.labels`), as saved; empty when none. */
  get labels(): Record<string, string> {
    return { ...this.#record.labels };
  }

  /**
   * Allocates addresses and creates the interfaces of one container (for `bridge`: a veth pair
   * with the host end on the bridge, up). Hand them to `Namespace.addInterface`. With
   * `{ namespace }`, the container end is created directly inside that namespace. Either
   * completes or leaves nothing behind (no link, no address taken, no record), also when the
   * process is killed midway: the endpoint's record is written before its kernel objects, and
   * the next `link` of that name (or `gc()`) removes what a dead attempt left.
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
  async link(name: string, options: LinkOptions = {}): Promise<Interface[]> {
    checkName(name, "endpoint name");
    if (options.aliases !== undefined) checkAliases(options.aliases);
    const spanning = this.#spanning;
    const ifaces = await locked(
      this.#store,
      true,
      this.#timeoutMs,
      spanning
        ? async () => {
          const { options: o, undo } = await spanning.beforeLink(name, options);
          try {
            return await this.#link(name, o);
          } catch (e) {
            await undo().catch(() => {});
            throw e;
          }
        }
        : () => this.#link(name, options),
    );
    await agentAfterLink(this.stateDir, this.#record, options.namespace?.path);
    return ifaces;
  }

  async #link(name: string, options: LinkOptions): Promise<Interface[]> {
    const ns = options.namespace;
    const createdIndexes = new Map<string, number>();
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
        // Only in namespaces nslink made: nothing else renumbers links there.
        ...(known
          ? { created: (dst: string, index: number) => createdIndexes.set(dst, index) }
          : {}),
      };
    }
    const store = this.#store;
    const local = store.local;
    const record = this.#record;
    const driver = this.#driver;
    const key = `${record.id}/${name}`;
    // This link's identity: every claim it makes names it, so that releasing an earlier link of
    // the same name (by another process, late) never frees what this one holds.
    const token = newToken();
    const host = hostContext();
    // Addresses of endpoints released meanwhile (their links now gone) are free again.
    await settleReleasing(store, driver, host, record);
    // Ports are this host's: chosen and claimed on its own side.
    const choose = () =>
      options.ports === undefined ? [] : chooseBindings(local, record, options.ports);
    /** Whether an earlier record of this name is left to finish (not linked, not being linked). */
    const abandoned = (old: EndpointRecord) =>
      (old.state ?? "linked") !== "linked" &&
      !(old.state === "creating" && isAlive(old.owner, key));
    let bindings: PortBinding[];
    try {
      bindings = choose();
    } catch (e) {
      // A dead attempt of this same endpoint may hold the ports: finish it, then choose again.
      const old = await store.readEndpoint(record, name);
      if (!old?.ports?.length || !abandoned(old)) throw e;
      await undoEndpoint(store, driver, host, record, name, old);
      bindings = choose();
    }
    const intent: EndpointRecord = {
      state: "creating",
      owner: currentOwner(),
      token,
      boot: bootId(),
      interfaces: [],
      hostLinks: driver.hostLinks?.(record, name) ?? [],
      ...(ns !== undefined ? { namespace: ns.path } : {}),
      ...(bindings.length ? { ports: bindings } : {}),
    };
    if (!await store.createEndpoint(record, name, intent)) {
      const old = await store.readEndpoint(record, name);
      if (old) {
        if ((old.state ?? "linked") === "linked" && !fromEarlierBoot(old)) {
          throw new TypeError(`Endpoint "${name}" is already linked to network "${this.name}"`);
        }
        if (old.state === "creating" && !fromEarlierBoot(old) && isAlive(old.owner, key)) {
          throw new Error(
            `Endpoint "${name}" of network "${this.name}" is being linked by pid ${old.owner?.pid}`,
          );
        }
        // An attempt that died midway, or a release still waiting for the kernel: finish it.
        await undoEndpoint(store, driver, host, record, name, old);
      }
      if (!await store.createEndpoint(record, name, intent)) {
        throw new Error(`Endpoint "${name}" of network "${this.name}" is being linked elsewhere`);
      }
    }
    // From its intent on, this link is in progress (an intent "creating" of this process is
    // not taken for abandoned while it awaits the store): nothing awaited since createEndpoint.
    const ep = await working(key, () => this.#linkFinish(name, options, target, intent, bindings));
    for (const iface of ep.interfaces) {
      if (ns !== undefined) knownNames.get(ns)?.add(iface.dstName);
      if (iface.srcName) {
        const index = createdIndexes.get(iface.dstName);
        handoffs.set(iface.srcName, {
          ...(ns !== undefined ? { createdIn: ns.path } : {}),
          ...(index !== undefined ? { index } : {}),
          noteNamespace: (path) => this.#noteNamespace(name, path),
        });
      }
    }
    return ep.interfaces;
  }

  /** The steps of a link after its intent: ports, addresses, the driver, the record. */
  async #linkFinish(
    name: string,
    options: LinkOptions,
    target: LinkTarget | undefined,
    intent: EndpointRecord,
    bindings: PortBinding[],
  ): Promise<EndpointRecord> {
    const store = this.#store;
    const local = store.local;
    const record = this.#record;
    const driver = this.#driver;
    const token = intent.token!;
    const owner = addressOwner(name, intent);
    let ep: EndpointRecord | undefined;
    let published = false;
    let reserved: string[] = [];
    try {
      claimBindings(local, record, name, intent, bindings);
      // The addresses, claimed in the store before the driver runs (it only hands them out).
      const got = await reserveAddresses(store, driver, record, owner, options).catch(
        async (e) => {
          // Every address held by endpoints released in a burst that has not ended (their
          // namespaces' handles still open, their veths still there): finish them now.
          if (!(e instanceof IpamExhaustedError) || !local.releasing(record).length) throw e;
          closeDeletedNamespaces();
          await settleReleasing(store, driver, hostContext(), record, true);
          return await reserveAddresses(store, driver, record, owner, options);
        },
      );
      reserved = got.reserved;
      ep = driver.link(got.ctx, record, name, {
        ...(target ? { target } : {}),
        ...(options.address !== undefined ? { address: options.address } : {}),
        ...(options.addressIPv6 !== undefined ? { addressIPv6: options.addressIPv6 } : {}),
        ...(options.dstName !== undefined ? { dstName: options.dstName } : {}),
        ...(options.hairpin === true || bindings.length > 0 ? { hairpin: true } : {}),
      });
      ep.token = token;
      ep.boot = intent.boot;
      if (bindings.length) ep.ports = bindings;
      if (options.aliases?.length) ep.aliases = [...new Set(options.aliases)];
      const linked = ep;
      publishBindings(ep, bindings, () => this.#firewallState(name, linked), stateDirOf(local));
      published = true;
      ep.state = "linked";
      await store.writeEndpoint(record, name, ep);
    } catch (e) {
      // Undone in the order of forgetEndpoint: map elements (those claimed), links, addresses,
      // the record, and last the port claims.
      try {
        // (A publish batch that failed changed nothing: an element in the way is not ours.)
        if (ep && published) unpublishBindings(local, record, name, ep, bindings);
        if (ep) abandonLinks(driver, hostContext(), record, ep);
        for (const a of reserved) await releaseAddress(store, record, a, owner);
        await store.removeEndpoint(record, name);
        releaseBindings(local, record, name, intent, bindings);
      } catch { /* report the first error */ }
      throw e;
    }
    return ep;
  }

  /**
   * Records where a seed-path interface went (no lock: one atomic write of one record), on this
   * host's own side, synchronously (`Namespace.addInterface` calls it in its synchronous part).
   */
  #noteNamespace(name: string, path: string): void {
    try {
      const local = this.#store.local;
      const ep = local.readEndpoint(this.#record, name);
      if (!ep || (ep.state ?? "linked") !== "linked") return;
      ep.namespace = path;
      local.writeEndpoint(this.#record, name, ep);
    } catch (e) {
      if (!(e instanceof StaleNetworkError)) throw e;
    }
  }

  /**
   * Removes a container's interfaces and frees its addresses. Succeeds when the container is
   * not linked (any more). An address is freed only once the host side of the container's
   * links is confirmed gone: when its namespace was deleted first, the kernel is still tearing
   * the veth pair down, so no per-link delete (with its ~20 ms kernel wait) is made and the
   * addresses stay reserved until a later `link`, `unlink` or `gc()` sees the links gone (a
   * link still present after a second, kept alive by an open fd or a process, is deleted).
   *
   * @example
   * ```ts
   * import { Namespace, Network } from "../mod.ts";
   * declare const network: Network;
   * declare const ns: Namespace;
   * await ns.delete();
   * await network.unlink("c1"); // no per-link wait
   * ```
   * @param name The container (endpoint) name.
   */
  async unlink(name: string): Promise<void> {
    checkName(name, "endpoint name");
    const spanning = this.#spanning;
    if (!spanning) {
      return await locked(this.#store, true, this.#timeoutMs, () => this.#unlink(name));
    }
    const finish = await spanning.beforeUnlink(name);
    await locked(this.#store, true, this.#timeoutMs, () => this.#unlink(name));
    await finish?.();
  }

  async #unlink(name: string): Promise<void> {
    const store = this.#store;
    const record = this.#record;
    const ep = await store.readEndpoint(record, name);
    if (!ep) return;
    for (const iface of ep.interfaces) if (iface.srcName) handoffs.delete(iface.srcName);
    const ctx = hostContext();
    if (ep.state === "creating") {
      if (isAlive(ep.owner, `${record.id}/${name}`)) {
        throw new Error(
          `Endpoint "${name}" of network "${this.name}" is being linked by pid ${ep.owner?.pid}`,
        );
      }
      await undoEndpoint(store, this.#driver, ctx, record, name, ep);
      return;
    }
    if (ep.ports?.length) {
      // Map elements first, then the record without them, then the claims: a claim is never
      // free while a map element or the record still has its port.
      const ports = endpointRemoved(store.local, record, name, ep);
      if (ep.state !== "releasing") await store.writeEndpoint(record, name, ep);
      releaseBindings(store.local, record, name, ep, ports);
    }
    if (this.#driver.unlink(ctx, record, ep)) {
      await forgetEndpoint(store, record, name, ep);
    } else if (ep.state !== "releasing") {
      // One atomic step, the record left as it is: the mark (this host's: its links) makes it
      // releasing.
      ep.state = "releasing";
      ep.releasedAt = Date.now();
      store.local.markReleasing(record, name, ep.releasedAt);
    }
    if (ep.state === "releasing") scheduleSettle(store, this.#driver, record);
  }

  /** Every saved network, this one with endpoint `name` as it is now, for a firewall rebuild. */
  #firewallState(name: string, ep: EndpointRecord): NetworkRecord[] {
    // The firewall is this host's: its own endpoints' records, read synchronously.
    return loadAll(this.#store.local).map((r) =>
      r.id === this.id ? { ...r, endpoints: { ...r.endpoints, [name]: ep } } : r
    );
  }

  /**
   * The ports published for a container, chosen host ports filled in, from the saved state
   * (so another process's `openNetwork` sees them too).
   *
   * @example
   * ```ts ignore
   * await network.ports("c1"); // [{ protocol: "tcp", hostIP: "", hostPort: 8080, port: 80 }]
   * ```
   * @param name The container (endpoint) name.
   * @returns The bindings; empty when none (or not linked).
   */
  ports(name: string): Promise<PortBinding[]> {
    try {
      checkName(name, "endpoint name");
      return this.#store.readEndpoint(this.#record, name).then((ep) =>
        structuredClone(ep?.ports ?? [])
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Publishes more ports of a linked container: `hostIP:hostPort` on the host reaches `port`
   * in the container, from outside, from other containers and networks, from the host itself
   * (`127.0.0.1` included) and from the container itself (hairpin). One nf_tables batch adds one
   * map element per port: O(1) kernel work whatever the number of ports already published. A
   * binding that clashes with one on any nslink network (same protocol, port and host address)
   * is refused, naming its holder, and nothing changes. Publishing a UDP port deletes the
   * conntrack entries of earlier flows to it, so that they get NATed.
   *
   * @example
   * ```ts ignore
   * await network.publish("c1", [{ hostPort: 9090, port: 90, protocol: "udp" }]);
   * ```
   * @param name The container (endpoint) name.
   * @param ports The ports, as in `link(…, { ports })`.
   * @returns The new bindings, chosen host ports filled in.
   */
  publish(name: string, ports: PortSpec[]): Promise<PortBinding[]> {
    try {
      checkName(name, "endpoint name");
      // Exclusive: the endpoint's record is read, extended and written back.
      return locked(this.#store, false, this.#timeoutMs, () => this.#publish(name, ports));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async #publish(name: string, ports: PortSpec[]): Promise<PortBinding[]> {
    const store = this.#store;
    const local = store.local;
    const record = this.#record;
    const ep = await store.readEndpoint(record, name);
    if (!ep || (ep.state ?? "linked") !== "linked") {
      throw new Error(`Endpoint "${name}" is not linked to network "${this.name}"`);
    }
    // Ports are this host's: chosen and claimed on its own side.
    const bindings = chooseBindings(local, record, ports);
    if (bindings.length === 0) return [];
    // The claims (no one else may take the ports), then the record (the intent: gc() makes the
    // firewall match it), then the kernel. A crash leaves at worst a claim no record holds or a
    // saved binding not yet in the kernel, both of which gc() reconciles.
    claimBindings(local, record, name, ep, bindings);
    const before = ep.ports;
    ep.ports = [...(before ?? []), ...bindings];
    try {
      await store.writeEndpoint(record, name, ep);
    } catch (e) {
      releaseBindings(local, record, name, ep, bindings);
      throw e;
    }
    try {
      // Its first ports: the bridge port goes into hairpin mode (a link without ports has none).
      if (!before?.length) this.#driver.hairpin?.(hostContext(), record, name, ep);
      publishBindings(ep, bindings, () => this.#firewallState(name, ep), stateDirOf(local));
    } catch (e) {
      // The batch is atomic: it failed whole, so only the record and the claims go back.
      try {
        const back: EndpointRecord = { ...ep };
        if (before) back.ports = before;
        else delete back.ports;
        await store.writeEndpoint(record, name, back);
        releaseBindings(local, record, name, ep, bindings);
      } catch { /* report the first error */ }
      throw e;
    }
    return structuredClone(bindings);
  }

  /**
   * Unpublishes ports of a container: those matching `{ hostPort, protocol (default tcp),
   * hostIP (default any) }`, or every port with no list. One nf_tables batch.
   *
   * @example
   * ```ts ignore
   * await network.unpublish("c1", [{ hostPort: 9090, protocol: "udp" }]);
   * await network.unpublish("c1"); // all of them
   * ```
   * @param name The container (endpoint) name.
   * @param ports Which ports; absent: all.
   * @returns The bindings removed.
   */
  unpublish(name: string, ports?: UnpublishSpec[]): Promise<PortBinding[]> {
    try {
      checkName(name, "endpoint name");
      return locked(this.#store, false, this.#timeoutMs, async () => {
        const store = this.#store;
        const record = this.#record;
        const ep = await store.readEndpoint(record, name);
        if (!ep?.ports?.length) return [];
        const gone = matchBindings(ep.ports, ports);
        if (gone.length === 0) return [];
        // The kernel, the record, the claims last (see unlink).
        unpublishBindings(store.local, record, name, ep, gone);
        ep.ports = ep.ports.filter((b) => !gone.includes(b));
        if (ep.ports.length === 0) delete ep.ports;
        await store.writeEndpoint(record, name, ep);
        releaseBindings(store.local, record, name, ep, gone);
        return structuredClone(gone);
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Unlinks every container, removes the network's kernel objects (the bridge) and its saved
   * state, leaving no file behind. Succeeds when the network is already gone; refuses (with a
   * `StaleNetworkError`) when the name now belongs to a network re-created since this object
   * was opened. A network across hosts leaves instead ({@linkcode SpanningHooks.leave}).
   *
   * @example
   * ```ts
   * import { Network } from "../mod.ts";
   * declare const network: Network;
   * await network.delete();
   * ```
   */
  async delete(): Promise<void> {
    if (this.#spanning) {
      await this.#spanning.leave();
      return agentAfterDelete(this.stateDir, this.#record);
    }
    const lock = await this.#store.local.lock({ timeoutMs: this.#timeoutMs });
    try {
      const record = await this.#store.readNetwork(this.name);
      // Defined, not made since a reboot: its definition (and stale state) go, nothing is made.
      if (!record || fromEarlierBoot(record)) {
        return removeUnmade(this.#store.local, this.name, this.id);
      }
      if (record.id !== this.id) throw new StaleNetworkError(this.name, this.id, record.id);
      delete record.restore; // an interrupted remake: deleted with its definition
      await deleteNetwork(this.#store, record);
    } finally {
      lock.release();
    }
    await agentAfterDelete(this.stateDir, this.#record);
  }

  /**
   * Deletes the network only when no container is linked to it, in one step under the state
   * lock (a concurrent `link` either comes first and keeps the network, or fails because the
   * network is gone). Like `docker network rm`, which refuses a network with active endpoints.
   *
   * @example
   * ```ts
   * import { Network } from "../mod.ts";
   * declare const network: Network;
   * if (!await network.deleteIfUnused()) console.log("still in use:", network.endpoints());
   * ```
   * @returns `true` when the network was deleted or was already gone; `false` when in use.
   */
  async deleteIfUnused(): Promise<boolean> {
    if (this.#spanning) {
      if (await this.#spanning.inUse()) return false;
      await this.delete();
      return true;
    }
    const lock = await this.#store.local.lock({ timeoutMs: this.#timeoutMs });
    try {
      const record = await this.#store.readNetwork(this.name);
      if (!record || fromEarlierBoot(record)) {
        // Defined, not made since a reboot (nothing linked): its definition goes.
        removeUnmade(this.#store.local, this.name, this.id);
        return true;
      }
      // Gone, or the name now belongs to a network re-created since: this one is gone.
      if (record.id !== this.id) return true;
      let inUse = false;
      for (const n of await this.#store.endpoints(record)) {
        const ep = await this.#store.readEndpoint(record, n);
        // Linked, or being linked by a live process; a release waiting for the kernel, or an
        // attempt that died, is finished by the delete.
        inUse = ep !== undefined && ((ep.state ?? "linked") === "linked" ||
          (ep.state === "creating" && isAlive(ep.owner, `${record.id}/${n}`)));
        if (inUse) break;
      }
      if (inUse) return false;
      delete record.restore; // an interrupted remake: deleted with its definition
      await deleteNetwork(this.#store, record);
    } finally {
      lock.release();
    }
    await agentAfterDelete(this.stateDir, this.#record);
    return true;
  }

  /**
   * Keeps this host's kernel state in step with a distributed network's store (overlay
   * networks: their {@linkcode SpanningHooks.watch}). Networks of one host have nothing to watch.
   *
   * @example
   * ```ts ignore
   * const watcher = network.watch();
   * await watcher.stop();
   * ```
   * @returns The running watcher.
   */
  watch(): NetworkWatcher {
    if (this.#spanning) return this.#spanning.watch();
    throw new TypeError(
      `Network "${this.name}" (${this.type}) lives on one host: only overlay networks have a store to watch`,
    );
  }

  /** Deletes the network if this object created it (for `await using`); otherwise nothing. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#owned ? this.delete() : Promise.resolve();
  }
}

/**
 * Creates a network of a driver type (`bridge`/`simplebridge`, `null`, `host`) and saves it.
 * Input is checked before the kernel is touched: a duplicate name, an overlapping subnet, a
 * gateway outside its subnet or an invalid MTU is refused. On failure nothing is left behind;
 * a process killed midway leaves a record saying so, which the next `newNetwork` of that name
 * or `gc()` finishes.
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
 * @param options Driver options, `stateDir` and `lockTimeoutMs`.
 * @returns The network.
 */
export async function newNetwork(
  type: string,
  name: string,
  options: NetworkOptions = {},
): Promise<Network> {
  if (distributed?.types.includes(type)) {
    checkName(name, "network name");
    return await distributed.create(type, name, options);
  }
  let driver: Driver;
  try {
    driver = getDriver(type);
  } catch (e) {
    // The registry knows the single-host drivers; name the distributed types too.
    if (!(e instanceof TypeError) || !distributed) throw e;
    const all = [...new Set([...knownTypes(), ...distributed.types])].sort().join(", ");
    throw new TypeError(`Unknown network type "${type}": known types are ${all}`);
  }
  checkName(name, "network name");
  if (isDistributed(driver)) {
    throw new TypeError(
      `Network type "${type}" spans hosts: load network/overlay.ts (mod.ts does)`,
    );
  }
  if (options.store !== undefined) {
    throw new TypeError(
      `Option "store" is for networks that span hosts ("overlay"); "${type}" networks live on one host`,
    );
  }
  const { stateDir, configDir, lockTimeoutMs, labels, ...driverOptions } = options;
  const timeoutMs = checkTimeout(lockTimeoutMs);
  checkLabels(labels);
  const store = openStore(stateDir, configDir);
  const files = store.files;
  const lock = await files.lock({ timeoutMs });
  let created: Network;
  try {
    const def = needsRestore(files, name);
    if (def) {
      // Defined, not made since a reboot: the same options make it again (as Podman does).
      if (def.type !== driver.type || !sameOptions(def.options, driverOptions)) {
        throw new TypeError(
          `Network "${name}" already exists (defined in ${
            JSON.stringify(files.definitions.dir)
          } with other options)`,
        );
      }
      return Network.fromRecord(await restoreNetwork(store, def), store, true, timeoutMs);
    }
    let existing = await store.readNetwork(name);
    if (existing && fromEarlierBoot(existing)) {
      dropRuntime(files, existing); // undefined, of an earlier boot: nothing of it is left
      existing = undefined;
    }
    if (existing) {
      const unfinished = existing.state === "creating" || existing.state === "deleting";
      // Under the exclusive lock nobody is working on it: an unfinished one was abandoned.
      if (!unfinished) throw new TypeError(`Network "${name}" already exists`);
      await deleteNetwork(store, existing);
    }
    const ctx = await context(store);
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
      ...(labels && Object.keys(labels).length > 0 ? { labels: { ...labels } } : {}),
      endpoints: {},
      state: "creating",
      owner: currentOwner(),
      boot: bootId(),
    };
    // The record first, saying "creating": a crash from here on leaves something to undo.
    if (!await store.createNetwork(record)) throw new TypeError(`Network "${name}" already exists`);
    try {
      driver.create(ctx, record);
      // Masquerade, isolation and its chains (the whole table, one batch) before the record says
      // ready: a crash in between leaves "creating", which gc() or the next create undoes.
      if (driver.type === "bridge") syncFirewall(loadAll(files), stateDirOf(files));
      // firewalld, when it runs: the bridge in zone nslink (a failure is only a warning).
      if (driver.type === "bridge") await tellFirewalld("bind", recordBridges([record]));
      // Its definition, kept across reboots, before the record says ready: a crash before this
      // leaves "creating" (undone with its definition), none after it leaves a ready network
      // without one.
      files.definitions.write(definitionOf(record, driverOptions));
      delete record.state;
      delete record.owner;
      await store.writeNetwork(record);
    } catch (e) {
      try {
        driver.destroy(ctx, record);
      } catch { /* report the first error */ }
      try {
        files.definitions.remove(name, record.id);
        await store.removeNetwork(record);
      } catch { /* report the first error */ }
      throw e;
    }
    created = Network.fromRecord(record, store, true, timeoutMs);
  } finally {
    lock.release();
  }
  await agentAfterCreate(store.location, created.config);
  return created;
}

function checkLabels(labels: unknown): void {
  if (labels === undefined) return;
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) {
    throw new TypeError(
      `Option "labels" must be an object of strings, got ${JSON.stringify(labels)}`,
    );
  }
  for (const [k, v] of Object.entries(labels)) {
    if (k === "" || typeof v !== "string") {
      throw new TypeError(`Option "labels": label ${JSON.stringify(k)} must have a string value`);
    }
  }
}

/**
 * Reopens a network from its saved state (made by this or another process). After a reboot
 * (its runtime state gone, or of an earlier boot), the first open of a defined network makes it
 * again from its definition: same id, subnets and options; bridge, addresses and firewall anew.
 *
 * @example
 * ```ts ignore
 * const network = await openNetwork("blue");
 * await network.link("c3");
 * ```
 * @param name The network's name.
 * @param options `stateDir` when not the default, `lockTimeoutMs`; for an overlay network,
 *   `store` and `advertise` (this host's underlay address), and optionally `ttl`.
 * @returns The network.
 */
export async function openNetwork(name: string, options: OpenOptions = {}): Promise<Network> {
  checkName(name, "network name");
  if (options.store !== undefined) {
    if (!distributed) throw new TypeError(`No driver for networks in a store is loaded`);
    const { lockTimeoutMs: _, ...rest } = options;
    return await distributed.open(name, rest as Record<string, unknown>);
  }
  const timeoutMs = checkTimeout(options.lockTimeoutMs);
  const store = openStore(options.stateDir, options.configDir);
  const files = store.files;
  let record = await store.readNetwork(name);
  // (A remake it calls for is decided again under the lock, from the files.)
  let def = needsRestore(files, name, { record });
  // An overlay network this host had joined before a reboot: joined again from its store below.
  const rejoin = def && options.restore !== false && isDistributed(getDriver(def.type))
    ? def
    : undefined;
  if (rejoin) def = undefined;
  if (def && options.restore === false) {
    // For reading only: the network as defined, with nothing linked.
    const { options: _, ...saved } = def; // labels included
    return Network.fromRecord({ ...saved, endpoints: {} }, store, false, timeoutMs);
  }
  if (def) {
    // The first use since a reboot makes it again (under the exclusive lock; another process
    // may have done so meanwhile).
    const lock = await files.lock({ timeoutMs });
    try {
      const again = needsRestore(files, name);
      record = again ? await restoreNetwork(store, again) : await store.readNetwork(name);
    } finally {
      lock.release();
    }
  }
  if (record && fromEarlierBoot(record)) record = undefined; // stale, and not defined
  const joined = rejoin ??
    (record && (record.state ?? "ready") === "ready" && isDistributed(getDriver(record.type))
      ? record
      : undefined);
  if (joined) {
    // A network spanning hosts that this host joined: reopened from its store, as saved.
    if (!distributed) throw new TypeError(`No driver for networks in a store is loaded`);
    const c = joined.config as { store?: string; advertise?: string; ttl?: number };
    const saved: Record<string, unknown> = {
      store: c.store,
      advertise: c.advertise,
      ...(c.ttl !== undefined ? { ttl: c.ttl } : {}),
      ...(options.stateDir !== undefined ? { stateDir: options.stateDir } : {}),
    };
    for (const k of ["storeCa", "storeCert", "storeKey", "storeUser"]) {
      const v = (joined.config as Record<string, unknown>)[k];
      if (typeof v === "string") saved[k] = v;
    }
    return await distributed.open(name, saved);
  }
  if (!record || (record.state ?? "ready") !== "ready") {
    throw new Error(
      `Network "${name}" does not exist in ${JSON.stringify(store.location)}` +
        (record ? ` (it is being ${record.state === "creating" ? "created" : "deleted"})` : ""),
    );
  }
  await agentAfterOpen(store.location, record);
  return await Network.fromRecord(record, store, false, timeoutMs);
}

/**
 * Re-applies nslink's firewall (masquerade, isolation, every published port) from the saved
 * state, in one atomic batch: the call to make after something removed nslink's table, such as
 * `nft flush ruleset` (what Debian's `nftables.service` does on reload). Idempotent; with no
 * bridge network saved, it makes sure nslink's table is gone. Port claims are rebuilt from the
 * endpoints' records too.
 *
 * @example
 * ```ts ignore
 * // after `systemctl reload nftables`:
 * await repairFirewall();
 * ```
 * @param options `stateDir` when not the default, `lockTimeoutMs`.
 */
export async function repairFirewall(options: OpenOptions = {}): Promise<void> {
  const files = openStore(options.stateDir).files;
  const lock = await files.lock({ timeoutMs: checkTimeout(options.lockTimeoutMs) });
  try {
    const records = loadAll(files);
    rebuildClaims(files, records);
    syncFirewall(records, stateDirOf(files));
    await tellFirewalld("bind", recordBridges(records));
  } finally {
    lock.release();
  }
}

/**
 * Lists the networks' names: those made (in this boot) and those defined (in the configuration
 * directory, kept across reboots) that their first use will make again.
 *
 * @example
 * ```ts ignore
 * listNetworks(); // ["blue", "red"]
 * ```
 * @param options `stateDir`, `configDir`, when not the default.
 * @returns The names, sorted.
 */
export function listNetworks(options: { stateDir?: string; configDir?: string } = {}): string[] {
  const store = openStore(options.stateDir, options.configDir).files;
  const names = new Set(
    store.networks().filter((n) => {
      const r = store.readNetwork(n);
      return r !== undefined && (r.state ?? "ready") === "ready" && !fromEarlierBoot(r);
    }),
  );
  // Defined networks not made again since a reboot (made on first use).
  for (const n of store.definitions.list()) if (needsRestore(store, n)) names.add(n);
  return [...names].sort();
}
