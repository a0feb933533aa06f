/**
 * The lowest-free address search for store-backed allocation, in O(1) amortized per link.
 *
 * Reservations themselves are made in the store, atomically (one symbolic link per address):
 * they alone decide who holds an address. This book is only a per-process hint of which
 * addresses are taken, so that a link does not list the whole reservation directory (which
 * costs milliseconds at a thousand endpoints): it is loaded on first use, kept up to date with
 * this process's own reservations and releases, and loaded again at most once a second (and
 * when it finds no free address), to learn of other processes' releases. A stale hint can only
 * make a reservation attempt fail with "taken" (then the next address is tried) or skip a lower
 * address another process freed less than a second ago; it can never hand out an address twice.
 *
 * @module
 */
import { bytesToBigInt, formatAddress, lastOf, networkOf, parseCidr, parseIP } from "../net/ip.ts";
import { IpamExhaustedError, type Pool } from "../model/ipam.ts";

/** One pool's taken addresses, as offsets from its network address. */
class PoolBook {
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly lastOffset: number;
  readonly gatewayOffset: number;
  readonly prefix: number;
  taken = new Set<number>();
  /** The first offset handed out automatically (the pool's range start, else 1). */
  readonly firstOffset: number;
  /** No free offset is below this one. */
  low = 1;

  constructor(pool: Pool) {
    const net = networkOf(parseCidr(pool.subnet));
    this.family = net.family;
    this.base = net.address;
    this.prefix = net.prefixLength;
    // IPv4 keeps the broadcast address out; IPv6 has none.
    const last = lastOf(net) - (net.family === 4 ? 1n : 0n) - net.address;
    this.lastOffset = last > BigInt(Number.MAX_SAFE_INTEGER)
      ? Number.MAX_SAFE_INTEGER
      : Number(last);
    this.gatewayOffset = this.offsetOf(pool.gateway) ?? -1;
    // A range (Docker's --ip-range, CNI's rangeStart/rangeEnd) narrows what is handed out.
    this.firstOffset = Math.max(1, pool.rangeStart ? this.offsetOf(pool.rangeStart) ?? 1 : 1);
    if (pool.rangeEnd) {
      this.lastOffset = Math.min(this.lastOffset, this.offsetOf(pool.rangeEnd) ?? 0);
    }
    this.low = this.firstOffset;
  }

  offsetOf(text: string): number | undefined {
    const bytes = parseIP(text);
    if (!bytes || (bytes.length === 4) !== (this.family === 4)) return undefined;
    const off = bytesToBigInt(bytes) - this.base;
    if (off < 0n || off > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    return Number(off);
  }

  textOf(offset: number): string {
    return formatAddress(this.family, this.base + BigInt(offset));
  }

  add(text: string): void {
    const off = this.offsetOf(text);
    if (off !== undefined) this.taken.add(off);
  }

  remove(text: string): void {
    const off = this.offsetOf(text);
    if (off === undefined) return;
    this.taken.delete(off);
    if (off < this.low) this.low = Math.max(off, this.firstOffset);
  }

  /** The lowest free offset by this book, or `undefined` when it knows of none. */
  lowest(): number | undefined {
    while (this.low <= this.lastOffset) {
      if (this.low !== this.gatewayOffset && !this.taken.has(this.low)) return this.low;
      this.low++;
    }
    return undefined;
  }
}

/** How long a loaded book is trusted before it is loaded again from the store. */
export const BOOK_TTL_MS = 1000;

/** A network's books, by pool subnet. */
export class AddressBook {
  #pools = new Map<string, PoolBook>();
  /** When the books were loaded from the store; `-Infinity`: never. */
  #loadedAt = -Infinity;

  /**
   * Reserves the lowest free address of a pool through `reserve` (the store's atomic claim):
   * a store's answers are awaited, so one call may wait on etcd; the file store's are settled
   * already (no I/O wait).
   *
   * @param pool The pool (its range, if any, narrows what is handed out).
   * @param list Lists the reserved addresses (called to load the book).
   * @param reserve Tries to reserve an address; `false` when it is taken.
   * @param skip Addresses never handed out (a driver's, such as a host's own address).
   * @returns The address with the pool's prefix, e.g. `198.51.100.2/24`.
   */
  async take(
    pool: Pool,
    list: () => Promise<string[]>,
    reserve: (address: string) => Promise<boolean>,
    skip?: ReadonlySet<string>,
  ): Promise<string> {
    let reloaded = false;
    if (Date.now() - this.#loadedAt > BOOK_TTL_MS) {
      this.#load(await list());
      reloaded = true;
    }
    const book = this.#book(pool);
    for (;;) {
      const off = book.lowest();
      if (off === undefined) {
        if (reloaded) throw new IpamExhaustedError(pool.subnet);
        // Maybe others released addresses since: look once more at the store itself.
        this.#load(await list());
        reloaded = true;
        continue;
      }
      const text = book.textOf(off);
      book.taken.add(off);
      if (skip?.has(text)) continue;
      if (await reserve(text)) return `${text}/${book.prefix}`;
    }
  }

  /**
   * Notes an address this process reserved or released, keeping the book current.
   *
   * @param pools The network's pools.
   * @param address The address (no prefix).
   * @param reserved `true` when reserved, `false` when released.
   */
  note(pools: Pool[], address: string, reserved: boolean): void {
    if (this.#loadedAt === -Infinity) return; // not loaded: nothing to keep current
    for (const pool of pools) this.#book(pool);
    // Every book of the address's subnet (a driver's narrower range has its own).
    for (const book of this.#pools.values()) {
      if (reserved) book.add(address);
      else book.remove(address);
    }
  }

  /** A pool's book (by subnet and range); made on first use from the last loaded list. */
  #book(pool: Pool): PoolBook {
    const key = `${pool.subnet} ${pool.rangeStart ?? ""}-${pool.rangeEnd ?? ""}`;
    let b = this.#pools.get(key);
    if (!b) {
      b = new PoolBook(pool);
      for (const a of this.#loaded) b.add(a);
      this.#pools.set(key, b);
    }
    return b;
  }

  #load(reserved: string[]): void {
    this.#loaded = reserved;
    this.#loadedAt = Date.now();
    for (const b of this.#pools.values()) {
      b.taken.clear();
      b.low = b.firstOffset;
      for (const a of reserved) b.add(a);
    }
  }

  /** The last loaded list, to fill books made after it. */
  #loaded: string[] = [];
}
