/**
 * The names of a state directory's DNS-enabled networks, kept current through inotify: the
 * agent's DNS duty calls {@linkcode StateNames.refresh} before answering any query. It drains the
 * state directory's watch (the file store's `FileWatch`, network/store_watch.ts, the same one
 * behind `Store.watch()`/`Store.generation()`) with a non-blocking read and re-reads only what
 * changed. The kernel queues an event
 * during the file operation itself (the `rename` that makes an endpoint `linked`, the `unlink`
 * that removes it), before `link()`/`unlink()` return, so a query that arrives after they
 * returned is answered from the state they left: no lag, and no round trip from `link()` to the
 * agent.
 *
 * The layout read (see README "How state works"): `networks/NAME.json` (`config.dns`,
 * `config.dnsServers`, `config.internal`, the pools' subnets and gateways), `ep.ID/NAME.json`
 * (state, interfaces' addresses, `aliases`, `namespace`), `rel.ID/NAME` (released endpoints:
 * their names are gone). Files are read directly, synchronously: this runs between a query's
 * arrival and its answer.
 *
 * Permissions: Deno needs `--allow-read` on the state directory and `--allow-ffi`.
 *
 * @module
 */
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FileWatch } from "../network/store_watch.ts";
import { type DnsContainer, type DnsNetwork, NameTable } from "../dns/resolver.ts";
import type { EndpointRecord, NetworkRecord } from "../model/records.ts";

/** A DNS-enabled network as the agent serves it. */
export interface ServedNetwork {
  /** Its name. */
  name: string;
  /** Its id. */
  id: string;
  /** Its gateway addresses (IPv4, IPv6): where the agent listens. */
  gateways: string[];
  /** Its subnets. */
  subnets: string[];
  /** Forwards nothing. */
  internal: boolean;
  /** Its upstreams (empty: the host's). */
  upstreams: string[];
  /**
   * An overlay network: where its other hosts' endpoints are (the store, with the options saved
   * in the host's record) and this host's underlay address.
   */
  overlay?: { store: string; advertise: string; options: Record<string, string> };
}

interface NetState {
  served: ServedNetwork;
  /** Endpoint name -> its container as DNS sees it (linked, not released). */
  containers: Map<string, DnsContainer>;
}

const TMP_RE = /\.tmp-\d+-[0-9a-f]+$/;
const DATA_RE = /^(ep|rel)\.([0-9a-f]+)$/;

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

const bare = (cidr: string) => cidr.replace(/\/\d+$/, "");

/**
 * Whether a saved network has DNS on: a bridge (or overlay) network whose configuration says
 * `dns: true` (saved by default since DNS exists).
 *
 * @example
 * ```ts ignore
 * dnsEnabled(record); // true
 * ```
 * @param record The network record.
 * @returns Whether the agent serves its names.
 */
export function dnsEnabled(record: Pick<NetworkRecord, "config" | "state">): boolean {
  return (record.state ?? "ready") === "ready" &&
    (record.config as { dns?: unknown }).dns === true;
}

/**
 * The names of one state directory's networks, refreshed from inotify events.
 *
 * @example
 * ```ts ignore
 * const names = new StateNames("/run/nslink");
 * names.refresh(); // true when something changed
 * names.table; // a NameTable of every DNS-enabled network
 * names.close();
 * ```
 */
export class StateNames {
  /** The state directory. */
  readonly stateDir: string;
  /** The state directory's watch (the file store's, network/store_watch.ts). */
  #watch: FileWatch;
  #nets = new Map<string, NetState>();
  /** Network name -> the endpoints of other hosts (overlay networks), set by the DNS duty. */
  #remote = new Map<string, readonly DnsContainer[]>();
  #table: NameTable = new NameTable([]);
  /** The table is behind the records: built again when next asked for. */
  #stale = false;
  #serial = 1;
  #closed = false;

  /**
   * Opens the inotify fd, watches the directory and reads everything once.
   *
   * @param stateDir The state directory (made by the caller).
   */
  constructor(stateDir: string) {
    this.stateDir = stateDir;
    this.#watch = new FileWatch(stateDir);
    this.#rescan();
  }

  /**
   * The current table, built when first asked for after a change (a burst of links between two
   * queries costs one build, and none without queries): the same object until the next change.
   */
  get table(): NameTable {
    if (this.#stale) {
      this.#stale = false;
      this.#build();
    }
    return this.#table;
  }

  /** The DNS-enabled networks now. */
  get networks(): ServedNetwork[] {
    return [...this.#nets.values()].map((n) => n.served);
  }

  /**
   * Applies what the kernel queued since the last call: reads the inotify fd until it is empty
   * (non-blocking) and re-reads the records named by the events.
   *
   * @returns Whether the table or the networks changed.
   */
  refresh(): boolean {
    if (this.#closed) return false;
    const changes = this.#watch.changes();
    if (changes.length === 0) return false;
    let changed = false;
    let networks = false;
    const dirty = new Set<string>(); // "ID/NAME"
    for (const { kind, entry } of changes) {
      if (TMP_RE.test(entry)) continue;
      if (kind === "networks") networks = true;
      else {
        const m = DATA_RE.exec(kind);
        if (m) dirty.add(`${m[2]}/${entry.replace(/\.json$/, "")}`);
      }
    }
    if (networks) changed = this.#loadNetworks() || changed;
    for (const key of dirty) {
      const [id, name] = key.split("/");
      const net = this.#byId(id);
      if (net) changed = this.#loadEndpoint(net, name) || changed;
    }
    if (changed) this.#rebuild();
    return changed;
  }

  /**
   * Sets the endpoints of an overlay network that live on other hosts (from the store), served
   * beside this host's own; an empty list removes them. Rebuilds the table at once.
   *
   * @example
   * ```ts ignore
   * names.setRemote("ov1", [{ name: "web", aliases: ["www"], ipv4: ["203.0.113.5"] }]);
   * server.table = names.table;
   * ```
   * @param network The network's name.
   * @param containers Its other hosts' endpoints.
   */
  setRemote(network: string, containers: readonly DnsContainer[]): void {
    if (containers.length === 0) {
      if (!this.#remote.delete(network)) return;
    } else this.#remote.set(network, containers);
    this.#rebuild();
  }

  /** Closes the state directory's watch; safe to call twice. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return this.#watch.stop();
  }

  #byId(id: string): NetState | undefined {
    for (const n of this.#nets.values()) if (n.served.id === id) return n;
    return undefined;
  }

  #rescan(): boolean {
    this.#nets.clear();
    this.#loadNetworks();
    this.#rebuild();
    return true;
  }

  /** Re-reads `networks/`: networks gone, new, or changed. */
  #loadNetworks(): boolean {
    let changed = false;
    const seen = new Set<string>();
    for (const file of list(join(this.stateDir, "networks"))) {
      if (!file.endsWith(".json")) continue;
      const r = readJson<NetworkRecord>(join(this.stateDir, "networks", file));
      if (!r || !dnsEnabled(r)) continue;
      const served = servedOf(r);
      seen.add(r.name);
      const old = this.#nets.get(r.name);
      if (old && JSON.stringify(old.served) === JSON.stringify(served)) continue;
      const state: NetState = {
        served,
        containers: old?.served.id === r.id ? old.containers : new Map(),
      };
      this.#nets.set(r.name, state);
      this.#loadEndpoints(state);
      changed = true;
    }
    for (const name of [...this.#nets.keys()]) {
      if (!seen.has(name)) {
        this.#nets.delete(name);
        changed = true;
      }
    }
    return changed;
  }

  #loadEndpoints(net: NetState): boolean {
    net.containers.clear();
    for (const file of list(join(this.stateDir, `ep.${net.served.id}`))) {
      if (file.endsWith(".json")) this.#loadEndpoint(net, file.slice(0, -5));
    }
    return true;
  }

  #loadEndpoint(net: NetState, name: string): boolean {
    const id = net.served.id;
    const ep = readJson<EndpointRecord & { aliases?: string[] }>(
      join(this.stateDir, `ep.${id}`, `${name}.json`),
    );
    let released = true;
    try {
      lstatSync(join(this.stateDir, `rel.${id}`, name));
    } catch {
      released = false;
    }
    const had = net.containers.has(name);
    if (!ep || (ep.state ?? "linked") !== "linked" || released) {
      net.containers.delete(name);
      return had;
    }
    const ipv4: string[] = [];
    const ipv6: string[] = [];
    for (const i of ep.interfaces ?? []) {
      if (i.address) ipv4.push(bare(i.address));
      if (i.addressIPv6) ipv6.push(bare(i.addressIPv6));
    }
    net.containers.set(name, {
      id: ep.namespace ?? `${id}/${name}`,
      name,
      aliases: Array.isArray(ep.aliases) ? ep.aliases.filter((a) => typeof a === "string") : [],
      ipv4,
      ipv6,
    });
    return true;
  }

  #rebuild(): void {
    this.#stale = true;
  }

  #build(): void {
    const networks: DnsNetwork[] = [...this.#nets.values()].map((n) => ({
      name: n.served.name,
      subnets: n.served.subnets,
      internal: n.served.internal,
      upstreams: n.served.upstreams,
      containers: [
        ...n.containers.values(),
        // Another host's endpoint under a name this host links too (a stale record): this
        // host's answers.
        ...(this.#remote.get(n.served.name) ?? []).filter((c) => !n.containers.has(c.name)),
      ],
    }));
    this.#table = new NameTable(networks, { serial: ++this.#serial });
  }
}

function servedOf(r: NetworkRecord): ServedNetwork {
  const c = r.config as { internal?: unknown; dnsServers?: unknown };
  const gateways: string[] = [];
  const subnets: string[] = [];
  for (const p of [r.pools.v4, r.pools.v6]) {
    if (!p) continue;
    subnets.push(p.subnet);
    if (p.gateway) gateways.push(p.gateway);
  }
  const served: ServedNetwork = {
    name: r.name,
    id: r.id,
    gateways,
    subnets,
    internal: c.internal === true,
    upstreams: Array.isArray(c.dnsServers) ? c.dnsServers.map(String) : [],
  };
  const o = r.config as Record<string, unknown>;
  if (r.type === "overlay" && typeof o.store === "string" && typeof o.advertise === "string") {
    const options: Record<string, string> = {};
    for (const k of ["storeCa", "storeCert", "storeKey", "storeUser"]) {
      if (typeof o[k] === "string") options[k] = o[k] as string;
    }
    served.overlay = { store: o.store, advertise: o.advertise, options };
  }
  return served;
}
