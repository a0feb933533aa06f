/**
 * The `overlay` driver: networks that span hosts, on VXLAN, with their state in a distributed
 * store (etcd). On every host that takes part:
 *
 * - one bridge and one VXLAN device per network (VNI allocated cluster-wide, learning off,
 *   ARP/NDP proxy on, UDP 4789 on the host's underlay address `advertise`), the bridge holding
 *   the gateway addresses as on a bridge network; container MTU = underlay MTU − 50 unless given;
 * - containers get a veth pair with the host end on the bridge (fast path and seed path as on a
 *   bridge network); their record and addresses are taken with `Store.claim` on an
 *   {@linkcode EtcdStore} on the overlay's key layout (`overlayStoreLayout`): one transaction on
 *   the keys' absence, so no two hosts ever get the same address, with no lock service of
 *   nslink's own; `unlink()` frees them with `removeEndpoint` and `release`;
 * - endpoint records and address claims are NOT under a lease: address ownership survives an
 *   outage longer than the TTL. Only the host's registration (`hosts/ADDR`) lives under the
 *   host's lease ({@linkcode OverlayHost}): when the host dies or is cut off, the lease expires
 *   and every other host's watcher ({@linkcode OverlayNetwork.watch}) removes its FDB (MAC →
 *   remote VTEP) and neighbour (IP → MAC) entries; when it comes back, it registers again (all
 *   its endpoints checked, a conflict reported) and the entries come back.
 *
 * Keys (all under `/nslink/`): `vni/VNI` → network name; `ov/NAME/config` → the shared
 * configuration; `ov/NAME/hosts/ADDR` → a host that joined; `ov/NAME/leases/ADDR` → the host's
 * lease (shared by its processes, kept alive by whichever of them runs a watcher, such as
 * `nslink agent`); `ov/NAME/ipam/4|6/ADDR` → the endpoint holding an address;
 * `ov/NAME/endpoints/EP` → the endpoint (host, MAC, addresses). The host's registration and
 * lease id are under its lease; the rest is not.
 *
 * @module
 */
import { NetlinkError } from "../netlink/errors.ts";
import { hostRtnl } from "../model/host.ts";
import { macForIPv4 } from "../model/interface.ts";
import { createPool, type Pool } from "../model/ipam.ts";
import {
  type LinkOptions,
  Network,
  registerDistributedNetworks,
  repairFirewall,
} from "./network.ts";
import type { NetworkWatcher } from "./network.ts";
import { type EndpointChange, FileStore, LocalStore, type StoreWatch } from "./store.ts";
import { claimEndpoint, deleteNetwork, releaseAddress } from "./lifecycle.ts";
import { agentAfterCreate } from "./dns_hooks.ts";
import { bootId, definitionOf, fromEarlierBoot } from "./definitions.ts";
import { dropRuntime } from "./restore.ts";
import { registerStoreSweep } from "./gc.ts";
import { loadAll, stateDirOf } from "./publish.ts";
import { syncFirewall } from "../firewall/firewall.ts";
import type { KeyValue } from "../store/etcd.ts";
import { EtcdStore, followPrefix } from "./store_etcd.ts";
import { type KvStore, openStore } from "../store/store.ts";
import { shortHash } from "../drivers/bridge.ts";
import { overlayDevices, overlayDriver, underlayOf } from "../drivers/overlay.ts";
import type { DriverContext, NetworkRecord } from "../drivers/driver.ts";
import { checkRemote, OverlayWatcher } from "./overlay_watcher.ts";
import {
  endpointHost,
  overlayConfig,
  OverlayHost,
  overlayId,
  overlayKeys,
  overlayRecordOf,
  overlayStoreLayout,
  registeredEndpoints,
} from "./overlay_host.ts";
import {
  endpointOf,
  type OverlayConfig,
  type OverlayEndpoint,
  type Parsed,
  parseOptions,
  storeOptionsOf,
} from "./overlay_options.ts";

export { OverlayHost, overlayKeys };

export type { OverlayConfig, OverlayEndpoint, OverlayOptions } from "./overlay_options.ts";

function bare(cidr: string): string {
  const i = cidr.indexOf("/");
  return i < 0 ? cidr : cidr.slice(0, i);
}

export { overlayDevices };

function gone(e: unknown): boolean {
  return e instanceof NetlinkError &&
    (e.code === "ENODEV" || e.code === "ENOENT" || e.code === "EADDRNOTAVAIL");
}

/**
 * An overlay network as seen by one host (one process): create or join it with
 * `newNetwork("overlay", name, { subnet, subnetIPv6, store, advertise })`, reopen it with
 * `openNetwork(name, { store, advertise })`.
 *
 * @example
 * ```ts ignore
 * const net = await newNetwork("overlay", "ov1", {
 *   subnet: "203.0.113.0/24", subnetIPv6: "2001:db8:20::/64",
 *   store: "etcd://198.51.100.1:2379", advertise: "198.51.100.11",
 * });
 * const watcher = net.watch();
 * for (const iface of await net.link("c1", { namespace: ns })) await ns.addInterface(iface);
 * await watcher.stop();
 * ```
 */
export class OverlayNetwork extends Network {
  /** This host's underlay address (VTEP). */
  readonly advertise: string;
  /** The store's URL. */
  readonly storeUrl: string;
  /** The VXLAN network identifier. */
  readonly vni: number;
  #store: KvStore;
  /** The endpoint records and address claims, on the overlay's layout (no lease). */
  #etcd: EtcdStore;
  #cfg: OverlayConfig;
  #mtu: number;
  #host: OverlayHost;
  /** This host's own state (the local file store) and the network's record there. */
  #files: FileStore;
  #local: NetworkRecord;
  #watchers = new Set<OverlayWatcher>();
  #closed = false;

  private constructor(
    p: Parsed,
    store: KvStore,
    cfg: OverlayConfig,
    mtu: number,
    owned: boolean,
    files: FileStore,
    local: NetworkRecord,
  ) {
    // Network links and unlinks; what spans hosts goes around it (bound once `this` exists).
    const self: { net?: OverlayNetwork } = {};
    super(local, new LocalStore(files), owned, undefined, overlayDriver, {
      beforeLink: (name, options) => self.net!.#beforeLink(name, options),
      beforeUnlink: (name) => self.net!.#beforeUnlink(name),
      watch: () => self.net!.#watch(),
      inUse: () => self.net!.#inUse(),
      leave: () => self.net!.#leave(),
    });
    self.net = this;
    this.advertise = p.advertise;
    this.storeUrl = p.storeUrl;
    this.vni = cfg.vni;
    this.#store = store;
    this.#etcd = new EtcdStore(store, overlayStoreLayout(p.advertise));
    this.#cfg = cfg;
    this.#files = files;
    this.#local = local;
    this.#host = new OverlayHost({
      store,
      network: p.name,
      advertise: p.advertise,
      ttl: p.ttl,
      local: () => registeredEndpoints(files, p.name, local.id, p.advertise),
    });
    this.#mtu = mtu;
  }

  /** The device names on this host. */
  get devices(): { bridge: string; vxlan: string } {
    return overlayDevices(this.vni);
  }

  /** The store this network's state lives in. */
  get store(): KvStore {
    return this.#store;
  }

  /**
   * Creates the network in the store, or joins it when another host made it (same id, VNI and
   * configuration; a conflicting configuration is an error), then makes this host's bridge
   * and VXLAN device.
   *
   * @param name The network's name.
   * @param options The overlay options.
   * @param joinOnly Refuse to create (openNetwork).
   * @returns The network.
   */
  static async create(
    name: string,
    options: Record<string, unknown>,
    joinOnly = false,
  ): Promise<OverlayNetwork> {
    const p = parseOptions(name, options, !joinOnly);
    const store = openStore(p.storeUrl, p.storeOptions);
    const rt = hostRtnl();
    // The underlay: the link holding the advertise address (IPv4 or IPv6).
    const underlay = underlayOf(rt, p.advertise);
    // The shared configuration: created (with its VNI) or joined.
    const { cfg, created } = await overlayConfig(store, p, options, joinOnly);
    const mtu = cfg.mtu || underlay.containerMtu;
    // Only the process that made the network owns it: one that joined (another host's, or this
    // host's, network) never deletes it on `await using` (issue 16, defect 6).
    const files = new FileStore(p.stateDir);
    const { record: local, rejoined } = await joinLocally(files, localRecord(p, cfg, mtu));
    // Joined again after a reboot: this host's endpoints of the earlier boot, still in the
    // store, are released (their local records went with /run). Best effort: with the store
    // failing here, the join fails below anyway, and gc() releases them later.
    if (rejoined) await sweepOverlay(files, local, false).catch(() => {});
    const net = new OverlayNetwork(p, store, cfg, mtu, created, files, local);
    const ctx: DriverContext = { host: rt, takenSubnets: [], otherConfigs: [] };
    const hadDevices = rt.link.find(net.devices.bridge) !== undefined;
    try {
      // Registered (alive) under the host's lease, kept alive by this process from now on.
      await net.#host.lease();
      overlayDriver.create(ctx, net.#record());
      // The host firewall isolates the new bridge from every other nslink network's, and
      // firewalld (when it runs) has it in zone nslink: of this state directory's networks.
      await repairFirewall(p.stateDir !== undefined ? { stateDir: p.stateDir } : {});
    } catch (e) {
      // Nothing half-made: leave the store as if this host never joined.
      if (!hadDevices) {
        try {
          overlayDriver.destroy(ctx, net.#record());
        } catch { /* report the first error */ }
      }
      await net.#host.leave(cfg.vni).catch(() => {});
      if (!hadDevices) await forgetLocally(files, local).catch(() => {});
      throw e;
    }
    // Names (dns, default true): the host's agent runs and listens on this host's gateways
    // before the call returns; it also serves the other hosts' endpoints (from the store).
    await agentAfterCreate(files.location, net.#record().config, "overlay");
    return net;
  }

  /** The network's record on this host (its own state), as the overlay driver reads it. */
  #record(): NetworkRecord {
    return this.#local;
  }

  /** This host's liveness in the network: its lease and registration (see {@linkcode OverlayHost}). */
  get host(): OverlayHost {
    return this.#host;
  }

  /**
   * Before `Network.link` (under the host's shared state lock, so that gc() on this host never
   * sees a claim of this host whose local record is not written yet): the host registered
   * (alive) before its endpoint appears, so other hosts install it; then the endpoint's record
   * and addresses taken in the store. The local link then uses those addresses; when it fails,
   * they are released. Either completes or leaves nothing behind, in the kernel or in the
   * store; an unreachable store is an error naming it.
   */
  async #beforeLink(
    name: string,
    options: LinkOptions,
  ): Promise<{ options: LinkOptions; undo(): Promise<void> }> {
    if (this.#closed) throw new Error(`Overlay network "${this.name}" is closed`);
    await this.#host.lease();
    const ep = await this.#claim(name, options);
    return {
      // Everything on this host as on a bridge network: intent record, local claims, veth
      // pair (fast path or seed path), published ports, firewall, crash recovery.
      options: {
        ...options,
        address: bare(ep.address),
        ...(ep.addressIPv6 ? { addressIPv6: bare(ep.addressIPv6) } : {}),
      },
      undo: () => this.#release(ep),
    };
  }

  /**
   * Takes the endpoint name and its addresses in one transaction (`claimEndpoint`, shared with
   * every store: addresses chosen through the process's address book, retried on contention).
   */
  async #claim(
    name: string,
    options: LinkOptions,
  ): Promise<OverlayEndpoint & { token?: string }> {
    const token = overlayId();
    // Names travel with the record: every host's agent answers them.
    const aliases = options.aliases?.length ? { aliases: [...new Set(options.aliases)] } : {};
    const endpoint = (address: string, addressIPv6: string): OverlayEndpoint => ({
      name,
      host: this.advertise,
      mac: macForIPv4(address),
      address,
      addressIPv6,
      ...aliases,
    });
    // Addresses still held on this host (an endpoint whose links the kernel is still removing
    // keeps its local claim after its claim in the store went): not chosen again yet.
    const skip = new Set(this.#files.reserved(this.#local));
    const want = {
      ...(options.address !== undefined ? { address: options.address } : {}),
      ...(options.addressIPv6 !== undefined ? { addressIPv6: options.addressIPv6 } : {}),
    };
    // The record and every address claim in one transaction, none under the lease: ownership
    // survives an outage longer than the TTL.
    const r = await claimEndpoint(
      this.#etcd,
      this.#local,
      name,
      name,
      want,
      (v4, v6) => overlayRecordOf({ ...endpoint(v4, v6), token }),
      skip,
    );
    if (r.claimed) return { ...endpoint(r.v4, r.v6), token };
    let where = "";
    try {
      const held = await this.#store.get(`${overlayKeys(this.name).endpoints}${name}`);
      if (held) where = ` (on host ${endpointOf(this.storeUrl, held).host})`;
    } catch { /* named without its host */ }
    throw new TypeError(`Endpoint "${name}" is already linked to network "${this.name}"${where}`);
  }

  /**
   * Removes an endpoint's record (only while it is this link's, by its token) and its address
   * claims (only while they name it).
   */
  async #release(ep: OverlayEndpoint & { token?: string }): Promise<void> {
    const addresses = [bare(ep.address), ...(ep.addressIPv6 ? [bare(ep.addressIPv6)] : [])];
    if (!(await this.#etcd.removeEndpoint(this.#local, ep.name, ep.token))) return;
    for (const a of addresses) await releaseAddress(this.#etcd, this.#local, a, ep.name);
  }

  /**
   * Before `Network.unlink`: an endpoint of another host is refused; after the local unlink
   * (ports, links, its local record), its record and addresses in the store are freed, and
   * every other host's watcher removes its FDB and neighbour entries.
   */
  async #beforeUnlink(name: string): Promise<(() => Promise<void>) | undefined> {
    const kv = await this.#store.get(`${overlayKeys(this.name).endpoints}${name}`);
    const ep = kv ? { ...endpointOf(this.storeUrl, kv), ...tokenOf(kv) } : undefined;
    if (!ep) return undefined;
    if (ep.host !== this.advertise) {
      throw new Error(
        `Endpoint "${name}" of overlay network "${this.name}" lives on host ${ep.host}, not on ${this.advertise}`,
      );
    }
    const local = this.#files.readEndpoint(this.#local, name) !== undefined;
    return async () => {
      if (!local) {
        // Registered with no record on this host (an earlier version kept none): its veth by
        // name.
        try {
          hostRtnl().link.del(`nslh${shortHash(`${this.id}/${name}`)}`);
        } catch (e) {
          if (!gone(e)) throw e;
        }
      }
      await this.#release(ep);
    };
  }

  /**
   * `inUse()` (consulted by `Network.deleteIfUnused`): whether the store holds an endpoint of
   * this host (also those of earlier processes).
   *
   * @returns `true` when a container of this host is linked.
   */
  async #inUse(): Promise<boolean> {
    const all = await this.#store.range(overlayKeys(this.name).endpoints, { prefix: true });
    return all.kvs.some((kv) => endpointHost(kv) === this.advertise);
  }

  /**
   * Follows every endpoint of the network on every host (the shared store's view), for what
   * keeps names current (a DNS server): the first batch is the endpoints there are (one range
   * read at one revision), then each change from the next revision on; after a compaction, a
   * new first batch. Each change carries the endpoint's addresses and its host; a removed
   * endpoint has none. A malformed record is left out.
   *
   * @example
   * ```ts ignore
   * const names = new Map<string, string[]>();
   * const w = net.watchEndpoints((changes) => {
   *   for (const c of changes) c.addresses.length ? names.set(c.endpoint, c.addresses) : names.delete(c.endpoint);
   * });
   * await w.ready;
   * await w.stop();
   * ```
   * @param onChange Told of each batch.
   * @returns The running watch.
   */
  watchEndpoints(onChange: (changes: EndpointChange[]) => void): StoreWatch {
    const keys = overlayKeys(this.name);
    const subnets = [this.#cfg.subnet, ...(this.#cfg.subnetIPv6 ? [this.#cfg.subnetIPv6] : [])];
    const change = (kv: KeyValue, put: boolean): EndpointChange | undefined => {
      const endpoint = kv.key.slice(keys.endpoints.length);
      const base = { network: this.name, networkId: this.id, endpoint };
      if (!put) return { ...base, addresses: [] };
      try {
        const r = checkRemote(kv.value, { subnets });
        const addresses = [r.address, r.addressIPv6].filter((a) => a).map(bare);
        return { ...base, addresses, host: r.host };
      } catch {
        return undefined;
      }
    };
    return followPrefix(this.#store, keys.endpoints, (batch) => {
      const c = batch.map((b) => change(b.kv, b.put)).filter((x): x is EndpointChange =>
        x !== undefined
      );
      if (c.length) onChange(c);
    }, { snapshot: true });
  }

  /**
   * `watch()` (run by `Network.watch`): starts a watcher that keeps this host's FDB and
   * neighbour entries in step with the store:
   * a consistent snapshot (a range read at one revision), then the store's watch from the next
   * revision; after a reconnect it resumes from its revision, after a compaction it reloads.
   *
   * @example
   * ```ts ignore
   * const watcher = net.watch();
   * await watcher.ready;
   * await watcher.stop();
   * ```
   * @returns The running watcher.
   */
  #watch(): NetworkWatcher {
    // The watcher's process keeps this host's lease alive (the agent's job).
    this.#host.lease().catch(() => {/* retried by link() or the next watch() */});
    const keys = overlayKeys(this.name);
    const w = new OverlayWatcher({
      store: this.#store,
      prefix: keys.endpoints,
      hosts: keys.hosts,
      config: keys.config,
      subnets: [this.#cfg.subnet, ...(this.#cfg.subnetIPv6 ? [this.#cfg.subnetIPv6] : [])],
      self: this.advertise,
      vxlan: this.devices.vxlan,
      rtnl: hostRtnl(),
      onStop: () => this.#watchers.delete(w),
    });
    this.#watchers.add(w);
    return w;
  }

  /**
   * `leave()` (run by `Network.delete` in place of the local delete): unlinks this host's
   * containers, removes the bridge and VXLAN device, and deregisters the host; the last host to
   * leave removes the network from the store.
   */
  async #leave(): Promise<void> {
    for (const w of [...this.#watchers]) await w.stop();
    const keys = overlayKeys(this.name);
    // This host's endpoints, also those of earlier processes (whose leases may still run).
    const all = await this.#store.range(keys.endpoints, { prefix: true });
    // A malformed record (not written by nslink) cannot be this host's: it is left alone, and
    // the host still leaves.
    for (const kv of all.kvs) {
      if (endpointHost(kv) === this.advertise) {
        await this.unlink(kv.key.slice(keys.endpoints.length));
      }
    }
    // This host's part: the devices, the firewall's rules for them, the local record.
    await forgetLocally(this.#files, this.#local);
    // No keepalive of this process may register the host again once it has left.
    await this.#host.stop();
    await this.#host.leave(this.vni);
    this.close();
  }

  /**
   * Stops keeping the host's lease alive from this process, without unlinking anything: its
   * endpoints stay registered (their addresses held), and other hosts stop reaching them when
   * the lease expires, unless another process of this host (its agent) keeps it. Watchers keep
   * running until stopped.
   */
  close(): void {
    this.#closed = true;
    this.#host.close();
  }
}

/** The token of a stored endpoint (the link that wrote it), when it has one. */
function tokenOf(kv: KeyValue): { token?: string } {
  try {
    const t = (JSON.parse(kv.value) as { token?: unknown }).token;
    return typeof t === "string" ? { token: t } : {};
  } catch {
    return {};
  }
}

function freshPools(cfg: OverlayConfig): { v4?: Pool; v6?: Pool } {
  const pools: { v4?: Pool; v6?: Pool } = { v4: createPool(cfg.subnet, cfg.gateway) };
  if (cfg.subnetIPv6) pools.v6 = createPool(cfg.subnetIPv6, cfg.gatewayIPv6);
  return pools;
}

registerDistributedNetworks({
  types: ["overlay"],
  create: (_type, name, options) => OverlayNetwork.create(name, options),
  open: (name, options) => OverlayNetwork.create(name, options, true),
});

/** The network's record in this host's own state (the local file store). */
function localRecord(p: Parsed, cfg: OverlayConfig, mtu: number): NetworkRecord {
  const devices = overlayDevices(cfg.vni);
  return {
    version: 1,
    name: p.name,
    type: "overlay",
    id: cfg.id,
    created: cfg.created,
    config: {
      vni: cfg.vni,
      bridgeName: devices.bridge,
      vxlanName: devices.vxlan,
      advertise: p.advertise,
      mtu,
      containerInterfacePrefix: "eth",
      store: p.storeUrl,
      ttl: p.ttl,
      ...p.firewall,
      ...p.saved,
      ...p.dns,
    },
    pools: freshPools(cfg),
    endpoints: {},
    boot: bootId(),
  };
}

/**
 * Saves the network in this host's state, or takes the record there (an earlier join, by this
 * or another process); a record of an earlier network of that name (deleted and re-created in
 * the store since) is finished first, one of an earlier boot dropped. The definition (store,
 * advertise, TLS file paths: what `openNetwork(name)` needs to join again after a reboot) is
 * kept in the configuration directory. `rejoined`: this host had the network defined but not
 * joined in this boot (a reboot).
 */
async function joinLocally(
  files: FileStore,
  record: NetworkRecord,
): Promise<{ record: NetworkRecord; rejoined: boolean }> {
  const lock = await files.lock();
  try {
    let existing = files.readNetwork(record.name);
    const defined = files.definitions.read(record.name)?.id === record.id;
    if (existing && existing.type === "overlay" && fromEarlierBoot(existing)) {
      dropRuntime(files, existing);
      existing = undefined;
    }
    const keep = (r: NetworkRecord) => {
      if (files.definitions.read(r.name)?.id !== r.id) files.definitions.write(definitionOf(r, {}));
    };
    if (existing) {
      if (existing.type !== "overlay") {
        throw new TypeError(
          `Network "${record.name}" already exists on this host (a ${existing.type} network)`,
        );
      }
      if (existing.id === record.id && (existing.state ?? "ready") === "ready") {
        keep(existing);
        return { record: existing, rejoined: false };
      }
      await deleteNetwork(new LocalStore(files), existing);
    }
    if (!files.createNetwork(record)) {
      throw new TypeError(`Network "${record.name}" already exists on this host`);
    }
    keep(record);
    return { record, rejoined: defined };
  } finally {
    lock.release();
  }
}

/** Removes this host's part: its endpoints' links, the devices, the firewall's rules, the record. */
async function forgetLocally(files: FileStore, record: NetworkRecord): Promise<void> {
  const lock = await files.lock();
  try {
    const existing = files.readNetwork(record.name);
    if (existing?.id === record.id) {
      await deleteNetwork(new LocalStore(files), existing);
    } else {
      overlayDriver.destroy({ host: hostRtnl(), takenSubnets: [], otherConfigs: [] }, record);
      syncFirewall(loadAll(files), stateDirOf(files));
    }
  } finally {
    lock.release();
  }
}

/**
 * gc()'s step for overlay networks (see `registerStoreSweep`): endpoints the store holds for
 * this host with no record in this host's own state (a link killed after its claim in the store
 * and undone since by gc) are released: their record and address claims, only while unchanged.
 */
async function sweepOverlay(
  files: FileStore,
  record: NetworkRecord,
  dryRun: boolean,
): Promise<string[]> {
  const c = record.config as Record<string, unknown>;
  if (typeof c.store !== "string" || typeof c.advertise !== "string") return [];
  const opts: Record<string, unknown> = { store: c.store, advertise: c.advertise };
  for (const k of ["storeCa", "storeCert", "storeKey", "storeUser"]) {
    if (typeof c[k] === "string") opts[k] = c[k];
  }
  const kv = openStore(c.store, storeOptionsOf(opts));
  const keys = overlayKeys(record.name);
  const all = await kv.range(keys.endpoints, { prefix: true });
  const found: string[] = [];
  for (const item of all.kvs) {
    if (endpointHost(item) !== c.advertise) continue;
    const name = item.key.slice(keys.endpoints.length);
    if (files.readEndpoint(record, name) !== undefined) continue;
    found.push(`${record.name}/${name} (registered in ${kv.url} for this host, no local record)`);
    if (dryRun) continue;
    const ep = endpointOf(kv.url, item);
    // The record only while unchanged (this link's token), then its claims still naming it.
    const etcd = new EtcdStore(kv, overlayStoreLayout(c.advertise));
    if (!(await etcd.removeEndpoint(record, name, tokenOf(item).token))) continue;
    for (const a of [bare(ep.address), ...(ep.addressIPv6 ? [bare(ep.addressIPv6)] : [])]) {
      await etcd.release(record, a, name);
    }
  }
  // Address claims no endpoint record explains (an unlink, on any host, killed between removing
  // its record and releasing its addresses): released while unchanged since this one read of the
  // network's records and claims at one revision (a claim is made with its record, atomically).
  const snap = await kv.range(keys.root, { prefix: true });
  const holds = new Map<string, Set<string> | undefined>(); // endpoint -> its addresses
  for (const item of snap.kvs) {
    if (!item.key.startsWith(keys.endpoints)) continue;
    let addresses: Set<string> | undefined;
    try {
      const r = checkRemote(item.value);
      addresses = new Set([r.address, r.addressIPv6].filter((a) => a).map(bare));
    } catch { /* malformed: its claims are left alone */ }
    holds.set(item.key.slice(keys.endpoints.length), addresses);
  }
  for (const item of snap.kvs) {
    const prefix = [keys.ipam4, keys.ipam6].find((p) => item.key.startsWith(p));
    if (!prefix) continue;
    const address = item.key.slice(prefix.length);
    const owner = holds.get(item.value);
    if (holds.has(item.value) && (owner === undefined || owner.has(address))) continue;
    found.push(
      `${record.name}: claim of ${address} by "${item.value}" (no such endpoint in ${kv.url})`,
    );
    if (dryRun) continue;
    await kv.txn({
      compare: [{ key: item.key, target: "mod", modRevision: item.modRevision }],
      success: [{ delete: { key: item.key } }],
    }, `release ${address} of overlay network "${record.name}"`);
  }
  return found;
}

registerStoreSweep("overlay", sweepOverlay);
