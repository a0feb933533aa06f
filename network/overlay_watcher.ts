/**
 * The overlay watcher: keeps one host's FDB entries (container MAC → remote VTEP) and
 * permanent neighbour entries (container IP → MAC) on the network's VXLAN device in step with
 * the endpoints in the store. It loads a consistent snapshot (one range read, at one
 * revision), makes the kernel match it (adding what is missing, removing what is stale — also
 * entries a killed predecessor left), then follows the store's watch from the next revision.
 * After a reconnect the watch resumes from its revision; when that revision was compacted, the
 * watcher loads a new snapshot.
 *
 * @module
 */
import { NetlinkError } from "../netlink/errors.ts";
import type { NetworkWatcher } from "./network.ts";
import type { Rtnl, RtnlBatch } from "../rtnl/handle.ts";
import type { Watch, WatchEvent } from "../store/etcd.ts";
import type { KvStore } from "../store/store.ts";

/** The parts of a remote endpoint the watcher installs. */
export interface Remote {
  /** The remote host's underlay address (VTEP). */
  host: string;
  /** The container's MAC address. */
  mac: string;
  /** IPv4 address with prefix, or empty. */
  address: string;
  /** IPv6 address with prefix, or empty. */
  addressIPv6: string;
}

/** Options of {@linkcode OverlayWatcher}. */
export interface OverlayWatcherOptions {
  /** The store. */
  store: KvStore;
  /** The endpoints' key prefix. */
  prefix: string;
  /** This host's underlay address: its own endpoints need no entries. */
  self: string;
  /** The VXLAN device's name. */
  vxlan: string;
  /** A handle in the namespace of the VXLAN device. */
  rtnl: Rtnl;
  /** Called once stopped. */
  onStop?: () => void;
}

function bare(cidr: string): string {
  const i = cidr.indexOf("/");
  return i < 0 ? cidr : cidr.slice(0, i);
}

/**
 * Operations per `Rtnl.batch()` call (each is one to three requests). Not needed for
 * correctness (a batch of any size is split to fit the socket's receive buffer, and a lost ACK
 * is an error, not a wait); it only bounds how long one call holds the JS thread and how many
 * results one `lastError` pass scans.
 */
const BATCH = 256;

/** A running watcher; see the module description. Get one from `OverlayNetwork.watch()`. */
export class OverlayWatcher implements NetworkWatcher {
  /** Resolves once the first snapshot has been applied to the kernel. */
  readonly ready: Promise<void>;
  /** The last error met (the watcher keeps retrying), if any. */
  lastError: Error | undefined;
  /** How many snapshots were loaded (1 + reloads after compaction or errors). */
  snapshots = 0;
  #o: OverlayWatcherOptions;
  #revision = 0;
  #installed = new Map<string, Remote>();
  #stopped = false;
  #watch: Watch | undefined;
  #wake: (() => void) | undefined;
  #done: Promise<void>;

  /**
   * Starts watching.
   *
   * @param options What to watch and where to install entries.
   */
  constructor(options: OverlayWatcherOptions) {
    this.#o = options;
    let ready!: () => void;
    this.ready = new Promise((r) => (ready = r));
    this.#done = this.#run(ready);
  }

  /** The store revision the kernel state matches. */
  get revision(): number {
    return this.#revision;
  }

  /** The remote endpoints installed, by store key. */
  get installed(): ReadonlyMap<string, Readonly<Remote>> {
    return this.#installed;
  }

  async #run(ready: () => void): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.#snapshot();
        this.snapshots++;
        ready();
        // Follow the watch until it must reload (compaction) or the watcher stops.
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#watch = this.#o.store.watch(this.#o.prefix, this.#revision + 1, {
            events: (events, revision) => this.#apply(events, revision),
            compacted: () => resolve(),
            disconnected: (e) => (this.lastError = e),
          });
        });
        await this.#watch?.cancel();
        this.#watch = undefined;
      } catch (e) {
        this.lastError = e instanceof Error ? e : new Error(String(e));
        await this.#watch?.cancel();
        this.#watch = undefined;
        if (!this.#stopped) await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** Loads every endpoint at one revision and makes the kernel match. */
  async #snapshot(): Promise<void> {
    const { revision, kvs } = await this.#o.store.range(this.#o.prefix, { prefix: true });
    const want = new Map<string, Remote>();
    for (const kv of kvs) {
      const r = this.#remote(kv.value);
      if (r) want.set(kv.key, r);
    }
    const rt = this.#o.rtnl;
    const dev = rt.link.index(this.#o.vxlan);
    // What the kernel holds now (also what a killed watcher left behind).
    const fdbWant = new Set<string>();
    const neighWant = new Set<string>();
    for (const r of want.values()) {
      fdbWant.add(`${r.mac} ${r.host}`);
      if (r.address) neighWant.add(`${bare(r.address)} ${r.mac}`);
      if (r.addressIPv6) neighWant.add(`${bare(r.addressIPv6)} ${r.mac}`);
    }
    const ops: ((b: RtnlBatch) => void)[] = [];
    for (const e of rt.fdb.list({ dev })) {
      if (e.dst === undefined || e.index !== dev) continue;
      if (!fdbWant.has(`${e.lladdr} ${e.dst}`)) {
        ops.push((b) => b.fdb.del({ dev, lladdr: e.lladdr, dst: e.dst }));
      }
    }
    for (const n of rt.neigh.list({ dev })) {
      if (!n.state.includes("permanent") || n.lladdr === undefined) continue;
      if (!neighWant.has(`${n.address} ${n.lladdr}`)) {
        ops.push((b) => b.neigh.del({ dev, address: n.address }));
      }
    }
    for (const r of want.values()) ops.push((b) => this.#add(b, dev, r));
    this.#send(ops);
    this.#installed = want;
    this.#revision = revision;
  }

  /** Applies a batch of watch events. */
  #apply(events: WatchEvent[], revision: number): void {
    if (this.#stopped) return;
    const rt = this.#o.rtnl;
    let dev: number;
    try {
      dev = rt.link.index(this.#o.vxlan);
    } catch (e) {
      this.lastError = e as Error;
      return;
    }
    const ops: ((b: RtnlBatch) => void)[] = [];
    for (const ev of events) {
      const old = this.#installed.get(ev.kv.key);
      const now = ev.type === "put" ? this.#remote(ev.kv.value) : undefined;
      if (old && (!now || !same(old, now))) {
        ops.push((b) => this.#del(b, dev, old));
        this.#installed.delete(ev.kv.key);
      }
      if (now && !(old && same(old, now))) {
        ops.push((b) => this.#add(b, dev, now));
        this.#installed.set(ev.kv.key, now);
      }
    }
    this.#send(ops);
    this.#revision = Math.max(this.#revision, revision);
  }

  #remote(value: string): Remote | undefined {
    let ep: Partial<Remote>;
    try {
      ep = JSON.parse(value);
    } catch {
      return undefined;
    }
    if (!ep.host || !ep.mac || ep.host === this.#o.self) return undefined;
    if (!ep.address && !ep.addressIPv6) return undefined;
    return {
      host: ep.host,
      mac: ep.mac,
      address: ep.address ?? "",
      addressIPv6: ep.addressIPv6 ?? "",
    };
  }

  #add(b: RtnlBatch, dev: number, r: Remote): void {
    b.fdb.replace({ dev, lladdr: r.mac, dst: r.host });
    if (r.address) b.neigh.replace({ dev, address: bare(r.address), lladdr: r.mac });
    if (r.addressIPv6) b.neigh.replace({ dev, address: bare(r.addressIPv6), lladdr: r.mac });
  }

  #del(b: RtnlBatch, dev: number, r: Remote): void {
    b.fdb.del({ dev, lladdr: r.mac, dst: r.host });
    if (r.address) b.neigh.del({ dev, address: bare(r.address) });
    if (r.addressIPv6) b.neigh.del({ dev, address: bare(r.addressIPv6) });
  }

  /** Sends the operations in batches; an entry already gone is fine, other errors are kept. */
  #send(ops: ((b: RtnlBatch) => void)[]): void {
    for (let i = 0; i < ops.length; i += BATCH) {
      const chunk = ops.slice(i, i + BATCH);
      const errors = this.#o.rtnl.batch((b) => chunk.forEach((op) => op(b)));
      for (const e of errors) {
        if (e && !(e instanceof NetlinkError && (e.code === "ENOENT" || e.code === "ENODEV"))) {
          this.lastError = e;
        }
      }
    }
  }

  /**
   * Stops watching; the entries installed so far stay (the next watcher reconciles them).
   *
   * @example
   * ```ts ignore
   * await watcher.stop();
   * ```
   */
  async stop(): Promise<void> {
    if (this.#stopped) return this.#done;
    this.#stopped = true;
    this.#wake?.();
    await this.#watch?.cancel();
    await this.#done;
    this.#o.onStop?.();
  }
}

function same(a: Remote, b: Remote): boolean {
  return a.host === b.host && a.mac === b.mac && a.address === b.address &&
    a.addressIPv6 === b.addressIPv6;
}
