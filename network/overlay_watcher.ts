/**
 * The overlay watcher: keeps one host's FDB entries (container MAC → remote VTEP) and
 * permanent neighbour entries (container IP → MAC) on the network's VXLAN device in step with
 * the endpoints in the store. It loads a consistent snapshot (one range read, at one
 * revision), makes the kernel match it (adding what is missing, removing what is stale — also
 * entries a killed predecessor left), then follows the store's watch from the next revision.
 * After a reconnect the watch resumes from its revision; when that revision was compacted, the
 * watcher loads a new snapshot.
 *
 * Nothing from the store reaches the kernel unchecked: each endpoint is validated on its own
 * (well-formed JSON, a unicast MAC, addresses inside the network's subnets, a tunnel endpoint
 * that is a registered host of the network); a bad one is reported (`onReject`, `rejected`) and
 * skipped, and never stops the others. An entry counts as installed only once the kernel
 * accepted it. After any failed apply (the VXLAN device gone, the kernel refusing an entry), and
 * every `resync` milliseconds, the watcher reconciles the kernel against a fresh snapshot, so
 * events it could not apply are not lost.
 *
 * A deleted network's VNI is handed to the next network, with the same device names: a watcher
 * given the network's `config` key stops for good (touching the kernel no more) once that key is
 * deleted or names another network, so that a watcher outliving its network in some process
 * never removes the entries of the next one.
 *
 * @module
 */
import { NetlinkError } from "../netlink/errors.ts";
import { type Cidr, contains, formatIP, parseCidr, parseIP } from "../net/ip.ts";
import type { NetworkWatcher } from "./network.ts";
import type { Rtnl, RtnlBatch } from "../rtnl/handle.ts";
import type { KeyValue, Watch, WatchEvent } from "../store/etcd.ts";
import type { KvStore } from "../store/store.ts";
import { overlayDriver } from "../drivers/overlay.ts";

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
  /** Called once stopped (also when the watcher stopped itself: its network was deleted). */
  onStop?: () => void;
  /**
   * The network's configuration key (`…/config`, sharing its parent with `prefix` and `hosts`):
   * once the watcher has seen it, its deletion, or a value with another `id` (the network
   * deleted, maybe made again), stops the watcher before it touches the kernel again: the next
   * network may have the same VNI and device names. Default: no check.
   */
  config?: string;
  /** The network's subnets: a remote address outside them is skipped (default: no check). */
  subnets?: string[];
  /**
   * The key prefix of the network's registered hosts (`…/hosts/`, one key per host address,
   * sharing its parent with `prefix`): an endpoint whose tunnel endpoint is not registered there
   * is skipped. Default: no check.
   */
  hosts?: string;
  /** Milliseconds between reconciliations of the kernel against the store; default 30,000. */
  resync?: number;
  /** Told of each endpoint skipped, once per bad value; default a warning on stderr. */
  onReject?: (key: string, reason: string) => void;
}

/**
 * Checks one endpoint value from the store before it may reach the kernel.
 *
 * @example
 * ```ts
 * import { checkRemote } from "./overlay_watcher.ts";
 * checkRemote('{"host":"198.51.100.12","mac":"02:42:cb:00:71:05","address":"203.0.113.5/24"}', {
 *   subnets: ["203.0.113.0/24"],
 * }); // { host: "198.51.100.12", mac: "02:42:cb:00:71:05", address: "203.0.113.5/24", addressIPv6: "" }
 * ```
 * @param value The stored JSON.
 * @param rules `subnets` the addresses must be inside (when given).
 * @returns The endpoint's parts, normalized (lower-case MAC, canonical addresses).
 * @throws {TypeError} Naming what is wrong with it.
 */
export function checkRemote(value: string, rules: { subnets?: readonly string[] } = {}): Remote {
  let ep: unknown;
  try {
    ep = JSON.parse(value);
  } catch {
    throw new TypeError("not JSON");
  }
  if (typeof ep !== "object" || ep === null || Array.isArray(ep)) {
    throw new TypeError("not a JSON object");
  }
  const o = ep as Record<string, unknown>;
  const text = (k: string): string => {
    const v = o[k];
    if (v === undefined || v === null) return "";
    if (typeof v !== "string") throw new TypeError(`"${k}" is not a string`);
    return v;
  };
  const host = text("host");
  const hostBytes = parseIP(host);
  if (!hostBytes) throw new TypeError(`tunnel endpoint "${host}" is not an IP address`);
  const mac = text("mac").toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) throw new TypeError(`bad MAC "${mac}"`);
  if (parseInt(mac.slice(0, 2), 16) & 1) throw new TypeError(`multicast MAC "${mac}"`);
  if (mac === "00:00:00:00:00:00") throw new TypeError(`all-zero MAC`);
  const subnets = rules.subnets?.map((c) => parseCidr(c));
  const address = checkAddress(text("address"), 4, subnets);
  const addressIPv6 = checkAddress(text("addressIPv6"), 6, subnets);
  if (!address && !addressIPv6) throw new TypeError("no address");
  return { host: formatIP(hostBytes), mac, address, addressIPv6 };
}

function checkAddress(cidr: string, family: 4 | 6, subnets: Cidr[] | undefined): string {
  if (cidr === "") return "";
  let c: Cidr;
  try {
    c = parseCidr(cidr);
  } catch {
    throw new TypeError(`address "${cidr}" is not address/prefix`);
  }
  if (c.family !== family) throw new TypeError(`address "${cidr}" is not IPv${family}`);
  if (
    subnets &&
    !subnets.some((s) => s.prefixLength === c.prefixLength && contains(s, family, c.address))
  ) {
    throw new TypeError(`address "${cidr}" is outside the network's subnets`);
  }
  return `${formatIP(parseIP(bare(cidr))!)}/${c.prefixLength}`;
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

/** One entry's kernel requests, and what to record when the kernel took them all. */
interface Group {
  ops: ((b: RtnlBatch) => void)[];
  /** Deletions: an entry already gone counts as done. */
  del: boolean;
  done: () => void;
}

/** A running watcher; see the module description. Get one from `OverlayNetwork.watch()`. */
export class OverlayWatcher implements NetworkWatcher {
  /** Resolves once the first snapshot has been applied to the kernel (or the watcher stopped). */
  readonly ready: Promise<void>;
  /** The last error met (the watcher keeps retrying), if any. */
  lastError: Error | undefined;
  /** How many snapshots were loaded (1 + reloads after compaction, errors and resyncs). */
  snapshots = 0;
  #o: OverlayWatcherOptions;
  #root: string;
  #revision = 0;
  /** What the kernel took, by store key. */
  #installed = new Map<string, Remote>();
  /** Every endpoint in the store that passed the checks (the host's registration aside). */
  #valid = new Map<string, Remote>();
  /** Registered hosts (when `hosts` is given). */
  #hosts = new Set<string>();
  #rejected = new Map<string, string>();
  #stopped = false;
  /** The network's id (its configuration's `id`), once seen. */
  #network: string | undefined;
  #failures = 0;
  #watch: Watch | undefined;
  #wake: (() => void) | undefined;
  #ready!: () => void;
  #done: Promise<void>;

  /**
   * Starts watching.
   *
   * @param options What to watch and where to install entries.
   */
  constructor(options: OverlayWatcherOptions) {
    this.#o = options;
    this.#root = options.hosts === undefined
      ? options.prefix
      : commonParent(options.prefix, options.hosts);
    if (options.config !== undefined && !options.config.startsWith(this.#root)) {
      throw new RangeError(
        `Overlay watcher: the configuration key "${options.config}" is not under "${this.#root}"`,
      );
    }
    this.ready = new Promise((r) => (this.#ready = r));
    this.#done = this.#run();
  }

  /** The store revision the kernel state matches. */
  get revision(): number {
    return this.#revision;
  }

  /** The remote endpoints installed, by store key. */
  get installed(): ReadonlyMap<string, Readonly<Remote>> {
    return this.#installed;
  }

  /** The endpoints skipped, by store key, with the reason. */
  get rejected(): ReadonlyMap<string, string> {
    return this.#rejected;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await this.#snapshot();
        this.snapshots++;
        this.#ready();
        // Follow the watch until it must reload (compaction, a failed apply, the resync
        // period) or the watcher stops.
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          if (this.#stopped) return resolve();
          timer = setTimeout(resolve, this.#delay());
          this.#watch = this.#o.store.watch(this.#root, this.#revision + 1, {
            events: (events, revision) => this.#apply(events, revision),
            compacted: () => resolve(),
            disconnected: (e) => (this.lastError = e),
          });
        });
      } catch (e) {
        this.lastError = e instanceof Error ? e : new Error(String(e));
        this.#failures++;
        if (!this.#stopped) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
            if (this.#stopped) return resolve();
            timer = setTimeout(resolve, this.#delay());
          });
        }
      } finally {
        clearTimeout(timer);
        this.#wake = undefined;
        await this.#watch?.cancel();
        this.#watch = undefined;
      }
    }
  }

  /** The wait before the next reconciliation: backing off while failing, else the period. */
  #delay(): number {
    if (this.#failures > 0) return Math.min(250 * 2 ** (this.#failures - 1), 10_000);
    return this.#o.resync ?? 30_000;
  }

  /** Reconcile soon: a change could not be applied. */
  #failed(e: Error): void {
    this.lastError = e;
    this.#failures++;
    this.#wake?.();
  }

  /** Loads every endpoint at one revision and makes the kernel match. */
  async #snapshot(): Promise<void> {
    const { revision, kvs } = await this.#o.store.range(this.#root, { prefix: true });
    if (this.#o.config !== undefined) {
      if (this.#gone(kvs.find((kv) => kv.key === this.#o.config))) return;
    }
    const rt = this.#o.rtnl;
    const dev = rt.link.index(this.#o.vxlan);
    this.#valid.clear();
    this.#hosts.clear();
    const seen = new Set<string>();
    for (const kv of kvs) this.#take(kv, true, seen);
    for (const key of [...this.#rejected.keys()]) if (!seen.has(key)) this.#rejected.delete(key);
    const want = this.#want();
    // What the kernel holds now (also what a killed watcher left behind).
    const fdbWant = new Set<string>();
    const neighWant = new Set<string>();
    for (const r of want.values()) {
      fdbWant.add(`${r.mac} ${r.host}`);
      if (r.address) neighWant.add(`${bare(r.address)} ${r.mac}`);
      if (r.addressIPv6) neighWant.add(`${bare(r.addressIPv6)} ${r.mac}`);
    }
    const groups: Group[] = [];
    const stale = (ops: ((b: RtnlBatch) => void)[]) =>
      groups.push({ ops, del: true, done: () => {} });
    for (const e of rt.fdb.list({ dev })) {
      if (e.dst === undefined || e.index !== dev) continue;
      if (!fdbWant.has(`${e.lladdr} ${e.dst}`)) {
        stale([(b) => b.fdb.del({ dev, lladdr: e.lladdr, dst: e.dst })]);
      }
    }
    for (const n of rt.neigh.list({ dev })) {
      if (!n.state.includes("permanent") || n.lladdr === undefined) continue;
      if (!neighWant.has(`${n.address} ${n.lladdr}`)) {
        stale([(b) => b.neigh.del({ dev, address: n.address })]);
      }
    }
    const installed = new Map<string, Remote>();
    for (const [key, r] of want) {
      groups.push({ ops: this.#addOps(dev, r), del: false, done: () => installed.set(key, r) });
    }
    const ok = this.#send(groups);
    this.#installed = installed;
    this.#revision = revision;
    if (ok) this.#failures = 0;
    else this.#failures++;
  }

  /**
   * Takes one key of the store into the watcher's view: a registered host, or an endpoint
   * (checked; a bad one is reported and left out). Returns whether the host set changed.
   */
  #take(kv: KeyValue, present: boolean, seen?: Set<string>): boolean {
    const { prefix, hosts } = this.#o;
    if (hosts !== undefined && kv.key.startsWith(hosts)) {
      const addr = parseIP(kv.key.slice(hosts.length));
      if (!addr) return false;
      const host = formatIP(addr);
      if (present === this.#hosts.has(host)) return false;
      if (present) this.#hosts.add(host);
      else this.#hosts.delete(host);
      return true;
    }
    if (!kv.key.startsWith(prefix)) return false;
    this.#valid.delete(kv.key);
    if (!present) {
      this.#rejected.delete(kv.key);
      return false;
    }
    seen?.add(kv.key);
    try {
      const r = checkRemote(kv.value, { subnets: this.#o.subnets });
      this.#rejected.delete(kv.key);
      this.#valid.set(kv.key, r);
    } catch (e) {
      this.#reject(kv.key, (e as Error).message);
    }
    return false;
  }

  /**
   * Takes the network's configuration (`undefined`: deleted); when the network the watcher
   * served is gone, stops the watcher for good and returns true.
   */
  #gone(kv: KeyValue | undefined): boolean {
    const id = kv === undefined ? undefined : idOf(kv.value);
    if (this.#network === undefined) {
      this.#network = id;
      return false;
    }
    if (id === this.#network) return false;
    this.lastError = new Error(
      `Overlay watcher: the network's configuration "${this.#o.config}" was ${
        id === undefined ? "deleted" : "replaced by another network's"
      }: the watcher stopped`,
    );
    this.#stopped = true;
    this.#ready();
    this.#wake?.();
    void this.#done.then(() => this.#o.onStop?.());
    return true;
  }

  #reject(key: string, reason: string): void {
    if (this.#rejected.get(key) === reason) return;
    this.#rejected.set(key, reason);
    this.lastError = new Error(`Overlay endpoint "${key}" skipped: ${reason}`);
    if (this.#o.onReject) this.#o.onReject(key, reason);
    else console.warn(`nslink: ${this.lastError.message}`);
  }

  /** Whether an endpoint (valid) should be installed: not ours, on a registered host. */
  #wanted(key: string, r: Remote): boolean {
    if (r.host === this.#o.self) return false;
    if (this.#o.hosts !== undefined && !this.#hosts.has(r.host)) {
      this.#reject(key, `tunnel endpoint ${r.host} is not a registered host of the network`);
      return false;
    }
    if (this.#rejected.has(key)) this.#rejected.delete(key);
    return true;
  }

  #want(): Map<string, Remote> {
    const want = new Map<string, Remote>();
    for (const [key, r] of this.#valid) if (this.#wanted(key, r)) want.set(key, r);
    return want;
  }

  /** Applies a batch of watch events. */
  #apply(events: WatchEvent[], revision: number): void {
    if (this.#stopped) return;
    for (const ev of events) {
      if (ev.kv.key === this.#o.config && this.#gone(ev.type === "put" ? ev.kv : undefined)) {
        return;
      }
    }
    try {
      const changed = new Set<string>();
      let hostsChanged = false;
      for (const ev of events) {
        if (this.#take(ev.kv, ev.type === "put")) hostsChanged = true;
        if (ev.kv.key.startsWith(this.#o.prefix)) changed.add(ev.kv.key);
      }
      const keys = hostsChanged
        ? new Set([...changed, ...this.#valid.keys(), ...this.#installed.keys()])
        : changed;
      const dev = this.#o.rtnl.link.index(this.#o.vxlan);
      // Every removal before any addition: a neighbour entry is keyed by its address alone, so
      // when an address moves from one endpoint to another in one batch, removing the old
      // holder's entry after the new holder's was added would remove the new one.
      const groups: Group[] = [];
      const adds: Group[] = [];
      for (const key of keys) {
        const old = this.#installed.get(key);
        const r = this.#valid.get(key);
        const now = r && this.#wanted(key, r) ? r : undefined;
        if (old && (!now || !same(old, now))) {
          groups.push({
            ops: this.#delOps(dev, old),
            del: true,
            done: () => this.#installed.delete(key),
          });
        }
        if (now && !(old && same(old, now))) {
          adds.push({
            ops: this.#addOps(dev, now),
            del: false,
            done: () => this.#installed.set(key, now),
          });
        }
      }
      groups.push(...adds);
      if (!this.#send(groups)) {
        this.#failed(this.lastError ?? new Error("An overlay entry could not be applied"));
        return;
      }
      this.#revision = Math.max(this.#revision, revision);
    } catch (e) {
      // E.g. the VXLAN device is gone: nothing of this batch was applied; reconcile.
      this.#failed(e instanceof Error ? e : new Error(String(e)));
    }
  }

  #addOps(dev: number, r: Remote): ((b: RtnlBatch) => void)[] {
    return overlayDriver.remoteOps(dev, r, true);
  }

  #delOps(dev: number, r: Remote): ((b: RtnlBatch) => void)[] {
    return overlayDriver.remoteOps(dev, r, false);
  }

  /**
   * Sends the groups in batches; records each group whose requests all succeeded (for a
   * deletion, an entry already gone is fine). Returns whether every group succeeded; the first
   * other error is kept in `lastError`.
   */
  #send(groups: Group[]): boolean {
    let ok = true;
    for (let i = 0; i < groups.length;) {
      const chunk: Group[] = [];
      let n = 0;
      for (; i < groups.length && (n === 0 || n + groups[i].ops.length <= BATCH); i++) {
        chunk.push(groups[i]);
        n += groups[i].ops.length;
      }
      let errors: (NetlinkError | undefined)[];
      try {
        errors = this.#o.rtnl.batch((b) => chunk.forEach((g) => g.ops.forEach((op) => op(b))));
      } catch (e) {
        this.lastError = e instanceof Error ? e : new Error(String(e));
        return false;
      }
      if (errors.length !== n) {
        this.lastError = new Error(`Overlay watcher: ${errors.length} answers to ${n} requests`);
        return false;
      }
      let at = 0;
      for (const g of chunk) {
        let good = true;
        for (let k = 0; k < g.ops.length; k++) {
          const e = errors[at + k];
          if (!e) continue;
          if (g.del && e instanceof NetlinkError && (e.code === "ENOENT" || e.code === "ENODEV")) {
            continue;
          }
          good = false;
          this.lastError = e;
        }
        at += g.ops.length;
        if (good) g.done();
        else ok = false;
      }
    }
    return ok;
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
    this.#ready(); // whoever waits for the first snapshot is not left waiting
    this.#wake?.();
    await this.#watch?.cancel();
    await this.#done;
    this.#o.onStop?.();
  }
}

/** A network configuration's `id` (the whole value when it is not JSON with one). */
function idOf(value: string): string {
  try {
    const id = (JSON.parse(value) as { id?: unknown }).id;
    if (typeof id === "string") return id;
  } catch { /* not JSON */ }
  return value;
}

function same(a: Remote, b: Remote): boolean {
  return a.host === b.host && a.mac === b.mac && a.address === b.address &&
    a.addressIPv6 === b.addressIPv6;
}

/** The longest common prefix of two keys, ending at a "/". */
function commonParent(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return a.slice(0, a.lastIndexOf("/", i - 1) + 1);
}
