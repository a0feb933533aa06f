/**
 * The steps that finish or undo an endpoint's or a network's life, shared by `Network`
 * (`link`, `unlink`, `delete`), `newNetwork` and `gc()`. Each step is idempotent: running it
 * again after a crash at any instruction ends in the same place.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { bridged } from "../model/records.ts";
import type { Driver, DriverContext, EndpointRecord, NetworkRecord } from "../drivers/driver.ts";
import { getDriver } from "../drivers/registry.ts";
import { exists } from "../ffi/libc.ts";
import { hostRtnl } from "../model/host.ts";
import { AddressBook } from "./addressbook.ts";
import { allocate, type Pool } from "../model/ipam.ts";
import { currentOwner } from "../model/owner.ts";
import type { HostedStore, Store } from "./store.ts";
import { forgetFlows, syncFirewall } from "../firewall/firewall.ts";
import { recordBridges, tellFirewalld } from "../firewall/zone.ts";
import {
  endpointRemoved,
  loadAll,
  releaseBindings,
  releaseNetworkClaims,
  stateDirOf,
} from "./publish.ts";

/**
 * How long an endpoint may stay `releasing` with its links still present before nslink stops
 * waiting for the kernel and deletes them itself: a namespace being torn down takes ~50 ms,
 * so a link still there after this is kept alive by something (an open fd, a process).
 */
export const RELEASE_GRACE_MS = 1000;

/**
 * A driver context with nothing reserved: for the calls that make no address (`unlink`,
 * `abandon`, `destroy`).
 *
 * @returns The context.
 */
export function hostContext(): DriverContext {
  return { host: hostRtnl(), takenSubnets: [], otherConfigs: [] };
}

/** Addresses an endpoint asks for: static ones, else the next free of each pool. */
export interface AddressRequest {
  /** A static IPv4 address (no prefix). */
  address?: string;
  /** A static IPv6 address (no prefix). */
  addressIPv6?: string;
}

/**
 * Reserves an endpoint's addresses in the store, before its driver runs: a static address is
 * checked against its pool and claimed; otherwise the lowest free address of each pool (the
 * driver's narrower {@linkcode Driver.pools} if any, never one of its
 * {@linkcode Driver.excluded}) is claimed, trying the next one when another writer was first.
 * Each claim is atomic in the store, so two processes (or hosts) never get the same address.
 * On failure, what this call reserved is released again.
 *
 * @example
 * ```ts ignore
 * const got = await reserveAddresses(store, driver, record, "c1@0a1b", {});
 * got.ctx; // hands got.v4 ("198.51.100.2/24") to driver.link
 * ```
 * @param store The store.
 * @param driver The network's driver (its address rules).
 * @param record The network.
 * @param owner Who the reservations name (see {@linkcode addressOwner}).
 * @param want Static addresses, if any.
 * @returns The addresses (with prefix), the bare ones reserved, and a driver context that
 *   hands them out.
 */
export async function reserveAddresses(
  store: Store,
  driver: Driver,
  record: NetworkRecord,
  owner: string,
  want: AddressRequest,
): Promise<{ ctx: DriverContext; reserved: string[]; v4?: string; v6?: string }> {
  const { v4, v6 } = record.pools;
  // A network without addresses (`null`, `host`): nothing to reserve, nothing to check.
  if (!v4 && !v6) return { ctx: hostContext(), reserved: [] };
  if (want.address !== undefined && !v4) {
    throw new TypeError(`Network has no IPv4 subnet for "${want.address}"`);
  }
  if (want.addressIPv6 !== undefined && !v6) {
    throw new TypeError(`Network has no IPv6 subnet for "${want.addressIPv6}"`);
  }
  const reserved: string[] = [];
  const got: { v4?: string; v6?: string } = {};
  try {
    const rules = driver.pools?.(record);
    const skip = driver.excluded ? new Set(driver.excluded(record)) : undefined;
    if (v4) got.v4 = await reserveOne(store, record, v4, rules?.v4, owner, want.address, skip);
    if (got.v4) reserved.push(bare(got.v4));
    if (v6) got.v6 = await reserveOne(store, record, v6, rules?.v6, owner, want.addressIPv6, skip);
    if (got.v6) reserved.push(bare(got.v6));
  } catch (e) {
    for (const a of reserved) {
      try {
        await releaseAddress(store, record, a, owner);
      } catch { /* report the first error */ }
    }
    throw e;
  }
  const ctx: DriverContext = {
    ...hostContext(),
    allocate(pool) {
      // By subnet: a driver may hand in a copy of the record's pool.
      const a = pool.subnet === v4?.subnet
        ? got.v4
        : pool.subnet === v6?.subnet
        ? got.v6
        : undefined;
      if (a === undefined) throw new Error(`No address was reserved in "${pool.subnet}"`);
      return a;
    },
  };
  return { ctx, reserved, ...got };
}

async function reserveOne(
  store: Store,
  record: NetworkRecord,
  pool: Pool,
  narrower: Pool | undefined,
  owner: string,
  preferred: string | undefined,
  skip: ReadonlySet<string> | undefined,
): Promise<string> {
  if (preferred !== undefined) {
    // Checks the address against the pool (subnet, gateway, prefix) before claiming it.
    const address = allocateIn(pool, {}, owner, preferred);
    const key = bare(address);
    if (!await store.reserve(record, key, owner)) {
      const holder = await store.holder(record, key);
      throw new Error(
        `Address "${key}" in "${pool.subnet}" is already allocated to "${
          ownerName(holder ?? "another endpoint")
        }"`,
      );
    }
    bookOf(store, record).note(poolsOf(record), key, true);
    return address;
  }
  return await bookOf(store, record).take(
    narrower ?? pool,
    () => store.reserved(record),
    (a) => store.reserve(record, a, owner),
    skip,
  );
}

/**
 * Claims an endpoint's record and its addresses in one {@linkcode Store.claim} (one transaction
 * on etcd: no other writer, on any host, ever sees the record without its claims or a claim
 * without its record): static addresses are checked against their pool; otherwise the lowest
 * free address of each pool, as this process's address book knows them (read from the store at
 * first use and when a pool looks full), tried again with the next ones when another writer was
 * first. `skip`: addresses not to choose (held on this host by an endpoint still being
 * released). The record is made from the addresses chosen (`value`).
 *
 * @example
 * ```ts ignore
 * const r = await claimEndpoint(etcd, record, "c1", "c1", {}, (v4, v6) => recordOf(v4, v6));
 * if (r.claimed) r.v4; // "203.0.113.2/24"
 * ```
 * @param store The store.
 * @param record The network.
 * @param name The endpoint.
 * @param owner Who the claims name.
 * @param want Static addresses, if any.
 * @param value The endpoint's record for the addresses chosen (with prefix; `""` for none).
 * @param skip Addresses not to choose.
 * @returns The addresses claimed (with prefix), or `endpointExists` when the name is taken.
 */
export async function claimEndpoint(
  store: Store,
  record: NetworkRecord,
  name: string,
  owner: string,
  want: AddressRequest,
  value: (v4: string, v6: string) => EndpointRecord,
  skip?: ReadonlySet<string>,
): Promise<{ claimed: true; v4: string; v6: string } | { claimed: false; endpointExists: true }> {
  const { v4: pool4, v6: pool6 } = record.pools;
  if (want.address !== undefined && !pool4) {
    throw new TypeError(`Network "${record.name}" has no IPv4 subnet for "${want.address}"`);
  }
  if (want.addressIPv6 !== undefined && !pool6) {
    throw new TypeError(`Network "${record.name}" has no IPv6 subnet for "${want.addressIPv6}"`);
  }
  const book = bookOf(store, record);
  const pools = poolsOf(record);
  const list = () => store.reserved(record);
  const pick = async (pool: Pool | undefined, preferred: string | undefined) => {
    if (!pool) return "";
    if (preferred !== undefined) return allocateIn(pool, {}, owner, preferred);
    // Chosen, not reserved yet: the claim below takes it with the record.
    return await book.take(pool, list, () => Promise.resolve(true), skip);
  };
  for (let attempt = 0; attempt < 200; attempt++) {
    const v4 = await pick(pool4, want.address);
    let v6: string;
    try {
      v6 = await pick(pool6, want.addressIPv6);
    } catch (e) {
      if (v4 && want.address === undefined) book.note(pools, bare(v4), false);
      throw e;
    }
    const addresses = [v4, v6].filter((a) => a !== "").map(bare);
    const r = await store.claim(record, name, value(v4, v6), addresses, owner);
    if (r.claimed) {
      for (const a of addresses) book.note(pools, a, true);
      return { claimed: true, v4, v6 };
    }
    // What was not in the way is free again in this process's book.
    for (const a of addresses) book.note(pools, a, r.taken.includes(a));
    if (r.endpointExists) return { claimed: false, endpointExists: true };
    const stat = r.taken.find((a) =>
      a === bare(want.address ?? "") || a === bare(want.addressIPv6 ?? "")
    );
    if (stat !== undefined) {
      const holder = await store.holder(record, stat);
      throw new Error(
        `Address "${stat}" in network "${record.name}" is already allocated to "${
          ownerName(holder ?? "another endpoint")
        }"`,
      );
    }
    // Another writer took an address first: the next ones.
  }
  throw new Error(`link "${name}": too much contention in "${store.location}"`);
}

/**
 * The owner of an endpoint's address reservations: `ENDPOINT@TOKEN`, its identity that no later
 * link of the same name shares, or the bare name for records written before identities existed.
 *
 * @example
 * ```ts ignore
 * addressOwner("c1", { token: "0a1b2c3d4e5f6a7b" }); // "c1@0a1b2c3d4e5f6a7b"
 * ```
 * @param name The endpoint.
 * @param ep Its record (its `token`).
 * @returns The owner.
 */
export function addressOwner(name: string, ep: { token?: string }): string {
  return ep.token ? `${name}@${ep.token}` : name;
}

/**
 * The endpoint name of a reservation's owner (see {@linkcode addressOwner}).
 *
 * @param owner `c1@0a1b2c3d4e5f6a7b` or `c1`.
 * @returns `c1`.
 */
export function ownerName(owner: string): string {
  const at = owner.indexOf("@");
  return at < 0 ? owner : owner.slice(0, at);
}

/** This module instance's random part of endpoint identities (threads share a pid). */
const TOKEN_BASE = Array.from(crypto.getRandomValues(new Uint8Array(6)))
  .map((b) => b.toString(16).padStart(2, "0")).join("");
let tokenCount = 0;

/**
 * A new endpoint identity, never reused: 48 random bits drawn once per process (module
 * instance) and a counter, so making one costs no system call.
 *
 * @example
 * ```ts ignore
 * newToken(); // e.g. "3f9a0c1b2d4e1"
 * ```
 * @returns The token (hex digits).
 */
export function newToken(): string {
  return TOKEN_BASE + (++tokenCount).toString(16);
}

/**
 * Per network (state location and id), shared by every object of this process: which addresses
 * are taken, as a hint (see `addressbook.ts`).
 */
const books = new Map<string, AddressBook>();

/**
 * Forgets this process's address hints, so that the next link of every network reads the
 * reservations again: a long-running process serving requests as separate processes would (the
 * host agent serving a CNI exec's request picks the lowest free address, also one another
 * process freed a moment ago, as the exec would have).
 *
 * @example
 * ```ts ignore
 * dropAddressHints();
 * ```
 */
export function dropAddressHints(): void {
  books.clear();
}

function bookKey(store: Store, record: NetworkRecord): string {
  return `${store.location}\0${record.id}`;
}

function bookOf(store: Store, record: NetworkRecord): AddressBook {
  const key = bookKey(store, record);
  let b = books.get(key);
  if (!b) books.set(key, b = new AddressBook());
  return b;
}

function poolsOf(record: NetworkRecord): Pool[] {
  return [record.pools.v4, record.pools.v6].filter((p): p is Pool => p !== undefined);
}

/**
 * Frees one address of an endpoint in the store (only if it holds it), keeping this process's
 * address book current.
 *
 * @param store The store.
 * @param record The network.
 * @param address The address, without prefix.
 * @param owner The reservation's owner (see {@linkcode addressOwner}).
 * @returns Whether it was freed.
 */
export async function releaseAddress(
  store: Store,
  record: NetworkRecord,
  address: string,
  owner: string,
): Promise<boolean> {
  if (!await store.release(record, address, owner)) return false;
  bookOf(store, record).note(poolsOf(record), address, false);
  return true;
}

function allocateIn(
  pool: Pool,
  allocated: Record<string, string>,
  owner: string,
  preferred?: string,
): string {
  return allocate({ subnet: pool.subnet, gateway: pool.gateway, allocated }, owner, preferred);
}

/**
 * Frees what an endpoint holds in the store, in an order a crash at any point can resume: its
 * ports' map elements (those it still holds the claim of), each address it owns, its record,
 * and last its port claims. Only what this endpoint's identity holds is freed: a later link of
 * the same name is never touched (its record, reservations and claims carry another token). A
 * record still `creating` may hold addresses it does not list yet; they are found by their
 * holder.
 *
 * @param store The store.
 * @param record The network.
 * @param name The endpoint.
 * @param ep Its record.
 * @returns The addresses freed.
 */
export async function forgetEndpoint(
  store: HostedStore,
  record: NetworkRecord,
  name: string,
  ep: EndpointRecord,
): Promise<string[]> {
  // Ports it still publishes (a dead attempt's intent records them; gc() finds containers whose
  // namespace went without an unlink): their map elements first, their claims last. Ports are
  // this host's: kept on its own side.
  const ports = endpointRemoved(store.local, record, name, ep);
  const owner = addressOwner(name, ep);
  const freed: string[] = [];
  for (const iface of ep.interfaces) {
    for (const a of [iface.address, iface.addressIPv6]) {
      if (a && await releaseAddress(store, record, bare(a), owner)) freed.push(bare(a));
    }
  }
  if (ep.state === "creating") {
    for (const a of await store.reserved(record)) {
      if (
        await store.holder(record, a) === owner && await releaseAddress(store, record, a, owner)
      ) {
        freed.push(a);
      }
    }
  }
  // Its record only while it is still this one (the same name may have been linked again
  // meanwhile, by another process): removed atomically by identity.
  if (ep.token !== undefined) {
    if (await store.removeEndpoint(record, name, ep.token) && ep.state === "releasing") {
      store.local.unmarkReleasing(record, name);
    }
  } else if ((await store.readEndpoint(record, name))?.token === undefined) {
    await store.removeEndpoint(record, name); // a record of an earlier version: by name
    if (ep.state === "releasing") store.local.unmarkReleasing(record, name);
  }
  releaseBindings(store.local, record, name, ep, ports);
  return freed;
}

/**
 * Removes an endpoint's kernel objects whatever state its namespace is in: the driver's
 * `abandon` when it has one (it looks inside the namespace), else its `unlink` with no
 * namespace (the host-side links).
 *
 * @param driver The network's driver.
 * @param ctx A driver context.
 * @param record The network.
 * @param ep The endpoint's record.
 */
export function abandonLinks(
  driver: Driver,
  ctx: DriverContext,
  record: NetworkRecord,
  ep: EndpointRecord,
): void {
  if (driver.abandon) driver.abandon(ctx, record, ep);
  else driver.unlink(ctx, record, { ...ep, namespace: undefined });
}

/**
 * Removes an endpoint's host links whatever state its namespace is in (an abandoned intent, a
 * link kept alive past the grace), then frees it.
 *
 * @param store The store.
 * @param driver The network's driver.
 * @param ctx A driver context.
 * @param record The network.
 * @param name The endpoint.
 * @param ep Its record.
 * @returns The addresses freed.
 */
export function undoEndpoint(
  store: HostedStore,
  driver: Driver,
  ctx: DriverContext,
  record: NetworkRecord,
  name: string,
  ep: EndpointRecord,
): Promise<string[]> {
  try {
    abandonLinks(driver, ctx, record, ep);
  } catch (e) {
    return Promise.reject(e);
  }
  return forgetEndpoint(store, record, name, ep);
}

/**
 * Finishes the release of `releasing` endpoints whose links the kernel has removed meanwhile
 * (and removes those kept alive past {@linkcode RELEASE_GRACE_MS}), so that their addresses
 * can be handed out again. Cheap when there are none (one directory read).
 *
 * @param store The store.
 * @param driver The network's driver.
 * @param ctx A driver context.
 * @param record The network.
 * @param now Removes the links still there at once, grace period or not (when they hold the
 *   last free addresses).
 * @returns The endpoints released.
 */
export async function settleReleasing(
  store: HostedStore,
  driver: Driver,
  ctx: DriverContext,
  record: NetworkRecord,
  now = false,
): Promise<string[]> {
  const done: string[] = [];
  // Marks are this host's (its links): one directory read when there are none.
  const marks = store.local.releasing(record);
  if (marks.length === 0) return done;
  const waiting: [string, EndpointRecord][] = [];
  for (const name of marks) {
    const ep = await store.readEndpoint(record, name);
    if (!ep || ep.state !== "releasing") {
      // A mark left by a crash after its record was removed (or replaced): drop it.
      store.local.unmarkReleasing(record, name);
      continue;
    }
    waiting.push([name, ep]);
  }
  // One link dump answers for all of them (a lookup each would cost as much per endpoint).
  const present = waiting.length > 2 ? new Set(ctx.host.link.list().map((l) => l.name)) : undefined;
  for (const [name, ep] of waiting) {
    const gone = present
      ? !ep.hostLinks.some((n) => present.has(n)) &&
        (ep.hostLinks.length > 0 || endpointGone(ctx, ep))
      : endpointGone(ctx, ep);
    if (gone) await forgetEndpoint(store, record, name, ep);
    else if (now || Date.now() - (ep.releasedAt ?? 0) > RELEASE_GRACE_MS) {
      await undoEndpoint(store, driver, ctx, record, name, ep);
    } else continue;
    done.push(name);
  }
  return done;
}

/** Networks with a settle check scheduled in this process, by state location and id. */
const scheduled = new Set<string>();

/**
 * Schedules, in this process, a check that finishes pending releases of a network once their
 * grace period is over: links gone by then are freed, links kept alive are deleted, so that a
 * veth held by an open namespace fd goes without anyone calling `link` or `gc()`. The timer does
 * not keep the process alive (a process that exits first leaves the work to the next `link` or
 * `gc()`), takes the lock only if it is free, and never throws.
 *
 * @param store The store.
 * @param driver The network's driver.
 * @param record The network.
 * @param delayMs When to look.
 */
export function scheduleSettle(
  store: HostedStore,
  driver: Driver,
  record: NetworkRecord,
  delayMs = RELEASE_GRACE_MS + 50,
): void {
  const key = bookKey(store, record);
  if (scheduled.has(key)) return;
  scheduled.add(key);
  const timer = setTimeout(async () => {
    scheduled.delete(key);
    let again = false;
    try {
      // Deleted meanwhile (its state, maybe its whole directory, gone): nothing to do.
      if ((await store.readNetwork(record.name))?.id !== record.id) return;
      const lock = store.local.tryLock({ shared: true });
      if (!lock) again = true;
      else {
        try {
          await settleReleasing(store, driver, hostContext(), record);
          again = store.local.releasing(record).length > 0;
        } finally {
          lock.release();
        }
      }
    } catch {
      // Best effort: the next link, unlink or gc() does the same work.
      again = false;
    }
    if (again) scheduleSettle(store, driver, record, 250);
  }, delayMs);
  unrefTimer(timer);
}

function unrefTimer(timer: unknown): void {
  const deno = (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno;
  if (typeof timer === "number" && deno?.unrefTimer) deno.unrefTimer(timer);
  else (timer as { unref?(): void } | undefined)?.unref?.();
}

/**
 * Whether an endpoint's kernel side is gone: its host links (or, without any, its namespace).
 * Given its driver and network, a driver with `liveEndpoint` answers instead (it looks inside the
 * namespace, where macvlan and ipvlan links live).
 */
export function endpointGone(
  ctx: DriverContext,
  ep: EndpointRecord,
  driver?: Driver,
  record?: NetworkRecord,
): boolean {
  // Drivers whose links live only inside the container's namespace (macvlan, ipvlan) look there.
  if (driver?.liveEndpoint && record) return !driver.liveEndpoint(ctx, record, ep);
  if (ep.hostLinks.length > 0) {
    return ep.hostLinks.every((n) => ctx.host.link.find(n) === undefined);
  }
  return ep.namespace !== undefined && !exists(ep.namespace);
}

/** What runs once a delete is committed (see {@linkcode whenDeleteCommitted}). */
const committedHook = new AsyncLocalStorage<() => void>();

/**
 * Runs `fn`, calling `onCommitted` once when a network delete inside it is committed: its record
 * says `deleting` (written, with this process as owner), so that whatever happens next (the
 * bridge, the firewall, the state files; or this process killed) the network is gone for every
 * reader (`openNetwork`, `listNetworks`) and the next `gc()`, `newNetwork` or this process
 * finishes its removal. A host agent serving a CNI DEL answers then; the removal goes on after
 * the answer (the caller's interfaces are gone by then: only the network's own objects remain).
 *
 * @example
 * ```ts ignore
 * await whenDeleteCommitted(() => answer(), () => network.deleteIfUnused());
 * ```
 * @param onCommitted Called at most once, synchronously at the commit point.
 * @param fn The work (its deletes, in its asynchronous context).
 * @returns What `fn` returns.
 */
export function whenDeleteCommitted<T>(onCommitted: () => void, fn: () => Promise<T>): Promise<T> {
  let called = false;
  return committedHook.run(() => {
    if (called) return;
    called = true;
    onCommitted();
  }, fn);
}

/**
 * Deletes a network completely, from any state (ready, or an interrupted create or delete):
 * marks it `deleting`, removes every endpoint's links, the network's own kernel objects, and
 * last its state. Call under the exclusive lock.
 *
 * @param store The store.
 * @param record The network as saved.
 * @param waitMs How long to let the kernel finish tearing down links whose namespace is gone
 *   before deleting them one by one.
 */
export async function deleteNetwork(
  store: HostedStore,
  record: NetworkRecord,
  waitMs = 2000,
): Promise<void> {
  const driver = getDriver(record.type);
  record.state = "deleting";
  record.owner = currentOwner();
  await store.writeNetwork(record);
  committedHook.getStore()?.();
  const ctx = hostContext();
  let pending: EndpointRecord[] = [];
  for (const name of await store.endpoints(record)) {
    const ep = await store.readEndpoint(record, name);
    if (!ep) continue;
    if (ep.state === "creating") abandonLinks(driver, ctx, record, ep);
    else if (!driver.unlink(ctx, record, ep)) pending.push(ep);
  }
  // Links of deleted namespaces go by themselves (the kernel tears many namespaces down in one
  // batch, within tens of ms; longer under load): wait for them, one link dump per look, rather
  // than delete each (~20 ms of kernel time apiece). What is left then is kept alive by
  // something (an open fd): deleted.
  const deadline = Date.now() + waitMs;
  while (pending.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    const present = new Set(ctx.host.link.list().map((l) => l.name));
    pending = pending.filter((ep) => ep.hostLinks.some((n) => present.has(n)));
  }
  for (const ep of pending) abandonLinks(driver, ctx, record, ep);
  driver.destroy(ctx, record);
  if (bridged(record.type)) {
    // Its rules go (with the last bridge network, nslink's table) while its record still says
    // "deleting" (a crash here leaves the delete to finish), then its port claims, then its state.
    syncFirewall(loadAll(store.local), stateDirOf(store.local));
    await tellFirewalld("unbind", recordBridges([record]));
    releaseNetworkClaims(store.local, record);
  }
  // Its definition while the record still says "deleting" (a crash after this leaves the delete
  // to finish; a reboot before it leaves the network defined): kept when this undoes an
  // interrupted remake from the definition.
  if (!record.restore) store.local.definitions?.remove(record.name, record.id);
  await store.removeNetwork(record);
  books.delete(bookKey(store, record));
  if (bridged(record.type)) {
    // Every flow of its subnets (containers unlinked earlier included): one conntrack walk.
    forgetFlows([], [record.pools.v4?.subnet, record.pools.v6?.subnet]);
  }
}

/**
 * An address without its prefix.
 *
 * @param cidr `198.51.100.2/24` or `198.51.100.2`.
 * @returns `198.51.100.2`.
 */
export function bare(cidr: string): string {
  const slash = cidr.indexOf("/");
  return slash < 0 ? cidr : cidr.slice(0, slash);
}
