/**
 * A batched UDP listener for the DNS server under Deno, where `node:dgram` costs a promise and a
 * copy per datagram: a non-blocking socket of our own, read with `recvmmsg` (up to 32 queries a
 * call) after a `poll` that waits on a pool thread, and answered with one `sendmmsg` per batch
 * (answers that come later, forwarded ones, go with `sendto`). Forwarded queries go out the same
 * way: the sockets to upstreams are nslink's own too, all of them read by one loop (one `poll` on
 * a pool thread for all, then `recvmmsg` on each). Bun keeps `node:dgram`, which is fast there.
 * See {@linkcode ffiUdpListener} and {@linkcode ffiUpstreamSocket}.
 *
 * Permissions: Deno's `--allow-ffi`.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type {
  UdpHandlers,
  UdpListener,
  UdpListenerFactory,
  UpstreamHandlers,
  UpstreamSocket,
  UpstreamSocketFactory,
} from "../dns/server.ts";
import { UDP_RECEIVE_BUFFER } from "../dns/server.ts";
import {
  bind,
  canPollOffThread,
  close,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  eventfd,
  getsockname,
  POLLIN,
  pollOffThread,
  readNonBlocking,
  recvmmsgNonBlocking,
  sendmmsgNonBlocking,
  sendtoAddress,
  setsockoptInt,
  socket,
  write,
} from "../ffi/libc.ts";
import { SyscallError } from "../ffi/errors.ts";
import { formatIP, parseIP } from "../net/ip.ts";

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const MSG_TRUNC = 0x20;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;

/** Empty reads in a row (one per event-loop turn) before waiting in `poll` again. */
const SPIN = 8;
/** Messages per `recvmmsg`/`sendmmsg`. */
const VLEN = 32;
/** The largest query kept (larger ones are dropped, as EDNS clients stay below 4096). */
const SLOT = 4096;
const NAME = 28; // sizeof(struct sockaddr_in6)
const HDR = 64; // sizeof(struct mmsghdr) on 64-bit Linux
const IOV = 16; // sizeof(struct iovec)

type DenoPointers = {
  UnsafePointer: {
    of(b: Uint8Array<ArrayBuffer>): unknown;
    value(p: unknown): bigint | number;
  };
};

function address(buf: Uint8Array<ArrayBuffer>): bigint {
  const d = (globalThis as { Deno?: DenoPointers }).Deno;
  if (!d) throw new Error("ffiUdpListener: Deno only");
  return BigInt(d.UnsafePointer.value(d.UnsafePointer.of(buf)));
}

/** Builds `vlen` `mmsghdr`s, each naming its own slot of `data` and of `names`. */
function headers(
  data: Uint8Array<ArrayBuffer>,
  names: Uint8Array<ArrayBuffer>,
  vlen = VLEN,
  slot = SLOT,
) {
  const hdrs = new Uint8Array(vlen * HDR);
  const iovs = new Uint8Array(vlen * IOV);
  const h = new DataView(hdrs.buffer);
  const v = new DataView(iovs.buffer);
  const dataAt = address(data);
  const namesAt = address(names);
  const iovsAt = address(iovs);
  for (let i = 0; i < vlen; i++) {
    v.setBigUint64(i * IOV, dataAt + BigInt(i * slot), true);
    v.setBigUint64(i * IOV + 8, BigInt(slot), true);
    h.setBigUint64(i * HDR, namesAt + BigInt(i * NAME), true); // msg_name
    h.setUint32(i * HDR + 8, NAME, true); // msg_namelen
    h.setBigUint64(i * HDR + 16, iovsAt + BigInt(i * IOV), true); // msg_iov
    h.setBigUint64(i * HDR + 24, 1n, true); // msg_iovlen
  }
  return { hdrs, h, iovs, v };
}

function sockaddr(ip: string, port: number): Uint8Array<ArrayBuffer> {
  const bytes = parseIP(ip);
  if (!bytes) throw new TypeError(`Not an IP address: "${ip}"`);
  const sa = new Uint8Array(bytes.length === 4 ? 16 : 28);
  const dv = new DataView(sa.buffer);
  dv.setUint16(0, bytes.length === 4 ? AF_INET : AF_INET6, true);
  dv.setUint16(2, port, false);
  sa.set(bytes, bytes.length === 4 ? 4 : 8);
  return sa;
}

function sourceOf(name: Uint8Array): string {
  const family = name[0] | (name[1] << 8);
  return family === AF_INET ? formatIP(name.subarray(4, 8)) : formatIP(name.subarray(8, 24));
}

/**
 * Whether {@linkcode ffiUdpListener} can run here: under Deno, whose FFI can wait in `poll` on a
 * pool thread.
 *
 * @example
 * ```ts ignore
 * const udpListener = ffiUdpAvailable() ? ffiUdpListener : undefined;
 * ```
 * @returns `true` under Deno.
 */
export function ffiUdpAvailable(): boolean {
  return "Deno" in globalThis && !("Bun" in globalThis) && canPollOffThread();
}

class FfiUdp implements UdpListener {
  readonly port: number;
  readonly #fd: number;
  readonly #handlers: UdpHandlers;
  readonly #data = new Uint8Array(VLEN * SLOT);
  readonly #names = new Uint8Array(VLEN * NAME);
  readonly #rx = headers(this.#data, this.#names);
  readonly #outData = new Uint8Array(VLEN * SLOT);
  readonly #outNames = new Uint8Array(VLEN * NAME);
  readonly #tx = headers(this.#outData, this.#outNames);
  readonly #pollfd = new Uint8Array(8);
  #queued = 0;
  #inBatch = false;
  #closed = false;
  readonly #loop: Promise<void>;

  constructor(fd: number, port: number, handlers: UdpHandlers) {
    this.#fd = fd;
    this.port = port;
    this.#handlers = handlers;
    const p = new DataView(this.#pollfd.buffer);
    p.setInt32(0, fd, true);
    p.setInt16(4, POLLIN, true);
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    let idle = 0;
    while (!this.#closed) {
      let n = 0;
      try {
        n = this.#batch();
      } catch {
        this.#handlers.error();
      }
      idle = n > 0 ? 0 : idle + 1;
      if (idle < SPIN) {
        // Under load, read again after the event loop's next turn (a wake-up through poll on
        // a pool thread costs more than a query): only a quiet socket goes back to poll.
        await new Promise((r) => setImmediate(r));
        continue;
      }
      // Waits on a pool thread; the timeout bounds how long close() waits.
      await pollOffThread(this.#pollfd, 200);
      idle = SPIN - 1;
    }
  }

  /** Reads one batch, answers what can be answered now, sends the answers in one call. */
  #batch(): number {
    const { h } = this.#rx;
    for (let i = 0; i < VLEN; i++) h.setUint32(i * HDR + 8, NAME, true);
    const n = recvmmsgNonBlocking(this.#fd, this.#rx.hdrs, VLEN, "DNS UDP socket");
    if (n === 0) return 0;
    this.#inBatch = true;
    try {
      for (let i = 0; i < n; i++) {
        const len = h.getUint32(i * HDR + 56, true);
        if (h.getInt32(i * HDR + 48, true) & MSG_TRUNC) continue;
        const msg = this.#data.slice(i * SLOT, i * SLOT + len);
        const name = this.#names.slice(i * NAME, (i + 1) * NAME);
        this.#handlers.message(msg, sourceOf(name), (reply) => this.#reply(reply, name));
      }
    } finally {
      this.#inBatch = false;
      this.#flush();
    }
    return n;
  }

  #reply(reply: Uint8Array, name: Uint8Array): void {
    if (this.#closed) return;
    if (!this.#inBatch || reply.length > SLOT) {
      // Later (a forwarded answer) or large: on its own.
      const to = name[0] === AF_INET ? name.slice(0, 16) : name.slice(0, 28);
      try {
        sendtoAddress(this.#fd, reply as Uint8Array<ArrayBuffer>, to, "DNS UDP socket");
      } catch {
        this.#handlers.error();
      }
      return;
    }
    const i = this.#queued++;
    this.#outData.set(reply, i * SLOT);
    this.#outNames.set(name, i * NAME);
    const { h, v } = this.#tx;
    v.setBigUint64(i * IOV + 8, BigInt(reply.length), true);
    h.setUint32(i * HDR + 8, name[0] === AF_INET ? 16 : 28, true);
    if (this.#queued === VLEN) this.#flush();
  }

  #flush(): void {
    if (this.#queued === 0) return;
    try {
      sendmmsgNonBlocking(this.#fd, this.#tx.hdrs, this.#queued, "DNS UDP socket");
    } catch {
      this.#handlers.error();
    }
    this.#queued = 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return await this.#loop;
    this.#closed = true;
    await this.#loop;
    close(this.#fd, "DNS UDP socket");
  }
}

/** The largest upstream answer kept (a TCP-sized one; larger ones cannot come over UDP). */
const UP_SLOT = 65536;
/** Messages per `recvmmsg` on an upstream socket. */
const UP_VLEN = 8;

interface UpstreamEntry {
  fd: number;
  /** The upstream's `sockaddr` (16 or 28 bytes): where queries go, whence answers must come. */
  to: Uint8Array<ArrayBuffer>;
  handlers: UpstreamHandlers;
}

/**
 * Every upstream socket of the process, read by one loop: `recvmmsg` on each while answers come,
 * else one `poll` on a pool thread over all of them and an eventfd that wakes it when a socket is
 * added or closed. A closed socket's fd is closed by the loop, never while a `poll` holds it.
 */
class UpstreamReactor {
  readonly #sockets = new Map<number, UpstreamEntry>();
  readonly #toClose: number[] = [];
  readonly #data = new Uint8Array(UP_VLEN * UP_SLOT);
  readonly #names = new Uint8Array(UP_VLEN * NAME);
  readonly #rx: ReturnType<typeof headers>;
  #wake = -1;
  #running = false;
  #polling = false;

  constructor() {
    this.#rx = headers(this.#data, this.#names, UP_VLEN, UP_SLOT);
  }

  add(entry: UpstreamEntry): void {
    this.#sockets.set(entry.fd, entry);
    if (this.#wake < 0) this.#wake = eventfd(EFD_NONBLOCK | EFD_CLOEXEC, "DNS upstream wake-up");
    this.#poke();
    if (!this.#running) {
      this.#running = true;
      this.#run().catch(() => {
        // The loop failed (it should not): what is in flight moves on to the next upstream.
        for (const e of this.#sockets.values()) e.handlers.error();
      });
    }
  }

  remove(fd: number): void {
    if (!this.#sockets.delete(fd)) return;
    if (this.#running) {
      this.#toClose.push(fd);
      this.#poke();
    } else close(fd);
  }

  /** Wakes a loop waiting in `poll`, so it sees the new set of sockets. */
  #poke(): void {
    if (!this.#polling) return;
    const one = new Uint8Array(8);
    one[0] = 1;
    try {
      write(this.#wake, one, "DNS upstream wake-up");
    } catch { /* the counter is full: poll wakes anyway */ }
  }

  async #run(): Promise<void> {
    try {
      await this.#loop();
    } finally {
      // Synchronously after the loop saw no socket: add() starts a new loop from here on.
      this.#running = false;
      this.#closeDeferred();
      if (this.#wake >= 0) {
        close(this.#wake);
        this.#wake = -1;
      }
    }
  }

  async #loop(): Promise<void> {
    let idle = 0;
    while (this.#sockets.size > 0) {
      this.#closeDeferred();
      let n = 0;
      for (const e of this.#sockets.values()) n += this.#drain(e);
      idle = n > 0 ? 0 : idle + 1;
      if (idle < SPIN) {
        await new Promise((r) => setImmediate(r));
        continue;
      }
      const fds = [this.#wake, ...this.#sockets.keys()];
      const pollfds = new Uint8Array(8 * fds.length);
      const p = new DataView(pollfds.buffer);
      fds.forEach((fd, i) => {
        p.setInt32(i * 8, fd, true);
        p.setInt16(i * 8 + 4, POLLIN, true);
      });
      this.#polling = true;
      try {
        await pollOffThread(pollfds, 1000);
      } finally {
        this.#polling = false;
      }
      try {
        readNonBlocking(this.#wake, new Uint8Array(8), "DNS upstream wake-up");
      } catch { /* nothing to read */ }
      idle = SPIN - 1;
    }
  }

  #closeDeferred(): void {
    for (const fd of this.#toClose.splice(0)) close(fd);
  }

  /** Reads what one socket has queued and hands each answer from its upstream over. */
  #drain(e: UpstreamEntry): number {
    const { h } = this.#rx;
    let total = 0;
    for (;;) {
      for (let i = 0; i < UP_VLEN; i++) h.setUint32(i * HDR + 8, NAME, true);
      let n: number;
      try {
        n = recvmmsgNonBlocking(e.fd, this.#rx.hdrs, UP_VLEN, "DNS upstream socket");
      } catch {
        e.handlers.error();
        return total + 1;
      }
      if (n === 0) return total;
      total += n;
      for (let i = 0; i < n; i++) {
        if (h.getInt32(i * HDR + 48, true) & MSG_TRUNC) continue;
        if (!sameAddress(this.#names.subarray(i * NAME, i * NAME + e.to.length), e.to)) continue;
        const len = h.getUint32(i * HDR + 56, true);
        e.handlers.message(this.#data.slice(i * UP_SLOT, i * UP_SLOT + len));
        if (!this.#sockets.has(e.fd)) return total; // closed by the handler
      }
      if (n < UP_VLEN) return total;
    }
  }
}

/** Whether a received `sockaddr` is the upstream's (family, port, address). */
function sameAddress(got: Uint8Array, want: Uint8Array): boolean {
  if (got[0] !== want[0] || got[1] !== want[1] || got[2] !== want[2] || got[3] !== want[3]) {
    return false;
  }
  const [from, to] = want.length === 16 ? [4, 8] : [8, 24];
  for (let i = from; i < to; i++) if (got[i] !== want[i]) return false;
  return true;
}

let reactor: UpstreamReactor | undefined;

/**
 * An {@linkcode UpstreamSocketFactory} on sockets of nslink's own (Deno only, see
 * {@linkcode ffiUdpAvailable}): each query is one `sendto`, answers are read in batches by one
 * loop for all upstream sockets, and only datagrams from the upstream's address and port are
 * taken. The port is the kernel's pick (random), as with `node:dgram`. An unreachable upstream is
 * noticed by its timeout (the socket is not connected, so ICMP errors are not reported).
 *
 * @example
 * ```ts ignore
 * const server = await DnsServer.start({ table, addresses: ["198.51.100.1"], upstreamSocket: ffiUpstreamSocket });
 * ```
 * @param address The upstream's address.
 * @param port Its port.
 * @param handlers What to call with its answers and on errors.
 * @returns The socket.
 * @throws {SyscallError} When no socket can be made.
 */
export const ffiUpstreamSocket: UpstreamSocketFactory = (address, port, handlers) => {
  const to = sockaddr(address, port);
  const fd = socket(
    to.length === 16 ? AF_INET : AF_INET6,
    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
    0,
    `DNS upstream ${address}`,
  );
  // Bound now (a random port), so that answers can arrive before the first sendto returns.
  bind(fd, sockaddr(to.length === 16 ? "0.0.0.0" : "::", 0), `DNS upstream ${address}`);
  reactor ??= new UpstreamReactor();
  const r = reactor;
  r.add({ fd, to, handlers });
  let closed = false;
  const s: UpstreamSocket = {
    send(msg, failed) {
      if (closed) return failed();
      try {
        const n = sendtoAddress(fd, msg as Uint8Array<ArrayBuffer>, to, `DNS upstream ${address}`);
        if (n === 0) failed(); // the socket buffer is full
      } catch {
        failed();
      }
    },
    close() {
      if (closed) return;
      closed = true;
      r.remove(fd);
    },
  };
  return s;
};

/**
 * A {@linkcode UdpListenerFactory} on a socket of nslink's own, read and written in batches
 * (`recvmmsg`/`sendmmsg`); Deno only (see {@linkcode ffiUdpAvailable}).
 *
 * @example
 * ```ts ignore
 * const server = await DnsServer.start({ table, addresses: ["198.51.100.1"], udpListener: ffiUdpListener });
 * ```
 * @param address The address to bind.
 * @param port The port (0: a free one).
 * @param handlers What to call for each datagram and on errors.
 * @returns The bound listener.
 * @throws {Error} With `code` (`EADDRINUSE`, `EADDRNOTAVAIL`, …) when it cannot bind.
 */
/**
 * Asks for {@linkcode UDP_RECEIVE_BUFFER} bytes of receive buffer: `SO_RCVBUFFORCE` (root, past
 * `net.core.rmem_max`), else `SO_RCVBUF` (capped there); the default stays when both fail.
 */
function receiveBuffer(fd: number): void {
  try {
    setsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, UDP_RECEIVE_BUFFER, "SO_RCVBUFFORCE");
  } catch {
    try {
      setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, UDP_RECEIVE_BUFFER, "SO_RCVBUF");
    } catch { /* the default buffer */ }
  }
}

export const ffiUdpListener: UdpListenerFactory = (address, port, handlers) => {
  const sa = sockaddr(address, port);
  const fd = socket(
    sa.length === 16 ? AF_INET : AF_INET6,
    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
    0,
    `DNS UDP ${address}`,
  );
  try {
    receiveBuffer(fd);
    bind(fd, sa, `DNS UDP ${address} port ${port}`);
    const got = new Uint8Array(28);
    getsockname(fd, got, `DNS UDP ${address}`);
    const bound = (got[2] << 8) | got[3];
    return Promise.resolve(new FfiUdp(fd, bound, handlers));
  } catch (e) {
    close(fd);
    const code = e instanceof SyscallError ? e.code : undefined;
    return Promise.reject(Object.assign(new Error((e as Error).message, { cause: e }), { code }));
  }
};

ffiUdpListener.upstream = ffiUpstreamSocket;
