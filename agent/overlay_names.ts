/**
 * The names of an overlay network's endpoints on OTHER hosts, for the agent's DNS duty: the
 * store's view (`/nslink/ov/NAME/endpoints/EP`, each record carrying the endpoint's host,
 * addresses and aliases), followed the way the overlay watcher follows it for FDB entries: one
 * range read at one revision, then the store's watch from the next revision (a new snapshot
 * after a compaction or a failure). An endpoint answers while its record exists and its host is
 * registered (`…/hosts/ADDR`, under the host's lease): it goes when it is unlinked, when its
 * host leaves the network, and when its host's lease expires.
 *
 * Nothing from the store is served unchecked: a record must pass the overlay watcher's checks
 * (`checkRemote`: addresses inside the network's subnets, …) and its name must be an endpoint
 * name; each alias must be a DNS name. A bad record is reported and left out; a bad alias is
 * reported and left out, its endpoint still answers under its other names.
 *
 * This host's own endpoints are left out: the agent serves them from the local state, where they
 * answer the moment `link()` returns.
 *
 * @module
 */
import type { DnsContainer } from "../dns/resolver.ts";
import { checkRemote } from "../network/overlay_watcher.ts";
import { overlayKeys } from "../network/overlay_host.ts";
import type { KeyValue, Watch } from "../store/etcd.ts";
import type { KvStore } from "../store/store.ts";
import { formatIP, parseIP } from "../net/ip.ts";

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ALIAS_RE =
  /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*$/;

/** Options of {@linkcode RemoteNames}. */
export interface RemoteNamesOptions {
  /** The store. */
  store: KvStore;
  /** The overlay network's name. */
  network: string;
  /** This host's underlay address: its endpoints are left out. */
  self: string;
  /** The network's subnets: an address outside them is refused. */
  subnets: string[];
  /** Told of the whole set of other hosts' endpoints each time it changes. */
  onChange(containers: DnsContainer[]): void;
  /** Told of each record or alias left out, once per reason; default: nothing. */
  onReject?(key: string, reason: string): void;
}

interface Entry {
  host: string;
  container: DnsContainer;
}

/**
 * Checks one endpoint record as a DNS entry: the overlay watcher's checks, an endpoint name,
 * aliases that are DNS names (a bad alias is reported through `reject` and left out).
 *
 * @example
 * ```ts
 * import { remoteContainer } from "./overlay_names.ts";
 * remoteContainer("ov1", "web", JSON.stringify({
 *   name: "web", host: "198.51.100.12", mac: "02:42:cb:00:71:05",
 *   address: "203.0.113.5/24", addressIPv6: "", aliases: ["www"],
 * }), ["203.0.113.0/24"]).container.aliases; // ["www"]
 * ```
 * @param network The network's name.
 * @param name The endpoint's name (its key's last part).
 * @param value The stored JSON.
 * @param subnets The network's subnets.
 * @param reject Told of each alias left out.
 * @returns The endpoint's host and its container as the resolver sees it.
 * @throws {TypeError} Naming what is wrong with the record.
 */
export function remoteContainer(
  network: string,
  name: string,
  value: string,
  subnets: readonly string[],
  reject: (reason: string) => void = () => {},
): Entry {
  if (!NAME_RE.test(name)) throw new TypeError(`endpoint name "${name}" is not a valid name`);
  const r = checkRemote(value, { subnets });
  const o = JSON.parse(value) as Record<string, unknown>;
  const aliases: string[] = [];
  if (o.aliases !== undefined) {
    if (!Array.isArray(o.aliases)) reject(`"aliases" is not a list`);
    else {
      for (const a of o.aliases) {
        if (typeof a === "string" && ALIAS_RE.test(a)) aliases.push(a);
        else reject(`alias ${JSON.stringify(a)} is not a DNS name`);
      }
    }
  }
  const bare = (c: string) => c.replace(/\/\d+$/, "");
  return {
    host: r.host,
    container: {
      id: `overlay:${network}/${name}`,
      name,
      aliases,
      ipv4: r.address ? [bare(r.address)] : [],
      ipv6: r.addressIPv6 ? [bare(r.addressIPv6)] : [],
    },
  };
}

/**
 * Follows one overlay network's endpoints on other hosts in the store; see the module
 * description.
 *
 * @example
 * ```ts ignore
 * const names = new RemoteNames({
 *   store, network: "ov1", self: "198.51.100.11", subnets: ["203.0.113.0/24"],
 *   onChange: (containers) => console.log(containers.map((c) => c.name)),
 * });
 * await names.ready;
 * await names.stop();
 * ```
 */
export class RemoteNames {
  /** Resolves once the first snapshot was delivered (or it stopped). */
  readonly ready: Promise<void>;
  /** The last error met (it keeps retrying), if any. */
  lastError: Error | undefined;
  #o: RemoteNamesOptions;
  #root: string;
  #endpoints: string;
  #hostsPrefix: string;
  #entries = new Map<string, Entry>();
  #hosts = new Set<string>();
  #rejected = new Map<string, string>();
  #stopped = false;
  #watch: Watch | undefined;
  #wake: (() => void) | undefined;
  #ready!: () => void;
  #done: Promise<void>;
  #failures = 0;

  /**
   * Starts following.
   *
   * @param options The store, the network, this host, where changes go.
   */
  constructor(options: RemoteNamesOptions) {
    this.#o = options;
    const keys = overlayKeys(options.network);
    this.#root = keys.root;
    this.#endpoints = keys.endpoints;
    this.#hostsPrefix = keys.hosts;
    this.ready = new Promise((r) => (this.#ready = r));
    this.#done = this.#run();
  }

  /** The other hosts' endpoints served now. */
  get containers(): DnsContainer[] {
    const out: DnsContainer[] = [];
    for (const e of this.#entries.values()) {
      if (e.host !== this.#o.self && this.#hosts.has(e.host)) out.push(e.container);
    }
    return out;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        const { revision, kvs } = await this.#o.store.range(this.#root, { prefix: true });
        if (this.#stopped) break;
        this.#entries.clear();
        this.#hosts.clear();
        for (const kv of kvs) this.#take(kv, true);
        this.#failures = 0;
        this.#o.onChange(this.containers);
        this.#ready();
        // Follow the watch until a compaction forces a new snapshot, or it stops.
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          if (this.#stopped) return resolve();
          this.#watch = this.#o.store.watch(this.#root, revision + 1, {
            events: (events) => {
              if (this.#stopped) return;
              let changed = false;
              for (const ev of events) changed = this.#take(ev.kv, ev.type === "put") || changed;
              if (changed) this.#o.onChange(this.containers);
            },
            compacted: () => resolve(),
            disconnected: (e) => (this.lastError = e),
          });
        });
      } catch (e) {
        this.lastError = e instanceof Error ? e : new Error(String(e));
        this.#failures++;
        let timer: ReturnType<typeof setTimeout> | undefined;
        if (!this.#stopped) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
            if (this.#stopped) return resolve();
            timer = setTimeout(resolve, Math.min(250 * 2 ** (this.#failures - 1), 10_000));
          });
        }
        clearTimeout(timer);
      } finally {
        this.#wake = undefined;
        await this.#watch?.cancel().catch(() => {});
        this.#watch = undefined;
      }
    }
  }

  /** Takes one key into the view; returns whether what is served may have changed. */
  #take(kv: KeyValue, present: boolean): boolean {
    if (kv.key.startsWith(this.#hostsPrefix)) {
      const addr = parseIP(kv.key.slice(this.#hostsPrefix.length));
      if (!addr) return false;
      const host = formatIP(addr);
      if (present === this.#hosts.has(host)) return false;
      if (present) this.#hosts.add(host);
      else this.#hosts.delete(host);
      return true;
    }
    if (!kv.key.startsWith(this.#endpoints)) return false;
    const had = this.#entries.delete(kv.key);
    if (!present) {
      this.#rejected.delete(kv.key);
      return had;
    }
    const name = kv.key.slice(this.#endpoints.length);
    try {
      const entry = remoteContainer(
        this.#o.network,
        name,
        kv.value,
        this.#o.subnets,
        (why) => this.#reject(kv.key, why),
      );
      this.#entries.set(kv.key, entry);
      return true;
    } catch (e) {
      this.#reject(kv.key, (e as Error).message);
      return had;
    }
  }

  #reject(key: string, reason: string): void {
    if (this.#rejected.get(key) === reason) return;
    this.#rejected.set(key, reason);
    this.#o.onReject?.(key, reason);
  }

  /**
   * Stops following; resolves once the watch is closed.
   *
   * @example
   * ```ts ignore
   * await names.stop();
   * ```
   */
  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#ready();
      this.#wake?.();
      await this.#watch?.cancel().catch(() => {});
    }
    await this.#done;
  }
}
