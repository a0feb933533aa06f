/**
 * The `KvStore` interface: a distributed key-value store with revisions, compare-and-swap
 * transactions, leases and watches — what several hosts need to agree on a network without a
 * lock service of nslink's own. The `overlay` driver keeps its state behind it; today's
 * implementation is etcd v3 ({@linkcode EtcdClient}, `etcd://HOST:PORT[,…]`).
 *
 * Single-host networks (`bridge`, `null`, `host`) keep theirs in the embedded file store
 * (`network/store.ts`, the default: nothing changes for single-host users). That interface is
 * synchronous (every kernel call and file operation is); a network round trip cannot be, so
 * distributed state sits behind this asynchronous one. Another engine with the same guarantees
 * (linearizable transactions, revisioned watches, leases) can stand in for etcd.
 *
 * @module
 */
import {
  type Compare,
  EtcdClient,
  type EtcdClientOptions,
  type KeyValue,
  type RangeResult,
  type TxnOp,
  type TxnResult,
  type Watch,
  type WatchHandlers,
} from "./etcd.ts";

/** A distributed key-value store with revisions, transactions, leases and watches. */
export interface KvStore {
  /** The store's URL, named in every error, e.g. `etcd://198.51.100.1:2379`. */
  readonly url: string;
  /** Reads one key. */
  get(key: string): Promise<KeyValue | undefined>;
  /** Reads every key under a prefix (or one key), at the current revision or at `revision`. */
  range(
    key: string,
    options?: { prefix?: boolean; revision?: number; keysOnly?: boolean },
  ): Promise<RangeResult>;
  /** Writes one key, optionally under a lease. */
  put(key: string, value: string, options?: { lease?: string }): Promise<number>;
  /** Deletes one key, or every key under a prefix. */
  delete(key: string, options?: { prefix?: boolean }): Promise<number>;
  /** Runs a compare-and-swap transaction atomically. */
  txn(
    t: { compare: Compare[]; success?: TxnOp[]; failure?: TxnOp[] },
    op?: string,
  ): Promise<TxnResult>;
  /** Grants a lease of `ttl` seconds. */
  leaseGrant(ttl: number): Promise<string>;
  /** Renews a lease once; 0 when it no longer exists. */
  leaseKeepAlive(id: string): Promise<number>;
  /** Revokes a lease (its keys go at once). */
  leaseRevoke(id: string): Promise<void>;
  /** Follows every change under a prefix from a revision on. */
  watch(prefix: string, startRevision: number, handlers: WatchHandlers): Watch;
}

const stores = new Map<string, KvStore>();

/**
 * The store for a URL; one client per URL and options in a process. Today:
 * `etcd://HOST:PORT[,…]`, or `etcd+https://HOST:PORT[,…]` with `tls` (CA, client certificate
 * and key: PEM text or file paths); `username` and `password` for etcd's auth.
 *
 * @example
 * ```ts ignore
 * const store = openStore("etcd+https://198.51.100.1:2379", {
 *   tls: { ca: "/etc/nslink/ca.pem", cert: "/etc/nslink/client.pem", key: "/etc/nslink/client-key.pem" },
 *   username: "nslink",
 *   password: "…",
 * });
 * await store.put("/hello", "world");
 * ```
 * @param url The store URL.
 * @param options TLS and auth (see {@linkcode EtcdClientOptions}).
 * @returns The store.
 */
export function openStore(url: string, options: EtcdClientOptions = {}): KvStore {
  if (typeof url !== "string" || !/^etcd(\+https)?:\/\//.test(url)) {
    throw new TypeError(
      `Unknown store "${String(url)}": expected etcd://HOST:PORT[,HOST:PORT…] or etcd+https://…`,
    );
  }
  const id = JSON.stringify([
    url,
    options.tls ?? null,
    options.username ?? null,
    options.password ?? null,
  ]);
  let s = stores.get(id);
  if (!s) {
    s = new EtcdClient(url, options);
    stores.set(id, s);
  }
  return s;
}
