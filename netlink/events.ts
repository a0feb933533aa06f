/**
 * {@linkcode NetlinkEventStream}: the messages a netlink socket receives on the multicast groups
 * it joined, each decoded by the caller's function, as an async iterable — the waiting machinery
 * of an event monitor, independent of the protocol (`RtnlMonitor`'s rtnetlink events and
 * `NftMonitor`'s nf_tables events are both built on it).
 *
 * Waiting never blocks the JS thread. Under Deno the wait is a `poll(2)` on a pool thread (a
 * `nonblocking` FFI call that only waits on fds, never enters a namespace), woken at once by an
 * `eventfd` when the stream closes. Bun cannot run an FFI call off its JS thread, so there the
 * stream reads without waiting (`MSG_DONTWAIT`) and, when nothing is queued, sleeps on a timer
 * that backs off from 1 ms, doubling, to {@linkcode EventStreamOptions.idleWaitMs} (default 8 ms)
 * and starts again at 1 ms after each event ({@linkcode nextIdleWait}).
 *
 * @module
 */
import {
  canPollOffThread,
  close,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  eventfd,
  POLLIN,
  pollOffThread,
  write,
} from "../ffi/libc.ts";
import type { NetlinkSocket, RawMessage } from "./socket.ts";

/** What a stream yields when the kernel dropped messages (`ENOBUFS`): the consumer must resync. */
export interface OverrunEvent {
  /** Always `overrun`. */
  readonly type: "overrun";
}

const MAX_BACKOFF_MS = 8;

/** Options of a {@linkcode NetlinkEventStream}. */
export interface EventStreamOptions {
  /**
   * Under Bun (no off-thread wait), the longest sleep between two reads of a quiet socket, in
   * ms (default 8): the most an event can wait after a quiet spell. The sleeps double from 1 ms
   * up to it and start again at 1 ms after each event, so a burst is read at once; a larger
   * value wakes the process less often when nothing happens (the host agent's firewall monitor
   * uses 128). Ignored under Deno, which waits in `poll(2)` on a pool thread.
   */
  idleWaitMs?: number;
}

/**
 * The Bun polling schedule: the sleep after one of `current` ms found nothing queued, doubling
 * up to `max`.
 *
 * @example
 * ```ts
 * import { nextIdleWait } from "./events.ts";
 * nextIdleWait(1, 128); // 2
 * nextIdleWait(128, 128); // 128
 * ```
 * @param current The sleep that just ended, ms.
 * @param max The longest sleep, ms.
 * @returns The next sleep, ms.
 */
export function nextIdleWait(current: number, max: number): number {
  return Math.max(1, Math.min(max, current * 2));
}
/** A pool-thread wait returns at least this often, so a lost wake-up costs at most this long. */
const POLL_TIMEOUT_MS = 1000;

/**
 * Decoded multicast messages of one netlink socket, in the order the kernel sent them. Messages
 * the decoder maps to `undefined` are skipped; back-to-back overruns are reported as one
 * {@linkcode OverrunEvent}. The stream owns the socket: it ends, and closes it, when the loop
 * `break`s, or on `close()` / `using` / `await using`.
 *
 * @example Follow a socket that joined a multicast group
 * ```ts ignore
 * import { NetlinkSocket } from "./socket.ts";
 * import { NetlinkEventStream } from "./events.ts";
 * const sock = NetlinkSocket.open({ protocol: 12, groups: [7] }); // NFNLGRP_NFTABLES
 * await using events = new NetlinkEventStream(sock, (m) => m.type);
 * for await (const e of events) {
 *   if (typeof e === "object") continue; // overrun: read the state again
 *   console.log("message type", e);
 * }
 * ```
 */
export class NetlinkEventStream<E>
  implements AsyncIterableIterator<E | OverrunEvent>, Disposable, AsyncDisposable {
  #sock: NetlinkSocket;
  #decode: (m: RawMessage) => E | undefined;
  #queue: (E | OverrunEvent)[] = [];
  #lastOverrun = false;
  #closed = false;
  #wakeFd = -1;
  #pollfds: Uint8Array<ArrayBuffer> | undefined;
  #waiting: Promise<unknown> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | undefined;
  #backoff = 1;
  #maxBackoff: number;
  #tail: Promise<void> = Promise.resolve();

  /**
   * Wraps a socket that already joined its groups; the stream owns it from now on (closes it on
   * failure here too).
   *
   * @param sock The socket.
   * @param decode Turns one message into an event, or `undefined` to skip it. A message the
   *   decoder throws on is reported as an {@linkcode OverrunEvent}: the consumer missed a change
   *   it could not read, so it must resync as after dropped messages.
   * @param options How long a quiet socket may go unread under Bun.
   */
  constructor(
    sock: NetlinkSocket,
    decode: (m: RawMessage) => E | undefined,
    options: EventStreamOptions = {},
  ) {
    const idle = options.idleWaitMs ?? MAX_BACKOFF_MS;
    if (!Number.isInteger(idle) || idle < 1 || idle > 60_000) {
      sock.close();
      throw new RangeError(`Invalid idleWaitMs "${idle}"`);
    }
    this.#sock = sock;
    this.#decode = decode;
    this.#maxBackoff = idle;
    if (canPollOffThread()) {
      try {
        this.#wakeFd = eventfd(EFD_CLOEXEC | EFD_NONBLOCK, "event stream wake-up");
      } catch (e) {
        sock.close();
        throw e;
      }
      const pfd = new Uint8Array(16);
      const dv = new DataView(pfd.buffer);
      dv.setInt32(0, sock.fd, true);
      dv.setInt16(4, POLLIN, true);
      dv.setInt32(8, this.#wakeFd, true);
      dv.setInt16(12, POLLIN, true);
      this.#pollfds = pfd;
    }
  }

  /** Whether the stream was closed (by `close()`, `break` or disposal). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The next event; waits (without blocking the JS thread) until one comes. Done once closed.
   *
   * @returns The next event, or `{ done: true }` after `close()`.
   */
  next(): Promise<IteratorResult<E | OverrunEvent, undefined>> {
    // Calls that overlap are served one after the other, each getting its own event.
    const result = this.#tail.then(() => this.#next());
    this.#tail = result.then(() => {}, () => {});
    return result;
  }

  async #next(): Promise<IteratorResult<E | OverrunEvent, undefined>> {
    for (;;) {
      if (this.#queue.length > 0) return { done: false, value: this.#queue.shift()! };
      if (this.#closed) return { done: true, value: undefined };
      if (this.#read()) {
        this.#backoff = 1;
        continue;
      }
      await this.#wait();
    }
  }

  /**
   * Ends the iteration (called by `break`) and closes the stream.
   *
   * @returns `{ done: true }`.
   */
  return(): Promise<IteratorResult<E | OverrunEvent, undefined>> {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  /** The stream itself: `for await (const e of stream)`. @returns This stream. */
  [Symbol.asyncIterator](): NetlinkEventStream<E> {
    return this;
  }

  /**
   * Closes the socket and wakes a pending `next()`, which then reports done; safe to call twice.
   * Events already read but not yet consumed are dropped.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    if (this.#wakeFd >= 0) {
      try {
        write(this.#wakeFd, new Uint8Array(new BigUint64Array([1n]).buffer));
      } catch { /* the poll returns on its own timeout */ }
    }
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#wake?.();
    }
    this.#sock.close();
    const wakeFd = this.#wakeFd;
    this.#wakeFd = -1;
    // The pool thread's poll holds its own reference to both files; close the eventfd once the
    // poll has returned, so that its number is not reused while a poll may still start on it.
    if (wakeFd >= 0) {
      if (this.#waiting) this.#waiting.finally(() => close(wakeFd));
      else close(wakeFd);
    }
  }

  /** Closes the stream (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes the stream (for `await using`). @returns A settled promise. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** Reads everything queued on the socket into events; `false` when nothing was there. */
  #read(): boolean {
    let any = false;
    for (;;) {
      const got = this.#sock.receiveNow();
      if (got === undefined) return any;
      any = true;
      if (got === "overrun") {
        // Collapse back-to-back overruns: one resync covers them all.
        if (!this.#lastOverrun) this.#queue.push({ type: "overrun" });
        this.#lastOverrun = true;
        continue;
      }
      for (const m of got) {
        let e: E | undefined;
        try {
          e = this.#decode(m);
        } catch {
          // An event that cannot be read leaves the consumer as blind as a dropped one: resync.
          if (!this.#lastOverrun) this.#queue.push({ type: "overrun" });
          this.#lastOverrun = true;
          continue;
        }
        if (e !== undefined) {
          this.#queue.push(e);
          this.#lastOverrun = false;
        }
      }
    }
  }

  async #wait(): Promise<void> {
    const pfd = this.#pollfds;
    if (pfd !== undefined) {
      const waiting = pollOffThread(pfd, POLL_TIMEOUT_MS);
      this.#waiting = waiting;
      try {
        await waiting;
      } finally {
        if (this.#waiting === waiting) this.#waiting = undefined;
      }
      return;
    }
    const ms = this.#backoff;
    this.#backoff = nextIdleWait(ms, this.#maxBackoff);
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        resolve();
      }, ms);
    });
    this.#wake = undefined;
  }
}
