/**
 * `EtcdStore`: the {@linkcode Store} contract on etcd (through {@linkcode KvStore}): one key per
 * record and per claim, every create a transaction on the key's absence, a watch of endpoint
 * changes made by any host. Keys, under `/nslink/s/`:
 *
 * ```text
 * net/NAME                   the network's record (JSON)
 * ep/ID/ENDPOINT             an endpoint record (JSON), ID the network's id
 * ip/ID/ADDRESS              an address claim: its owner, ENDPOINT@TOKEN (never under a lease)
 * ```
 *
 * As with the file store, data of a network re-created under the same name lives under
 * another id. Values read back are decoded through {@linkcode decodeRecord}, which raises the
 * store's own error ({@linkcode EtcdError}, `malformed`) for anything that is not a JSON object.
 *
 * @module
 */
import type { EndpointRecord, NetworkRecord } from "../model/records.ts";
import {
  type ClaimResult,
  endpointAddresses,
  type EndpointChange,
  type Store,
  type StoreWatch,
} from "./store.ts";
import { EtcdError, type KeyValue, type Watch } from "../store/etcd.ts";
import type { KvStore } from "../store/store.ts";

const ROOT = "/nslink/s/";

/** The keys of the etcd store (see the module doc). */
export const etcdStoreKeys = {
  network: (name: string) => `${ROOT}net/${name}`,
  networks: `${ROOT}net/`,
  endpoints: (id: string) => `${ROOT}ep/${id}/`,
  allEndpoints: `${ROOT}ep/`,
  claims: (id: string) => `${ROOT}ip/${id}/`,
};

/**
 * Where an {@linkcode EtcdStore} keeps a network's endpoint records and address claims, and how
 * an endpoint record is written there. The default ({@linkcode etcdStoreLayout}) is the module
 * doc's; the overlay driver's (`overlayStoreLayout` in network/overlay_host.ts) keeps the keys
 * and values every overlay host reads (`/nslink/ov/NAME/endpoints/EP`,
 * `/nslink/ov/NAME/ipam/4|6/ADDRESS`). Network records are always under `net/NAME`.
 *
 * @example
 * ```ts
 * import { etcdStoreLayout } from "./store_etcd.ts";
 * etcdStoreLayout.claims({ name: "blue", id: "abc" })[0]; // "/nslink/s/ip/abc/"
 * ```
 */
export interface EtcdStoreLayout {
  /** The prefix of a network's endpoint records (each followed by the endpoint's name). */
  endpoints(network: Pick<NetworkRecord, "name" | "id">): string;
  /** The prefixes of a network's address claims (each followed by the address). */
  claims(network: Pick<NetworkRecord, "name" | "id">): string[];
  /** The key of one address claim (under one of {@linkcode EtcdStoreLayout.claims}). */
  claim(network: Pick<NetworkRecord, "name" | "id">, address: string): string;
  /** An endpoint record as stored; by default its JSON. */
  encode?(network: Pick<NetworkRecord, "name" | "id">, name: string, ep: EndpointRecord): string;
  /** A stored endpoint value as a record; by default {@linkcode decodeRecord}. */
  decode?(url: string, kv: KeyValue): EndpointRecord;
  /** Whether {@linkcode EtcdStore.watch} can follow it (the default layout's keys only). */
  watchable?: boolean;
}

/** The default layout (see the module doc). */
export const etcdStoreLayout: EtcdStoreLayout = {
  endpoints: (network) => etcdStoreKeys.endpoints(network.id),
  claims: (network) => [etcdStoreKeys.claims(network.id)],
  claim: (network, address) => `${etcdStoreKeys.claims(network.id)}${address}`,
  watchable: true,
};

/**
 * Decodes a stored record: a JSON object, or the store's error naming the key.
 *
 * @example
 * ```ts
 * import { decodeRecord } from "./store_etcd.ts";
 * decodeRecord<{ a: number }>("etcd://x", {
 *   key: "/k", value: '{"a":1}', modRevision: 1, createRevision: 1, version: 1, lease: "0",
 * }); // { a: 1 }
 * ```
 * @param url The store's URL (for the error).
 * @param kv The key-value.
 * @returns The object.
 */
export function decodeRecord<T>(url: string, kv: KeyValue): T {
  let o: unknown;
  try {
    o = JSON.parse(kv.value);
  } catch {
    o = undefined;
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    throw new EtcdError(url, `read "${kv.key}"`, "malformed record: not a JSON object", {
      malformed: true,
    });
  }
  return o as T;
}

/**
 * {@linkcode Store} on etcd.
 *
 * @example
 * ```ts ignore
 * import { openStore } from "../store/store.ts";
 * const store = new EtcdStore(openStore("etcd://198.51.100.1:2379"));
 * await store.createNetwork(record); // true, or false when the name is taken
 * ```
 */
export class EtcdStore implements Store {
  #kv: KvStore;
  #layout: EtcdStoreLayout;
  #generation = 0;
  #watch: Watch | undefined;
  #watchReady: Promise<void> | undefined;

  /**
   * Wraps a key-value store.
   *
   * @param kv The store (`openStore(url)`).
   * @param layout Where endpoint records and claims are kept (default {@linkcode etcdStoreLayout}).
   */
  constructor(kv: KvStore, layout: EtcdStoreLayout = etcdStoreLayout) {
    this.#kv = kv;
    this.#layout = layout;
  }

  #epKey(network: NetworkRecord, name: string): string {
    return `${this.#layout.endpoints(network)}${name}`;
  }

  #encode(network: NetworkRecord, name: string, ep: EndpointRecord): string {
    return this.#layout.encode ? this.#layout.encode(network, name, ep) : JSON.stringify(ep);
  }

  #decode(kv: KeyValue): EndpointRecord {
    return this.#layout.decode
      ? this.#layout.decode(this.location, kv)
      : decodeRecord<EndpointRecord>(this.location, kv);
  }

  /** The store's URL. */
  get location(): string {
    return this.#kv.url;
  }

  /** See {@linkcode Store.networks}. @returns The names. */
  async networks(): Promise<string[]> {
    const { kvs } = await this.#kv.range(etcdStoreKeys.networks, { prefix: true, keysOnly: true });
    return kvs.map((kv) => kv.key.slice(etcdStoreKeys.networks.length)).sort();
  }

  /** See {@linkcode Store.readNetwork}. @param name The name. @returns The record. */
  async readNetwork(name: string): Promise<NetworkRecord | undefined> {
    const kv = await this.#kv.get(etcdStoreKeys.network(name));
    if (!kv) return undefined;
    const r = decodeRecord<NetworkRecord>(this.location, kv);
    r.endpoints = {};
    return r;
  }

  /** See {@linkcode Store.createNetwork}. @param record The record. @returns Whether created. */
  async createNetwork(record: NetworkRecord): Promise<boolean> {
    return await this.#create(etcdStoreKeys.network(record.name), { ...record, endpoints: {} });
  }

  /** See {@linkcode Store.writeNetwork}. @param record The record. */
  async writeNetwork(record: NetworkRecord): Promise<void> {
    await this.#kv.put(
      etcdStoreKeys.network(record.name),
      JSON.stringify({
        ...record,
        endpoints: {},
      }),
    );
  }

  /** See {@linkcode Store.removeNetwork}: data first, the record last (if still this id's). @param record The record. */
  async removeNetwork(record: NetworkRecord): Promise<void> {
    await this.#kv.delete(this.#layout.endpoints(record), { prefix: true });
    for (const p of this.#layout.claims(record)) await this.#kv.delete(p, { prefix: true });
    const key = etcdStoreKeys.network(record.name);
    const kv = await this.#kv.get(key);
    if (kv && decodeRecord<NetworkRecord>(this.location, kv).id === record.id) {
      await this.#kv.txn({
        compare: [{ key, target: "mod", modRevision: kv.modRevision }],
        success: [{ delete: { key } }],
      }, `remove network "${record.name}"`);
    }
  }

  /** See {@linkcode Store.createEndpoint}. @param network The network. @param name The endpoint. @param ep The record. @returns Whether created. */
  async createEndpoint(network: NetworkRecord, name: string, ep: EndpointRecord): Promise<boolean> {
    const key = this.#epKey(network, name);
    const r = await this.#kv.txn({
      compare: [{ key, target: "create", createRevision: 0 }],
      success: [{ put: { key, value: this.#encode(network, name, ep) } }],
    }, `create endpoint "${name}"`);
    return r.succeeded;
  }

  /** See {@linkcode Store.writeEndpoint}. @param network The network. @param name The endpoint. @param ep The record. */
  async writeEndpoint(network: NetworkRecord, name: string, ep: EndpointRecord): Promise<void> {
    await this.#kv.put(this.#epKey(network, name), this.#encode(network, name, ep));
  }

  /** See {@linkcode Store.readEndpoint}. @param network The network. @param name The endpoint. @returns The record. */
  async readEndpoint(network: NetworkRecord, name: string): Promise<EndpointRecord | undefined> {
    const kv = await this.#kv.get(this.#epKey(network, name));
    return kv ? this.#decode(kv) : undefined;
  }

  /** See {@linkcode Store.removeEndpoint}. @param network The network. @param name The endpoint. @param token Only this identity's. @returns Whether gone. */
  async removeEndpoint(network: NetworkRecord, name: string, token?: string): Promise<boolean> {
    const key = this.#epKey(network, name);
    if (token === undefined) {
      await this.#kv.delete(key);
      return true;
    }
    const kv = await this.#kv.get(key);
    if (!kv) return true;
    if (this.#decode(kv).token !== token) return false;
    const r = await this.#kv.txn({
      compare: [{ key, target: "mod", modRevision: kv.modRevision }],
      success: [{ delete: { key } }],
    }, `remove endpoint "${name}"`);
    return r.succeeded || await this.removeEndpoint(network, name, token);
  }

  /** See {@linkcode Store.endpoints}. @param network The network. @returns The names. */
  async endpoints(network: NetworkRecord): Promise<string[]> {
    const prefix = this.#layout.endpoints(network);
    const { kvs } = await this.#kv.range(prefix, { prefix: true, keysOnly: true });
    return kvs.map((kv) => kv.key.slice(prefix.length)).sort();
  }

  /** See {@linkcode Store.reserve}: a transaction on the claim's absence. @param network The network. @param address The address. @param owner The owner. @returns Whether reserved. */
  async reserve(network: NetworkRecord, address: string, owner: string): Promise<boolean> {
    const key = this.#layout.claim(network, address);
    const r = await this.#kv.txn({
      compare: [{ key, target: "create", createRevision: 0 }],
      success: [{ put: { key, value: owner } }],
      failure: [{ range: { key } }],
    }, `reserve ${address}`);
    // Ours already: an earlier attempt whose answer was lost went through.
    return r.succeeded || r.ranges[0]?.[0]?.value === owner;
  }

  /** See {@linkcode Store.release}. @param network The network. @param address The address. @param owner The owner. @returns Whether freed. */
  async release(network: NetworkRecord, address: string, owner: string): Promise<boolean> {
    const key = this.#layout.claim(network, address);
    const r = await this.#kv.txn({
      compare: [{ key, target: "value", value: owner }],
      success: [{ delete: { key } }],
    }, `release ${address}`);
    return r.succeeded;
  }

  /** See {@linkcode Store.reserved}. @param network The network. @returns The addresses. */
  async reserved(network: NetworkRecord): Promise<string[]> {
    const out: string[] = [];
    for (const prefix of this.#layout.claims(network)) {
      const { kvs } = await this.#kv.range(prefix, { prefix: true, keysOnly: true });
      for (const kv of kvs) out.push(kv.key.slice(prefix.length));
    }
    return out;
  }

  /** See {@linkcode Store.holder}. @param network The network. @param address The address. @returns The owner. */
  async holder(network: NetworkRecord, address: string): Promise<string | undefined> {
    return (await this.#kv.get(this.#layout.claim(network, address)))?.value;
  }

  /**
   * See {@linkcode Store.claim}: one transaction comparing the endpoint's key and every claim's
   * key with absence, putting them all (no lease); on failure it reads them, to say which was in
   * the way. An earlier attempt whose answer was lost (the record there is this one, every claim
   * this owner's) counts as done.
   *
   * @param network The network. @param name The endpoint. @param ep The record.
   * @param addresses The addresses (no prefix). @param owner The claims' owner.
   * @returns What was done.
   */
  async claim(
    network: NetworkRecord,
    name: string,
    ep: EndpointRecord,
    addresses: readonly string[],
    owner: string,
  ): Promise<ClaimResult> {
    const epKey = this.#epKey(network, name);
    const value = this.#encode(network, name, ep);
    const claimKeys = addresses.map((a) => this.#layout.claim(network, a));
    const keys = [epKey, ...claimKeys];
    const r = await this.#kv.txn({
      compare: keys.map((key) => ({ key, target: "create" as const, createRevision: 0 })),
      success: [
        { put: { key: epKey, value } },
        ...claimKeys.map((key) => ({ put: { key, value: owner } })),
      ],
      failure: keys.map((key) => ({ range: { key } })),
    }, `claim endpoint "${name}" and ${addresses.join(", ") || "no address"}`);
    if (r.succeeded) return { claimed: true };
    const [held, ...claims] = r.ranges.map((kvs) => kvs[0]);
    if (held?.value === value && claims.every((kv) => kv?.value === owner)) {
      return { claimed: true }; // ours already
    }
    const taken = addresses.filter((_, i) => claims[i] !== undefined && claims[i].value !== owner);
    return { claimed: false, endpointExists: held !== undefined, taken };
  }

  /**
   * See {@linkcode Store.watch}: etcd's watch of the endpoint keys, from the current revision;
   * it resumes after a reconnect (the client does) and, after a compaction, from the store's
   * current revision (changes in between are reported as one batch of every endpoint).
   *
   * @param onChange Told of each batch.
   * @param options `network`: only that one's endpoints.
   * @returns The running watch.
   */
  watch(
    onChange: (changes: EndpointChange[]) => void,
    options: { network?: string } = {},
  ): StoreWatch {
    if (!this.#layout.watchable) {
      throw new TypeError(
        `watch ${this.location}: this store's layout is followed by its own watcher, not by EtcdStore.watch`,
      );
    }
    const names = new Map<string, string>(); // id -> network name
    const nameOf = async (id: string): Promise<string | undefined> => {
      if (!names.has(id)) {
        for (const n of await this.networks()) {
          const r = await this.readNetwork(n).catch(() => undefined);
          if (r) names.set(r.id, n);
        }
      }
      return names.get(id);
    };
    const prefix = etcdStoreKeys.allEndpoints;
    let stopped = false;
    const w = followPrefix(this.#kv, prefix, async (batch) => {
      const changes: EndpointChange[] = [];
      for (const { kv, put } of batch) {
        const [id, endpoint] = kv.key.slice(prefix.length).split("/");
        if (!id || !endpoint) continue;
        const network = await nameOf(id).catch(() => undefined);
        if (network === undefined) continue;
        if (options.network !== undefined && network !== options.network) continue;
        let record: EndpointRecord | undefined;
        if (put) {
          try {
            record = decodeRecord<EndpointRecord>(this.location, kv);
          } catch {
            continue; // malformed: not reported as an endpoint
          }
        }
        changes.push({
          network,
          networkId: id,
          endpoint,
          ...(record ? { record } : {}),
          addresses: endpointAddresses(record),
        });
      }
      this.#generation++;
      if (changes.length && !stopped) onChange(changes);
    });
    return {
      ready: w.ready,
      stop: () => {
        stopped = true;
        return w.stop();
      },
    };
  }

  /**
   * See {@linkcode Store.generation}: the number of change batches this process's watch has
   * seen (the first call starts a watch of every endpoint).
   *
   * @returns The generation.
   */
  generation(): number {
    if (!this.#watchReady) {
      const w = this.watch(() => {});
      this.#watchReady = w.ready;
      this.#watch = { revision: 0, cancel: () => w.stop() };
    }
    return this.#generation;
  }

  /** Stops the watch {@linkcode EtcdStore.generation} started, if any. */
  async close(): Promise<void> {
    await this.#watch?.cancel();
  }

  async #create(key: string, value: unknown): Promise<boolean> {
    const r = await this.#kv.txn({
      compare: [{ key, target: "create", createRevision: 0 }],
      success: [{ put: { key, value: JSON.stringify(value) } }],
    }, `create "${key}"`);
    return r.succeeded;
  }
}

/** A batch of changes under a prefix, as {@linkcode followPrefix} reports it. */
export type PrefixBatch = { kv: KeyValue; put: boolean }[];

/**
 * Follows the keys under a prefix: one range read, then a watch from the revision after it; after
 * a compaction (events lost), a new range read, reported as a batch of puts, and a new watch
 * from there. `options.snapshot`: report the first range read too (a consumer that must start
 * from the whole set); by default only what changes after `ready`.
 *
 * @example
 * ```ts ignore
 * const w = followPrefix(kv, "/nslink/s/ep/", (batch) => console.log(batch.length), { snapshot: true });
 * await w.ready;
 * await w.stop();
 * ```
 * @param kv The etcd store.
 * @param prefix The keys' prefix.
 * @param onBatch Told of each batch, in order (a promise it returns is not awaited).
 * @param options `snapshot`: report the first read too.
 * @returns The running watch.
 */
export function followPrefix(
  kv: KvStore,
  prefix: string,
  onBatch: (batch: PrefixBatch) => void | Promise<void>,
  options: { snapshot?: boolean } = {},
): StoreWatch {
  let w: Watch | undefined;
  let stopped = false;
  const deliver = (batch: PrefixBatch) => {
    if (stopped) return;
    Promise.resolve(onBatch(batch)).catch(() => {});
  };
  const start = async (report: boolean): Promise<void> => {
    const snap = await kv.range(prefix, { prefix: true, keysOnly: !report });
    if (stopped) return;
    if (report) deliver(snap.kvs.map((k) => ({ kv: k, put: true })));
    w = kv.watch(prefix, snap.revision + 1, {
      events: (events) => deliver(events.map((e) => ({ kv: e.kv, put: e.type === "put" }))),
      compacted: () => {
        void (async () => {
          await w?.cancel();
          if (!stopped) await start(true);
        })().catch(() => {});
      },
    });
  };
  const ready = start(options.snapshot ?? false);
  return {
    ready,
    stop: async () => {
      stopped = true;
      await ready.catch(() => {});
      await w?.cancel();
    },
  };
}
