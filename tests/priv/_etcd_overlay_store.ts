/**
 * The setup of the privileged tests of `EtcdStore` on the overlay's key layout (not a test
 * itself): one etcd member on 127.0.0.1, on the file's own ports, inside the throw-away
 * namespace, and the store as host {@linkcode HOST} sees it.
 *
 * @module
 */
import { EtcdClient } from "../../store/etcd.ts";
import { EtcdStore } from "../../network/store_etcd.ts";
import { overlayStoreLayout } from "../../network/overlay_host.ts";
import { type EtcdCluster, startEtcd } from "./_etcd.ts";

/** The host whose view of the store these tests take (its underlay address). */
export const HOST = "198.51.100.11";

/** One etcd for a test file: see {@linkcode overlayEtcdStore}. */
export interface OverlayEtcdStore {
  /** Starts the etcd (in before()). */
  setUp(): Promise<void>;
  /** Stops it and removes its data (in after()). */
  tearDown(): Promise<void>;
  /**
   * A client of the etcd, and an `EtcdStore` on the overlay's layout over it, as host
   * {@linkcode HOST}.
   */
  open(): { kv: EtcdClient; s: EtcdStore };
}

/**
 * One etcd member on 127.0.0.1 for a test file of `EtcdStore` on the overlay's layout.
 *
 * @param ports The member's client and peer ports (each file its own).
 * @returns The setup, the teardown and what opens the store.
 *
 * @example Starting it around a file's tests
 * ```ts
 * const etcd = overlayEtcdStore({ clientPort: 23930, peerPort: 23940 });
 * before(async () => {
 *   if (isRoot) await etcd.setUp();
 * });
 * after(() => etcd.tearDown());
 * // in a test: const { kv, s } = etcd.open();
 * ```
 */
export function overlayEtcdStore(
  ports: { clientPort: number; peerPort: number },
): OverlayEtcdStore {
  let etcd: EtcdCluster | undefined;
  return {
    async setUp() {
      etcd = await startEtcd(["127.0.0.1"], ports);
    },
    async tearDown() {
      await etcd?.stop();
    },
    open() {
      const kv = new EtcdClient(etcd!.url);
      return { kv, s: new EtcdStore(kv, overlayStoreLayout(HOST)) };
    },
  };
}
