/**
 * One host's duty in an overlay network: its liveness. A host is reachable while its
 * registration `ov/NAME/hosts/ADDR` exists; that key (and `ov/NAME/leases/ADDR`, the lease's id,
 * shared by the host's processes) lives under the host's lease, which {@linkcode OverlayHost}
 * keeps alive. Address claims (`ov/NAME/ipam/…`) and endpoint records (`ov/NAME/endpoints/EP`)
 * are NOT under the lease: address ownership survives a lease expiry (an outage longer than the
 * TTL), as Docker keeps overlay IPAM in its store; only reachability comes and goes with a
 * host's liveness (every other host's watcher removes the entries of an unregistered host and
 * installs them again when it comes back).
 *
 * When the lease was lost (the store answered that it expired), the host takes a new one,
 * registers again, and re-registers EVERY endpoint of the host from the store and from what
 * this process linked (not only this process's own): each address claim must still name its
 * endpoint; a claim that another endpoint took meanwhile is reported as the conflict it is
 * (`conflicts`, `onConflict`), never overwritten.
 *
 * The host's background process (the agent's `overlay` duty, agent/overlay.ts, for every overlay
 * network of its state directory; `nslink agent` for the networks it names) runs
 * {@linkcode OverlayHost.run}; a process that links keeps the lease alive while it runs too.
 *
 * @module
 */
import type { KvStore } from "../store/store.ts";
import type { NetworkWatcher } from "./network.ts";
import { EtcdError, type KeyValue } from "../store/etcd.ts";
import type { EndpointRecord, NetworkRecord } from "../model/records.ts";
import type { FileStore } from "./store.ts";
import { EtcdStore, type EtcdStoreLayout } from "./store_etcd.ts";
import { checkRemote } from "./overlay_watcher.ts";
import {
  configOf,
  conflict,
  FIRST_VNI,
  MAX_VNI,
  type OverlayConfig,
  type Parsed,
} from "./overlay_options.ts";

const vniKey = (vni: number) => `/nslink/vni/${vni}`;

/**
 * A random id (12 hex digits): a network's id, a link's token.
 *
 * @example
 * ```ts
 * import { overlayId } from "./overlay_host.ts";
 * overlayId().length; // 12
 * ```
 * @returns The id.
 */
export function overlayId(): string {
  const b = new Uint8Array(6);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * The host of a stored overlay endpoint, or `undefined` when the record is malformed (nobody's).
 *
 * @example
 * ```ts
 * import { endpointHost } from "./overlay_host.ts";
 * endpointHost({
 *   key: "/nslink/ov/ov1/endpoints/c1", modRevision: 1, createRevision: 1, version: 1, lease: "0",
 *   value: '{"host":"198.51.100.11","mac":"02:42:cb:00:71:02","address":"203.0.113.2/24"}',
 * }); // "198.51.100.11"
 * ```
 * @param kv The stored endpoint.
 * @returns Its host.
 */
export function endpointHost(kv: KeyValue): string | undefined {
  try {
    return checkRemote(kv.value).host;
  } catch {
    return undefined;
  }
}

function prefixEndOf(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

async function freeVni(store: KvStore): Promise<number> {
  const { kvs } = await store.range("/nslink/vni/", { prefix: true, keysOnly: true });
  const used = new Set(kvs.map((kv) => Number(kv.key.slice("/nslink/vni/".length))));
  for (let v = FIRST_VNI; v <= MAX_VNI; v++) if (!used.has(v)) return v;
  throw new RangeError("No free VNI left");
}

/**
 * The network's shared configuration: read when another host (or process) made it (a
 * conflicting configuration is an error, unless only joining), or created with the lowest free
 * VNI (or the one asked for) in one transaction on the configuration's and the VNI's absence.
 *
 * @example
 * ```ts ignore
 * const { cfg, created } = await overlayConfig(store, parseOptions("ov1", options, true), options, false);
 * ```
 * @param store The store.
 * @param p The parsed options.
 * @param options The options as given (for the conflict's message).
 * @param joinOnly Refuse to create.
 * @returns The configuration and whether this call created it.
 */
export async function overlayConfig(
  store: KvStore,
  p: Parsed,
  options: Record<string, unknown>,
  joinOnly: boolean,
): Promise<{ cfg: OverlayConfig; created: boolean }> {
  const name = p.name;
  const keys = overlayKeys(name);
  for (let attempt = 0; attempt < 64; attempt++) {
    const existing = await store.get(keys.config);
    if (existing) {
      const saved = configOf(p.storeUrl, existing);
      const why = joinOnly ? undefined : conflict(saved, p.want, options);
      if (why) {
        throw new TypeError(
          `Network "${name}" (overlay) exists in "${p.storeUrl}" with another configuration: ${why}`,
        );
      }
      return { cfg: saved, created: false };
    }
    if (joinOnly) {
      throw new Error(`Network "${name}" (overlay) does not exist in "${p.storeUrl}"`);
    }
    const vni = p.want.vni ?? await freeVni(store);
    const fresh: OverlayConfig = {
      id: overlayId(),
      vni,
      subnet: p.want.subnet,
      gateway: p.want.gateway,
      subnetIPv6: p.want.subnetIPv6,
      gatewayIPv6: p.want.gatewayIPv6,
      mtu: p.want.mtu,
      created: new Date().toISOString(),
    };
    const r = await store.txn({
      compare: [
        { key: keys.config, target: "create", createRevision: 0 },
        { key: vniKey(vni), target: "create", createRevision: 0 },
      ],
      success: [
        { put: { key: vniKey(vni), value: name } },
        { put: { key: keys.config, value: JSON.stringify(fresh) } },
      ],
      failure: [{ range: { key: vniKey(vni) } }],
    }, `create overlay network "${name}"`);
    if (r.succeeded) return { cfg: fresh, created: true };
    const holder = r.ranges[0]?.[0]?.value;
    if (p.want.vni !== undefined && holder !== undefined && holder !== name) {
      throw new RangeError(
        `VNI ${vni} is already used by overlay network "${holder}" in "${p.storeUrl}"`,
      );
    }
  }
  throw new Error(`Network "${name}" (overlay): too much contention in "${p.storeUrl}"`);
}

/**
 * The store keys of one overlay network.
 *
 * @example
 * ```ts
 * import { overlayKeys } from "./overlay_host.ts";
 * overlayKeys("ov1").endpoints; // "/nslink/ov/ov1/endpoints/"
 * ```
 * @param name The network's name.
 * @returns The keys and prefixes.
 */
export function overlayKeys(name: string): {
  root: string;
  config: string;
  hosts: string;
  leases: string;
  endpoints: string;
  ipam4: string;
  ipam6: string;
} {
  const root = `/nslink/ov/${name}/`;
  return {
    root,
    config: `${root}config`,
    hosts: `${root}hosts/`,
    leases: `${root}leases/`,
    endpoints: `${root}endpoints/`,
    ipam4: `${root}ipam/4/`,
    ipam6: `${root}ipam/6/`,
  };
}

/** An endpoint as registered in the store (see `OverlayEndpoint`). */
export interface RegisteredEndpoint {
  /** Endpoint (container) name. */
  name: string;
  /** The host's underlay address. */
  host: string;
  /** The container interface's MAC address. */
  mac: string;
  /** IPv4 address with prefix. */
  address: string;
  /** IPv6 address with prefix, or empty. */
  addressIPv6: string;
  /** Its DNS aliases, when it has any. */
  aliases?: string[];
}

/**
 * This host's linked endpoints of a network, from its own state (the local file store), as they
 * are registered in the store: what {@linkcode OverlayHost} registers again after a lease expiry.
 * None when the state holds another network of that name.
 *
 * @example
 * ```ts ignore
 * const local = () => registeredEndpoints(new FileStore(), "ov1", record.id, "198.51.100.11");
 * ```
 * @param files This host's state.
 * @param network The network's name.
 * @param id Its id.
 * @param advertise This host's underlay address.
 * @returns The endpoints.
 */
export function registeredEndpoints(
  files: FileStore,
  network: string,
  id: string,
  advertise: string,
): RegisteredEndpoint[] {
  const record = files.readNetwork(network);
  if (!record || record.id !== id) return [];
  const out: RegisteredEndpoint[] = [];
  for (const name of files.endpoints(record)) {
    const ep = files.readEndpoint(record, name);
    const i = ep?.interfaces[0];
    if (!ep || (ep.state ?? "linked") !== "linked" || !i) continue;
    out.push({
      name,
      host: advertise,
      mac: i.macAddress,
      address: i.address,
      addressIPv6: i.addressIPv6 ?? "",
      ...(ep.aliases?.length ? { aliases: [...ep.aliases] } : {}),
    });
  }
  return out;
}

/**
 * An overlay endpoint's stored value as an endpoint record: one interface (MAC, addresses),
 * its aliases and its token.
 *
 * @example
 * ```ts
 * import { overlayRecordOf } from "./overlay_host.ts";
 * overlayRecordOf({
 *   name: "c1", host: "198.51.100.11", mac: "02:42:cb:00:71:02",
 *   address: "203.0.113.2/24", addressIPv6: "",
 * }).interfaces[0].macAddress; // "02:42:cb:00:71:02"
 * ```
 * @param ep The value.
 * @returns The record.
 */
export function overlayRecordOf(ep: RegisteredEndpoint & { token?: string }): EndpointRecord {
  return {
    interfaces: [{
      srcName: "",
      dstName: "",
      macAddress: ep.mac,
      address: ep.address,
      addressIPv6: ep.addressIPv6,
      gateway: "",
      gatewayIPv6: "",
      mtu: 0,
    }],
    hostLinks: [],
    ...(ep.aliases?.length ? { aliases: [...ep.aliases] } : {}),
    ...(ep.token !== undefined ? { token: ep.token } : {}),
  };
}

/**
 * The {@linkcode EtcdStore} layout of overlay networks, for the host `advertise`: endpoint records
 * at `ov/NAME/endpoints/EP`, their value the one every host's watcher, `watchEndpoints` and the
 * agent's names read (`OverlayEndpoint`: name, host, MAC, addresses, aliases, plus the link's
 * token); address claims at `ov/NAME/ipam/4/ADDRESS` and `ov/NAME/ipam/6/ADDRESS`, their value the
 * endpoint's name. No key of it is under a lease.
 *
 * @example
 * ```ts
 * import { overlayStoreLayout } from "./overlay_host.ts";
 * overlayStoreLayout("198.51.100.11").claim({ name: "ov1", id: "x" }, "2001:db8::2");
 * // "/nslink/ov/ov1/ipam/6/2001:db8::2"
 * ```
 * @param advertise This host's underlay address (the `host` of the endpoints it writes).
 * @returns The layout.
 */
export function overlayStoreLayout(advertise: string): EtcdStoreLayout {
  return {
    endpoints: (network) => overlayKeys(network.name).endpoints,
    claims: (network) => {
      const k = overlayKeys(network.name);
      return [k.ipam4, k.ipam6];
    },
    claim: (network, address) => {
      const k = overlayKeys(network.name);
      return `${address.includes(":") ? k.ipam6 : k.ipam4}${address}`;
    },
    encode: (_network, name, ep) => {
      const i = ep.interfaces[0];
      return JSON.stringify({
        name,
        host: advertise,
        mac: i?.macAddress ?? "",
        address: i?.address ?? "",
        addressIPv6: i?.addressIPv6 ?? "",
        ...(ep.aliases?.length ? { aliases: [...ep.aliases] } : {}),
        ...(ep.token !== undefined ? { token: ep.token } : {}),
      });
    },
    decode: (url: string, kv: KeyValue) => {
      let r;
      try {
        r = checkRemote(kv.value);
      } catch (e) {
        throw new EtcdError(
          url,
          `read "${kv.key}"`,
          `malformed endpoint: ${(e as Error).message}`,
          {
            malformed: true,
          },
        );
      }
      const o = JSON.parse(kv.value) as Record<string, unknown>;
      const aliases = Array.isArray(o.aliases)
        ? o.aliases.filter((a): a is string => typeof a === "string")
        : [];
      return overlayRecordOf({
        name: kv.key.slice(kv.key.lastIndexOf("/") + 1),
        ...r,
        ...(aliases.length ? { aliases } : {}),
        ...(typeof o.token === "string" ? { token: o.token } : {}),
      });
    },
  };
}

/**
 * The network as the overlay's {@linkcode EtcdStore} addresses it (its layout reads the name
 * only): for a process that knows the name and not the local record.
 *
 * @example
 * ```ts
 * import { overlayNetworkRef } from "./overlay_host.ts";
 * overlayNetworkRef("ov1").type; // "overlay"
 * ```
 * @param name The network's name.
 * @returns A record naming it.
 */
export function overlayNetworkRef(name: string): NetworkRecord {
  return {
    version: 1,
    name,
    type: "overlay",
    id: "",
    created: "",
    config: {},
    pools: {},
    endpoints: {},
  };
}

/** A registration that failed: another endpoint holds what this host's endpoint needs. */
export interface OverlayConflict {
  /** The network. */
  network: string;
  /** This host's endpoint. */
  endpoint: string;
  /** The key that could not be taken (an address claim, or the endpoint's own record). */
  key: string;
  /** What holds it now (an endpoint's name, or a record of another host). */
  holder: string;
}

/** Options of {@linkcode OverlayHost}. */
export interface OverlayHostOptions {
  /** The store. */
  store: KvStore;
  /** The network's name. */
  network: string;
  /** This host's underlay address (canonical). */
  advertise: string;
  /** The lease's TTL in seconds. */
  ttl: number;
  /**
   * Endpoints this process linked (its own state): registered again when their records are
   * missing from the store. Endpoints found in the store under this host are always re-checked.
   */
  local?: () => Iterable<RegisteredEndpoint>;
  /** Told of each registration conflict; default a warning on stderr. */
  onConflict?: (c: OverlayConflict) => void;
  /**
   * Whether the host still takes part (asked before taking a new lease after an expiry): a host
   * whose network was removed meanwhile by another process is not registered again. Default:
   * always.
   */
  member?: () => boolean;
}

function unref(timer: ReturnType<typeof setInterval>): void {
  const deno = (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno;
  if (deno?.unrefTimer && typeof timer === "number") deno.unrefTimer(timer);
  else (timer as { unref?(): void }).unref?.();
}

function bare(cidr: string): string {
  const i = cidr.indexOf("/");
  return i < 0 ? cidr : cidr.slice(0, i);
}

/**
 * A host's liveness in one overlay network: its lease, kept alive every TTL/3, and its
 * registration, renewed with every endpoint's claims after a lease expiry.
 *
 * @example
 * ```ts ignore
 * const host = new OverlayHost({ store, network: "ov1", advertise: "198.51.100.11", ttl: 15 });
 * const ac = new AbortController();
 * const done = host.run(ac.signal, { watch: () => net.watch() });
 * // … later:
 * ac.abort();
 * await done;
 * ```
 */
export class OverlayHost {
  /** Registration conflicts seen so far (also told to `onConflict`). */
  readonly conflicts: OverlayConflict[] = [];
  /** How many times the host registered again after losing its lease. */
  renewals = 0;
  #o: OverlayHostOptions;
  #lease: Promise<string> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticking: Promise<boolean> | undefined;
  #busy = false;
  #closed = false;

  /**
   * Makes the host's duty for a network (nothing is sent until it is used).
   *
   * @param options The store, network, this host's address, the TTL.
   */
  constructor(options: OverlayHostOptions) {
    this.#o = options;
  }

  /**
   * The host's lease: reused while alive (whichever process of this host took it), else granted
   * and the host registered under it. Keeps it alive from then on (every TTL/3, unref'd).
   *
   * @returns The lease id.
   */
  lease(): Promise<string> {
    if (!this.#lease) {
      const p = this.#take();
      this.#lease = p;
      p.then(() => this.#startKeepalive(), () => {
        if (this.#lease === p) this.#lease = undefined; // try again next time
      });
    }
    return this.#lease;
  }

  /** Finds or grants the lease and registers the host under it. */
  async #take(): Promise<string> {
    const { store, network, advertise, ttl } = this.#o;
    const keys = overlayKeys(network);
    const key = `${keys.leases}${advertise}`;
    const hostKey = `${keys.hosts}${advertise}`;
    for (let attempt = 0; attempt < 16; attempt++) {
      const kv = await store.get(key);
      if (kv && (await store.leaseKeepAlive(kv.value)) > 0) {
        // Registered under it (again: a join may have written the key without a lease).
        await store.put(hostKey, advertise, { lease: kv.value });
        return kv.value;
      }
      const fresh = await store.leaseGrant(ttl);
      const r = await store.txn({
        compare: [
          kv
            ? { key, target: "mod", modRevision: kv.modRevision }
            : { key, target: "create", createRevision: 0 },
        ],
        success: [
          { put: { key, value: fresh, lease: fresh } },
          { put: { key: hostKey, value: advertise, lease: fresh } },
        ],
      }, `lease of host ${advertise} in overlay network "${network}"`);
      if (r.succeeded) return fresh;
      await store.leaseRevoke(fresh).catch(() => {}); // another process of this host won
    }
    throw new Error(
      `lease of host ${advertise} in overlay network "${network}": too much contention in "${store.url}"`,
    );
  }

  #startKeepalive(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setInterval(() => void this.tick(), Math.max(200, (this.#o.ttl * 1000) / 3));
    unref(this.#timer);
  }

  /**
   * One keepalive: renews the lease; when the store says it expired, takes a new one and
   * registers the host and all its endpoints again. An unreachable store is tried again at the
   * next tick. Never throws.
   *
   * @returns Whether the host registered again.
   */
  tick(): Promise<boolean> {
    if (this.#busy || !this.#lease || this.#closed) return Promise.resolve(false);
    const t = this.#tick();
    this.#ticking = t;
    return t;
  }

  async #tick(): Promise<boolean> {
    this.#busy = true;
    try {
      const id = await this.#lease!;
      if ((await this.#o.store.leaseKeepAlive(id)) > 0) return false;
      // Closed meanwhile (the host is leaving: its registration was just removed on purpose),
      // or another process of this host left the network (its lease revoked on purpose).
      if (this.#closed || this.#o.member?.() === false) return false;
      const p = this.#take();
      this.#lease = p;
      await p;
      await this.reregister();
      this.renewals++;
      return true;
    } catch {
      // The store is unreachable: try again at the next tick.
      return false;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Makes sure every endpoint of this host holds its records and address claims in the store:
   * those the store lists under this host, and those of `local` (this process's own state) whose
   * record went missing. What another endpoint took meanwhile is reported, not overwritten.
   *
   * @returns The conflicts found by this pass.
   */
  async reregister(): Promise<OverlayConflict[]> {
    const { store, network, advertise } = this.#o;
    const keys = overlayKeys(network);
    const layout = overlayStoreLayout(advertise);
    const etcd = new EtcdStore(store, layout);
    const ref = overlayNetworkRef(network);
    const found: OverlayConflict[] = [];
    const all = await store.range(keys.endpoints, { prefix: true });
    const stored = new Map<string, RegisteredEndpoint>();
    for (const kv of all.kvs) {
      try {
        const ep = JSON.parse(kv.value) as RegisteredEndpoint;
        if (ep && typeof ep === "object" && ep.host === advertise && typeof ep.name === "string") {
          stored.set(kv.key.slice(keys.endpoints.length), ep);
        }
      } catch { /* not this host's: a malformed record is the watcher's to report */ }
    }
    const mine = new Map(stored);
    for (const ep of this.#o.local?.() ?? []) {
      const epKey = `${keys.endpoints}${ep.name}`;
      if (mine.has(ep.name)) continue;
      const kv = all.kvs.find((k) => k.key === epKey);
      if (kv) {
        // The name is registered to something else (another host linked it meanwhile).
        found.push({ network, endpoint: ep.name, key: epKey, holder: kv.value });
        continue;
      }
      if (!(await etcd.createEndpoint(ref, ep.name, overlayRecordOf(ep)))) {
        const held = await store.get(epKey);
        found.push({
          network,
          endpoint: ep.name,
          key: epKey,
          holder: held?.value ?? "another endpoint",
        });
        continue;
      }
      mine.set(ep.name, ep);
    }
    for (const [name, ep] of mine) {
      const claims = [bare(ep.address), ...(ep.addressIPv6 ? [bare(ep.addressIPv6)] : [])];
      for (const address of claims) {
        if (await etcd.reserve(ref, address, name)) continue;
        const holder = await etcd.holder(ref, address);
        if (holder !== undefined && holder !== name) {
          found.push({ network, endpoint: name, key: layout.claim(ref, address), holder });
        }
      }
    }
    for (const c of found) {
      this.conflicts.push(c);
      if (this.#o.onConflict) this.#o.onConflict(c);
      else {
        console.warn(
          `nslink: overlay network "${c.network}": endpoint "${c.endpoint}" could not be registered again: "${c.key}" is held by ${
            JSON.stringify(c.holder)
          }`,
        );
      }
    }
    return found;
  }

  /**
   * The host's duty until `signal` aborts: takes the lease (retrying while the store is away),
   * keeps it alive, registers the host and its endpoints again after any expiry, and, with
   * `watch`, runs the network's watcher (its entries for other hosts' endpoints). Resolves once
   * stopped; the lease is left to expire (the endpoints stay registered in the store).
   *
   * @param signal Stops it.
   * @param options `watch`: starts the network's watcher; `onReady`: told once watching.
   */
  async run(
    signal: AbortSignal,
    options: { watch?: () => NetworkWatcher; onReady?: (w?: NetworkWatcher) => void } = {},
  ): Promise<void> {
    const aborted = new Promise<void>((r) => {
      if (signal.aborted) r();
      else signal.addEventListener("abort", () => r(), { once: true });
    });
    let watcher: NetworkWatcher | undefined;
    try {
      while (!signal.aborted) {
        try {
          await Promise.race([this.lease(), aborted]);
          break;
        } catch {
          await Promise.race([new Promise((r) => setTimeout(r, 500)), aborted]);
        }
      }
      if (signal.aborted) return;
      await this.reregister().catch(() => {});
      if (options.watch) {
        watcher = options.watch();
        await Promise.race([watcher.ready, aborted]);
      }
      if (!signal.aborted) options.onReady?.(watcher);
      await aborted;
    } finally {
      await watcher?.stop();
    }
  }

  /**
   * Deregisters this host (its registration and lease id), revokes the lease; the last host to
   * leave, with no endpoint of any host left (endpoints are not under leases: those of a host cut
   * off from the store keep the network), removes the network and its VNI from the store.
   *
   * @example
   * ```ts ignore
   * await host.stop();
   * await host.leave(net.vni);
   * ```
   * @param vni The network's VNI (freed with it).
   */
  async leave(vni: number): Promise<void> {
    const { store, network, advertise } = this.#o;
    const keys = overlayKeys(network);
    await store.delete(`${keys.hosts}${advertise}`);
    await store.delete(`${keys.leases}${advertise}`);
    const left = await store.range(keys.endpoints, { prefix: true });
    if (!left.kvs.some((kv) => endpointHost(kv) !== undefined)) {
      await store.txn({
        compare: [{
          key: keys.hosts,
          rangeEnd: prefixEndOf(keys.hosts),
          target: "create",
          createRevision: 0,
        }],
        success: [
          { delete: { key: keys.root, rangeEnd: prefixEndOf(keys.root) } },
          { delete: { key: vniKey(vni) } },
        ],
      }, `delete overlay network "${network}"`);
    }
    const id = await this.current();
    if (id) await store.leaseRevoke(id).catch(() => {});
  }

  /** Stops keeping the lease alive (the registration expires with it). */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Stops keeping the lease alive and waits for a keepalive in flight, so that nothing
   * registers the host again after it returns (a host leaving the network removes its
   * registration next).
   *
   * @example
   * ```ts ignore
   * await host.stop();
   * ```
   */
  async stop(): Promise<void> {
    this.close();
    await this.#ticking?.catch(() => {});
  }

  /** The lease id if one was taken, without taking one. */
  async current(): Promise<string | undefined> {
    return await this.#lease?.catch(() => undefined);
  }
}
