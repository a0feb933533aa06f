/**
 * Published ports in the saved state and in the kernel. The endpoint's record (`ports`) is the
 * source of truth; each host port is also claimed atomically in the state directory (one claim
 * per port and host address, `ports.tcp-8080/any` or `ports.tcp-8080/203.0.113.1`, naming its
 * holder `NETWORKID_ENDPOINT@TOKEN`), so that a conflict check reads a few names whatever the
 * number of ports, and two processes never publish the same port. Order: claim, record, kernel;
 * undone kernel, record, claim. {@linkcode reconcileFirewall} (`gc()`) and `repairFirewall`
 * rebuild claims and kernel rules from the records.
 *
 * @module
 */
import { bridged } from "../model/records.ts";
import type { EndpointRecord, NetworkRecord } from "../drivers/driver.ts";
import {
  dnatEntries,
  firewallOptions,
  forgetFlows,
  keyEntries,
  publishEntries,
  setStateDirLoader,
  syncFirewall,
  tableMissing,
  unpublishEntries,
} from "../firewall/firewall.ts";
import {
  describeBinding,
  ephemeralRange,
  normalizeIP,
  overlap,
  parsePortSpecs,
  type PortBinding,
  type PortHolder,
  resolvePorts,
  socketPorts,
} from "../netfilter/ports.ts";
import type { DnatEntry, Protocol } from "../netfilter/ruleset.ts";
import { rmdirSync } from "node:fs";
import { join } from "node:path";
import type { StateStore } from "./state.ts";
import { FileStore, type SyncStore } from "./store.ts";

/** The prefix of the state kinds holding port claims (`ports.tcp-8080`). */
export const PORTS = "ports.";

/** A port to unpublish: protocol (default `tcp`), host port, and optionally the host address. */
export interface UnpublishSpec {
  /** `tcp` (default), `udp` or `sctp`. */
  protocol?: string;
  /** The host port. */
  hostPort: number;
  /** Only the binding on this host address; absent: any. */
  hostIP?: string;
}

function files(store: SyncStore): StateStore | undefined {
  return store instanceof FileStore ? store.files : undefined;
}

/**
 * The state directory of a store kept in files (for {@linkcode syncFirewall}, which adds the
 * other state directories' networks to nslink's one table); `undefined` for another store.
 *
 * @param store The store.
 * @returns Its directory.
 */
export function stateDirOf(store: SyncStore): string | undefined {
  return files(store)?.dir;
}

// The firewall reads the other state directories' networks as the network layer does.
setStateDirLoader((dir) => loadAll(new FileStore(dir)));

/** One directory per host port (`ports.tcp-8080`), one claim per host address in it (`any`). */
const kindOf = (b: { protocol: string; hostPort: number }) => `${PORTS}${b.protocol}-${b.hostPort}`;
const claimName = (b: { hostIP: string }) => b.hostIP || "any";

function parseKind(kind: string): { protocol: Protocol; hostPort: number } | undefined {
  const m = /^ports\.(tcp|udp|sctp)-(\d+)$/.exec(kind);
  return m ? { protocol: m[1] as Protocol, hostPort: Number(m[2]) } : undefined;
}

/** Removes a port's directory once its last claim is gone (never one still holding a claim). */
function dropEmpty(fs: StateStore, kind: string): void {
  try {
    rmdirSync(join(fs.dir, kind));
  } catch { /* not empty, or gone: fine */ }
}

/**
 * The owner of an endpoint's port claims: `NETWORKID_ENDPOINT@TOKEN` (the endpoint's identity,
 * never reused), or `NETWORKID_ENDPOINT` for records written before identities existed.
 *
 * @example
 * ```ts ignore
 * portOwner(record, "c1", { token: "0a1b2c3d4e5f6a7b" }); // "4787d46223bf_c1@0a1b2c3d4e5f6a7b"
 * ```
 * @param record The network.
 * @param endpoint The endpoint.
 * @param ep Its record (its `token`).
 * @returns The owner.
 */
export function portOwner(
  record: NetworkRecord,
  endpoint: string,
  ep: { token?: string },
): string {
  return `${record.id}_${endpoint}${ep.token ? `@${ep.token}` : ""}`;
}

/** Who holds a claim, by name, for errors: network name, endpoint, and its container port. */
function holder(store: SyncStore, owner: string, claimed: PortBinding): PortHolder {
  const { id, endpoint } = parsePortOwner(owner);
  let network = `(id ${id})`;
  let binding = claimed;
  for (const n of store.networks()) {
    const r = store.readNetwork(n);
    if (r?.id !== id) continue;
    network = r.name;
    const mine = store.readEndpoint(r, endpoint)?.ports?.find((b) =>
      b.protocol === claimed.protocol && b.hostPort === claimed.hostPort &&
      b.hostIP === claimed.hostIP
    );
    if (mine) binding = mine;
  }
  return { network, endpoint, binding };
}

/** The network id and endpoint of a port claim's owner (see {@linkcode portOwner}). */
function parsePortOwner(owner: string): { id: string; endpoint: string; token?: string } {
  const at = owner.indexOf("@");
  const who = at < 0 ? owner : owner.slice(0, at);
  const cut = who.indexOf("_");
  return {
    id: who.slice(0, cut),
    endpoint: who.slice(cut + 1),
    ...(at < 0 ? {} : { token: owner.slice(at + 1) }),
  };
}

/**
 * Chooses bindings for an endpoint: specs checked, ranges expanded, free ports picked, and
 * conflicts with any nslink network's ports refused, naming the holder. Touches nothing.
 *
 * @param store The store.
 * @param record The network.
 * @param specs What the user asked for.
 * @returns The bindings.
 */
export function chooseBindings(
  store: SyncStore,
  record: NetworkRecord,
  specs: unknown,
): PortBinding[] {
  const parsed = parsePortSpecs(specs);
  if (parsed.length === 0) return [];
  if (!bridged(record.type)) {
    throw new TypeError(
      `Network "${record.name}" (${record.type}) cannot publish ports: only bridge and overlay networks can`,
    );
  }
  if (firewallOptions(record).internal) {
    throw new TypeError(`Network "${record.name}" is internal: it publishes no ports`);
  }
  for (const p of parsed) {
    if (p.hostIP.includes(":") && !record.pools.v6) {
      throw new TypeError(
        `Cannot publish on ${p.hostIP}: network "${record.name}" has no IPv6 subnet`,
      );
    }
  }
  const fs = files(store);
  // Host sockets matter only to ephemeral picks (a fixed port's DNAT takes precedence).
  const inUse = parsed.some((p) => p.host[0] === 0)
    ? socketPorts()
    : { tcp: new Set<number>(), udp: new Set<number>(), sctp: new Set<number>() };
  const held: PortHolder[] = [];
  if (fs) {
    // A fixed port: read its own small directory. An ephemeral pick: every claimed port.
    for (const p of parsed) {
      if (p.host[0] === 0) continue;
      for (let port = p.host[0]; port <= p.host[1]; port++) {
        const kind = kindOf({ protocol: p.protocol, hostPort: port });
        for (const name of fs.claims(kind)) {
          const owner = fs.claimant(kind, name);
          const hostIP = name === "any" ? "" : name;
          if (owner) {
            held.push(
              holder(store, owner, { protocol: p.protocol, hostPort: port, hostIP, port: 0 }),
            );
          }
        }
      }
    }
    if (parsed.some((p) => p.host[0] === 0)) {
      for (const kind of fs.kinds()) {
        const k = parseKind(kind);
        if (k) inUse[k.protocol].add(k.hostPort);
      }
    }
  }
  // A host socket on a fixed port does not stop publishing it (the DNAT takes precedence);
  // only ephemeral picks avoid ports in use.
  const fixedOk = { tcp: new Set<number>(), udp: new Set<number>(), sctp: new Set<number>() };
  const ephemeral = ephemeralRange();
  const out: PortBinding[] = [];
  for (const p of parsed) {
    out.push(...resolvePorts(
      [p],
      [
        ...held,
        ...out.map((binding) => ({
          network: "",
          endpoint: "",
          binding,
        })),
      ],
      ephemeral,
      p.host[0] === 0 ? inUse : fixedOk,
    ));
  }
  return out;
}

/**
 * Claims bindings in the state directory, atomically per port: refused (nothing claimed) when
 * another endpoint holds one of them or an overlapping one (any address vs one address).
 *
 * @param store The store.
 * @param record The network.
 * @param endpoint The endpoint.
 * @param ep Its record (its identity).
 * @param bindings The bindings.
 */
export function claimBindings(
  store: SyncStore,
  record: NetworkRecord,
  endpoint: string,
  ep: { token?: string },
  bindings: readonly PortBinding[],
): void {
  const fs = files(store);
  if (!fs || bindings.length === 0) return;
  const owner = portOwner(record, endpoint, ep);
  const done: PortBinding[] = [];
  try {
    for (const b of bindings) {
      const kind = kindOf(b);
      const name = claimName(b);
      if (!fs.claim(kind, name, owner, { mkdir: true })) {
        const other = fs.claimant(kind, name);
        const h = other ? holder(store, other, b) : undefined;
        throw new Error(
          `Port ${describeBinding(b)} is already published by ${
            h ? `endpoint "${h.endpoint}" of network "${h.network}"` : "another endpoint"
          }${h ? ` (${describeBinding(h.binding)} -> ${h.binding.port})` : ""}`,
        );
      }
      done.push(b);
      // Overlapping addresses of the same port: every address, one family's, one address.
      for (const o of fs.claims(kind)) {
        if (o === name || !overlap(b.hostIP, o === "any" ? "" : o)) continue;
        const who = fs.claimant(kind, o);
        if (who && who !== owner) {
          const h = holder(store, who, { ...b, hostIP: o === "any" ? "" : o, port: 0 });
          throw new Error(
            `Port ${
              describeBinding(b)
            } is already published by endpoint "${h.endpoint}" of network "${h.network}" (${
              describeBinding(h.binding)
            } -> ${h.binding.port})`,
          );
        }
      }
    }
  } catch (e) {
    releaseBindings(store, record, endpoint, ep, done);
    throw e;
  }
}

/**
 * Releases bindings' claims: only those this endpoint's identity holds. Call it last, once the
 * kernel and the record no longer have the bindings (a crash before leaves a claim that `gc()`
 * releases; a claim released first could be taken by another endpoint while this one's map
 * element still exists).
 *
 * @param store The store.
 * @param record The network.
 * @param endpoint The endpoint.
 * @param ep Its record (its identity).
 * @param bindings The bindings.
 */
export function releaseBindings(
  store: SyncStore,
  record: NetworkRecord,
  endpoint: string,
  ep: { token?: string },
  bindings: readonly PortBinding[],
): void {
  const fs = files(store);
  if (!fs) return;
  const owner = portOwner(record, endpoint, ep);
  for (const b of bindings) {
    fs.unclaim(kindOf(b), claimName(b), owner);
    dropEmpty(fs, kindOf(b));
  }
}

/**
 * The bindings whose claim this endpoint's identity holds: the only ones whose map elements it
 * may delete, since a deletion matches the element's key alone.
 *
 * @param store The store.
 * @param record The network.
 * @param endpoint The endpoint.
 * @param ep Its record (its identity).
 * @param bindings The bindings.
 * @returns Those it holds (all of them for a store without claims).
 */
export function heldBindings(
  store: SyncStore,
  record: NetworkRecord,
  endpoint: string,
  ep: { token?: string },
  bindings: readonly PortBinding[],
): PortBinding[] {
  const fs = files(store);
  if (!fs) return [...bindings];
  const owner = portOwner(record, endpoint, ep);
  return bindings.filter((b) => fs.claimant(kindOf(b), claimName(b)) === owner);
}

/**
 * Makes bindings real in the kernel: the map elements, in one batch. When nslink's table is
 * missing (`nft flush ruleset`), the whole firewall is rebuilt from the saved state instead,
 * which then must already hold the bindings.
 *
 * @param ep The endpoint's record (its addresses).
 * @param bindings The new bindings.
 * @param all Every saved network, with endpoints, for a rebuild.
 * @param stateDir Their state directory (the others' networks go into the rebuild too).
 */
export function publishBindings(
  ep: EndpointRecord,
  bindings: readonly PortBinding[],
  all: () => NetworkRecord[],
  stateDir?: string,
): void {
  if (bindings.length === 0) return;
  const iface = ep.interfaces[0];
  const entries = dnatEntries(iface?.address, iface?.addressIPv6, bindings);
  try {
    publishEntries(entries);
  } catch (e) {
    if (!tableMissing(e)) throw e;
    syncFirewall(all, stateDir); // read under the firewall's lock
  }
}

/**
 * Removes bindings' map elements from the kernel (one batch), those whose claim the endpoint
 * still holds: by their exact entries when the record has the container's addresses, by key
 * when it has none (a link killed before it saved them). Needs nothing the record may lack.
 * Claims stay: release them (see {@linkcode releaseBindings}) once the record is rewritten.
 *
 * @param store The store.
 * @param record The network.
 * @param endpoint The endpoint.
 * @param ep Its record.
 * @param bindings The bindings.
 */
export function unpublishBindings(
  store: SyncStore,
  record: NetworkRecord,
  endpoint: string,
  ep: EndpointRecord,
  bindings: readonly PortBinding[],
): void {
  const held = heldBindings(store, record, endpoint, ep, bindings);
  if (held.length === 0) return;
  const iface = ep.interfaces[0];
  let entries: DnatEntry[];
  try {
    entries = iface ? dnatEntries(iface.address, iface.addressIPv6, held) : keyEntries(held);
  } catch {
    entries = keyEntries(held); // an address the bindings need is missing from the record
  }
  unpublishEntries(entries);
}

/**
 * What unlinking an endpoint does to the firewall: its ports' map elements removed and its
 * conntrack entries deleted when it had published ports; gone already is fine. The record's
 * `ports` are cleared; their claims are not released: do that last, with the bindings returned.
 *
 * @param store The store.
 * @param record The network.
 * @param endpoint The endpoint.
 * @param ep Its record.
 * @returns The bindings it had, to release.
 */
export function endpointRemoved(
  store: SyncStore,
  record: NetworkRecord,
  endpoint: string,
  ep: EndpointRecord,
): PortBinding[] {
  if (!bridged(record.type) || !ep.ports?.length) return [];
  const ports = ep.ports;
  unpublishBindings(store, record, endpoint, ep, ports);
  delete ep.ports;
  // Its NATed flows, so that a later container with its address gets none of them. (Listing
  // conntrack walks the whole table, ~4 ms: only for containers that published ports; the
  // network's delete() clears every flow of its subnet once.)
  const addresses = ep.interfaces.flatMap((i) => [i.address, i.addressIPv6]);
  if (addresses.some((a) => a)) forgetFlows(addresses);
  return ports;
}

/**
 * The bindings of an endpoint matching unpublish specs (all of them with no specs).
 *
 * @param current The endpoint's bindings.
 * @param specs What to remove.
 * @returns The matching bindings.
 */
export function matchBindings(
  current: readonly PortBinding[],
  specs: readonly UnpublishSpec[] | undefined,
): PortBinding[] {
  if (specs === undefined) return [...current];
  if (!Array.isArray(specs)) {
    throw new TypeError(`unpublish() takes a list of { hostPort, protocol, hostIP }`);
  }
  const out: PortBinding[] = [];
  for (const s of specs) {
    const protocol = s.protocol ?? "tcp";
    const hostPort = typeof s.hostPort === "string" ? Number(s.hostPort) : s.hostPort;
    if (!Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65535) {
      throw new TypeError(`Invalid hostPort ${JSON.stringify(s.hostPort)} to unpublish`);
    }
    for (const b of current) {
      if (b.protocol !== protocol || b.hostPort !== hostPort) continue;
      if (s.hostIP !== undefined && normalizeIP(s.hostIP) !== b.hostIP) continue;
      if (!out.includes(b)) out.push(b);
    }
  }
  return out;
}

/**
 * Every saved network with its endpoints (those linked, or being linked with ports already
 * recorded), as the firewall needs them.
 *
 * @param store The store.
 * @returns The records.
 */
export function loadAll(store: SyncStore): NetworkRecord[] {
  const out: NetworkRecord[] = [];
  for (const name of store.networks()) {
    const r = store.readNetwork(name);
    if (!r || r.state === "deleting") continue;
    const endpoints: Record<string, EndpointRecord> = {};
    if (bridged(r.type)) {
      for (const ep of store.endpoints(r)) {
        const e = store.readEndpoint(r, ep);
        if (e && e.interfaces.length) endpoints[ep] = e;
      }
    }
    out.push({ ...r, endpoints });
  }
  return out;
}

/**
 * Rebuilds the port claims from the endpoints' records (for repair).
 *
 * @param store The store.
 * @param records Every network, with endpoints.
 */
export function rebuildClaims(store: SyncStore, records: readonly NetworkRecord[]): void {
  const fs = files(store);
  if (!fs) return;
  for (const kind of fs.kinds()) if (parseKind(kind)) fs.removeKind(kind);
  for (const r of records) {
    for (const [name, ep] of Object.entries(r.endpoints)) {
      for (const b of ep.ports ?? []) {
        fs.claim(kindOf(b), claimName(b), portOwner(r, name, ep), { mkdir: true });
      }
    }
  }
}

/**
 * Releases every claim of a network's endpoints (when it is deleted).
 *
 * @param store The store.
 * @param record The network.
 */
export function releaseNetworkClaims(store: SyncStore, record: NetworkRecord): void {
  const fs = files(store);
  if (!fs) return;
  const prefix = `${record.id}_`;
  for (const kind of fs.kinds()) {
    if (!parseKind(kind)) continue;
    for (const name of fs.claims(kind)) {
      const owner = fs.claimant(kind, name);
      if (owner?.startsWith(prefix)) fs.unclaim(kind, name, owner);
    }
    dropEmpty(fs, kind);
  }
}

/**
 * Makes the port claims and the firewall match the saved state (for `gc()`, under the exclusive
 * lock): a claim that no endpoint record holds (a crash between claiming and writing the record,
 * or between rewriting it and releasing) is released; a saved binding without its claim is
 * claimed again; then the whole table is rebuilt from the records in one batch, so that the maps
 * hold exactly the saved bindings and every saved network has its chains. The table is left
 * alone when this state directory has no bridge network.
 *
 * @example
 * ```ts ignore
 * reconcileFirewall(store, false); // ["port claim ports.tcp-8080/any (…, no record holds it)"]
 * ```
 * @param store The store.
 * @param dryRun Only report.
 * @returns What was found, described.
 */
export function reconcileFirewall(store: SyncStore, dryRun: boolean): string[] {
  const found: string[] = [];
  const records = loadAll(store);
  const fs = files(store);
  if (fs) {
    const byId = new Map(records.map((r) => [r.id, r]));
    const holds = (owner: string, kind: string, name: string): boolean => {
      const { id, endpoint, token } = parsePortOwner(owner);
      const ep = byId.get(id)?.endpoints[endpoint];
      const k = parseKind(kind);
      return !!ep && !!k && (ep.token ?? undefined) === token &&
        (ep.ports ?? []).some((b) =>
          b.protocol === k.protocol && b.hostPort === k.hostPort && claimName(b) === name
        );
    };
    for (const kind of fs.kinds()) {
      if (!parseKind(kind)) continue;
      for (const name of fs.claims(kind)) {
        const owner = fs.claimant(kind, name);
        if (owner !== undefined && holds(owner, kind, name)) continue;
        found.push(`port claim ${kind}/${name} (${owner ?? "no owner"}, no record holds it)`);
        if (dryRun) continue;
        if (owner !== undefined) fs.unclaim(kind, name, owner);
        else fs.removeEntry(kind, name);
      }
      if (!dryRun) dropEmpty(fs, kind);
    }
    for (const r of records) {
      for (const [endpoint, ep] of Object.entries(r.endpoints)) {
        for (const b of ep.ports ?? []) {
          const owner = portOwner(r, endpoint, ep);
          if (fs.claimant(kindOf(b), claimName(b)) === owner) continue;
          found.push(`port claim ${kindOf(b)}/${claimName(b)} of ${r.name}/${endpoint} (missing)`);
          if (!dryRun) fs.claim(kindOf(b), claimName(b), owner, { mkdir: true });
        }
      }
    }
  }
  if (!dryRun && records.some((r) => bridged(r.type))) syncFirewall(records, stateDirOf(store));
  return found;
}
