/**
 * A netlink socket: requests with sequence numbers and ACKs, multi-part dumps until
 * `NLMSG_DONE`, interrupted dumps retried, receive buffers that grow, and extended ACKs so that
 * the kernel's own text reaches the caller.
 *
 * Calls are synchronous: route netlink answers inside `sendmsg`, so the reply is already queued
 * when `recvfrom` runs, and dumps are produced inside each `recvfrom`.
 *
 * @module
 */
import {
  bind,
  close,
  getsockname,
  recv,
  send,
  setsockoptInt,
  socket,
  SyscallError,
} from "../ffi/libc.ts";
import { withNetns } from "../netns/enter.ts";
import { type AttrCodec, decode } from "./codec.ts";
import {
  AF_NETLINK,
  MSG_DONTWAIT,
  MSG_PEEK,
  MSG_TRUNC,
  NETLINK_ADD_MEMBERSHIP,
  NETLINK_EXT_ACK,
  NETLINK_GET_STRICT_CHK,
  NETLINK_ROUTE,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  SO_RCVBUF,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
} from "./constants.ts";
import { NetlinkDecodeError, NetlinkError } from "./errors.ts";
import { ExtAck, messageTypeName } from "./header.ts";

/** One received message: its header fields and a copy of its payload. */
export interface RawMessage {
  /** `nlmsg_type`. */
  readonly type: number;
  /** `nlmsg_flags`. */
  readonly flags: number;
  /** The payload after `nlmsghdr` (a copy: the receive buffer is reused). */
  readonly payload: Uint8Array;
}

/** A received message with its sequence number (see {@linkcode NetlinkSocket.transact}). */
export interface SeqMessage extends RawMessage {
  /** `nlmsg_seq`. */
  readonly seq: number;
}

/** Options for {@linkcode NetlinkSocket.open}. */
export interface NetlinkSocketOptions {
  /** Netlink protocol; default `NETLINK_ROUTE`. */
  protocol?: number;
  /** Open the socket inside this network namespace (an fd); it stays bound to it. */
  netnsFd?: number;
  /** Names that namespace in errors. */
  netnsName?: string;
  /** Multicast groups to join (`NETLINK_ADD_MEMBERSHIP`), e.g. `RTNLGRP_LINK`. */
  groups?: readonly number[];
  /** `SO_RCVBUF` in bytes (the kernel doubles it); a small one makes overruns likely. */
  receiveBuffer?: number;
}

/** What a request is about, for error messages: e.g. `{ object: 'veth "nsl0a"' }`. */
export interface RequestContext {
  /** The object, already quoted, e.g. `veth "nsl0a"`. */
  object?: string;
}

/** One request of a {@linkcode NetlinkSocket.batch}. */
export interface BatchRequest<I = unknown> {
  /** `nlmsg_type`, e.g. `RTM_NEWADDR`. */
  type: number;
  /** Extra flags besides `NLM_F_REQUEST | NLM_F_ACK`. */
  flags: number;
  /** The body's codec. */
  codec: AttrCodec<unknown, I>;
  /** The body. */
  body: I;
  /** Names the object in errors. */
  ctx?: RequestContext;
}

/**
 * What link, address and route operations need from a socket. {@linkcode NetlinkSocket} is the
 * real one; tests can record requests with their own.
 */
export interface NetlinkTransport {
  /** Sends a request and waits for its ACK; see {@linkcode NetlinkSocket.request}. */
  request<I>(
    type: number,
    flags: number,
    codec: AttrCodec<unknown, I>,
    body: I,
    ctx?: RequestContext,
  ): RawMessage[];
  /** Sends a dump request and collects the replies; see {@linkcode NetlinkSocket.dump}. */
  dump<I>(type: number, codec: AttrCodec<unknown, I>, body: I, ctx?: RequestContext): RawMessage[];
}

/**
 * Encodes a whole netlink request: `nlmsghdr` (length, type, flags, seq, pid 0) and the body.
 *
 * @example
 * ```ts ignore
 * const bytes = encodeRequest(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, 0, LinkMessage, { index: 3 });
 * ```
 * @param type `nlmsg_type`.
 * @param flags `nlmsg_flags`, complete.
 * @param seq `nlmsg_seq`.
 * @param codec The body's codec.
 * @param body The body.
 * @returns The message bytes.
 */
export function encodeRequest<I>(
  type: number,
  flags: number,
  seq: number,
  codec: AttrCodec<unknown, I>,
  body: I,
): Uint8Array<ArrayBuffer> {
  const size = HDR + codec.sizeOf(body);
  const buf = new Uint8Array((size + 3) & ~3);
  const dv = new DataView(buf.buffer);
  const written = codec.encodeTo(buf, dv, HDR, body);
  if (written !== size - HDR) {
    throw new Error(`Codec wrote ${written} bytes, declared ${size - HDR}`);
  }
  dv.setUint32(0, buf.byteLength, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, flags, true);
  dv.setUint32(8, seq, true);
  dv.setUint32(12, 0, true);
  return buf;
}

/**
 * Raised when a dump was interrupted (`NLM_F_DUMP_INTR`: the objects changed while the kernel
 * listed them) on every try. `messages` holds the last try's replies: complete as a list, but
 * possibly inconsistent, as iproute2 warns ("Dump was interrupted and may be inconsistent").
 */
export class DumpInterruptedError extends NetlinkError {
  /** The last attempt's replies. */
  readonly messages: RawMessage[];

  /**
   * Makes the error.
   *
   * @param op The dump's request type.
   * @param object What was dumped.
   * @param messages The last attempt's replies.
   * @param attempts How many times the dump ran.
   */
  constructor(op: string, object: string, messages: RawMessage[] = [], attempts = 0) {
    super(
      op,
      object,
      4,
      `dump interrupted by concurrent changes (NLM_F_DUMP_INTR) on all ${attempts} attempts`,
    );
    this.name = "DumpInterruptedError";
    this.messages = messages;
  }
}

const MAX_DUMP_RETRIES = 5;
const HDR = 16;

// One receive buffer for every socket of this module instance (one JS thread): requests are
// synchronous, so no two sockets ever read at once, and every message kept is copied out.
// Sharing it keeps per-socket allocations (and the allocator's fragmentation) out of the way of
// code that opens a handle per namespace.
let rxBuf = new Uint8Array(64 * 1024);
let rxView = new DataView(rxBuf.buffer);

/**
 * A netlink socket bound to the namespace it was opened in.
 *
 * @example Dump links in the current namespace
 * ```ts ignore
 * import { NetlinkSocket } from "./socket.ts";
 * using sock = NetlinkSocket.open();
 * const replies = sock.dump(RTM_GETLINK, ifinfomsgBody);
 * ```
 */
export class NetlinkSocket implements NetlinkTransport, Disposable {
  #fd: number;
  #seq: number;
  #port: number;
  #restarts = 0;

  private constructor(fd: number, port: number) {
    this.#fd = fd;
    this.#port = port;
    this.#seq = (Date.now() & 0x7fffffff) >>> 0;
  }

  /**
   * Opens a netlink socket, with extended ACKs and strict dump checking enabled.
   *
   * @example
   * ```ts ignore
   * const sock = NetlinkSocket.open({ netnsFd: fd, netnsName: '"/run/netns/c1"' });
   * ```
   * @param options Protocol and namespace.
   * @returns The socket.
   */
  static open(options: NetlinkSocketOptions = {}): NetlinkSocket {
    const protocol = options.protocol ?? NETLINK_ROUTE;
    const make = () => socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol, "AF_NETLINK");
    const fd = options.netnsFd === undefined
      ? make()
      : withNetns(options.netnsFd, make, options.netnsName);
    try {
      setsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1, "NETLINK_EXT_ACK");
      try {
        setsockoptInt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1, "NETLINK_GET_STRICT_CHK");
      } catch { /* older kernels: dumps are just unfiltered */ }
      if (options.receiveBuffer !== undefined) {
        setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, options.receiveBuffer, "SO_RCVBUF");
      }
      const sa = new Uint8Array(12);
      sa[0] = AF_NETLINK; // sockaddr_nl, nl_pid 0: the kernel assigns the port id
      bind(fd, sa, "AF_NETLINK");
      getsockname(fd, sa, "AF_NETLINK");
      // After bind: bind() sets the first 32 groups to its nl_groups (0), dropping earlier joins.
      for (const g of options.groups ?? []) {
        setsockoptInt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g, "NETLINK_ADD_MEMBERSHIP");
      }
      const port = new DataView(sa.buffer).getUint32(4, true);
      return new NetlinkSocket(fd, port);
    } catch (e) {
      close(fd);
      throw e;
    }
  }

  /** The port id the kernel assigned (`nl_pid`). */
  get portId(): number {
    return this.#port;
  }

  /**
   * How many dumps this socket had to run again because the kernel flagged them
   * `NLM_F_DUMP_INTR` (the objects changed while they were being listed).
   */
  get dumpRestarts(): number {
    return this.#restarts;
  }

  /** The socket's fd; `-1` once closed. */
  get fd(): number {
    return this.#fd;
  }

  /**
   * Sends one request and waits for its ACK. Returns the replies that came before the ACK (for
   * `NLM_F_ECHO` requests); throws {@linkcode NetlinkError} when the kernel refused it.
   *
   * @example
   * ```ts ignore
   * sock.request(RTM_DELLINK, 0, LinkMessage, { index: 7 }, { object: 'link "nsl0a"' });
   * ```
   * @param type `nlmsg_type`, e.g. `RTM_NEWLINK`.
   * @param flags Extra flags besides `NLM_F_REQUEST | NLM_F_ACK` (e.g. `NLM_F_CREATE | NLM_F_EXCL`).
   * @param codec The body's codec.
   * @param body The body's value.
   * @param ctx Names the object in errors.
   * @returns Replies received before the ACK.
   */
  request<I>(
    type: number,
    flags: number,
    codec: AttrCodec<unknown, I>,
    body: I,
    ctx: RequestContext = {},
  ): RawMessage[] {
    this.#seq = (this.#seq + 1) >>> 0;
    const msg = encodeRequest(type, flags | NLM_F_REQUEST | NLM_F_ACK, this.#seq, codec, body);
    return this.#exchange(msg, type, ctx, false);
  }

  /**
   * Sends a dump request and collects every reply until `NLMSG_DONE`. An interrupted dump
   * (`NLM_F_DUMP_INTR`) is run again, up to 5 times, then reported as
   * {@linkcode DumpInterruptedError}.
   *
   * @example
   * ```ts ignore
   * const links = sock.dump(RTM_GETLINK, LinkMessage, {}).map((m) => decode(LinkMessage, m.payload));
   * ```
   * @param type `nlmsg_type`, e.g. `RTM_GETLINK`.
   * @param codec The request body's codec.
   * @param body The request body (filters).
   * @param ctx Names the object in errors.
   * @returns Every reply message, payloads copied.
   */
  dump<I>(
    type: number,
    codec: AttrCodec<unknown, I>,
    body: I,
    ctx: RequestContext = {},
  ): RawMessage[] {
    for (let attempt = 0;; attempt++) {
      this.#seq = (this.#seq + 1) >>> 0;
      const msg = encodeRequest(type, NLM_F_REQUEST | NLM_F_DUMP, this.#seq, codec, body);
      const out = this.#exchange(msg, type, ctx, true);
      if (!(out as { interrupted?: boolean }).interrupted) return out;
      this.#restarts++;
      if (attempt >= MAX_DUMP_RETRIES) {
        throw new DumpInterruptedError(messageTypeName(type), ctx.object ?? "", out, attempt + 1);
      }
    }
  }

  /**
   * Sends several requests in one `sendmsg` and collects one ACK for each: the kernel handles
   * them in order, and a failing one does not stop those after it. Use it for requests that
   * need no reply (add, delete, set); a request that would answer with data is refused.
   *
   * @example Configure an interface in one round trip
   * ```ts ignore
   * const errors = sock.batch([
   *   { type: RTM_NEWADDR, flags: NLM_F_CREATE | NLM_F_EXCL, codec: AddrMessage, body: a4 },
   *   { type: RTM_NEWLINK, flags: 0, codec: LinkMessage, body: { index: 2, flags: 1, change: 1 } },
   * ]);
   * errors.every((e) => e === undefined); // all done
   * ```
   * @param requests The requests, in order.
   * @returns For each request, `undefined` when it succeeded or its `NetlinkError`.
   */
  batch(requests: readonly BatchRequest[]): (NetlinkError | undefined)[] {
    if (this.#fd < 0) throw new Error("Netlink socket is closed");
    if (requests.length === 0) return [];
    const first = (this.#seq + 1) >>> 0;
    const parts = requests.map((r) => {
      if (r.type % 4 === 2) {
        throw new TypeError(`${messageTypeName(r.type)} answers with data; it cannot be batched`);
      }
      this.#seq = (this.#seq + 1) >>> 0;
      return encodeRequest(r.type, r.flags | NLM_F_REQUEST | NLM_F_ACK, this.#seq, r.codec, r.body);
    });
    const total = parts.reduce((n, p) => n + p.byteLength, 0);
    const msg = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      msg.set(p, at);
      at += p.byteLength;
    }
    const op = messageTypeName(requests[0].type);
    this.#send(msg, op, "(batch)");
    const results = new Array<NetlinkError | undefined>(requests.length).fill(undefined);
    let pending = requests.length;
    while (pending > 0) {
      const n = this.#receive(op, "(batch)", false);
      const dv = rxView;
      let off = 0;
      while (off + HDR <= n) {
        const len = dv.getUint32(off, true);
        if (len < HDR || off + len > n) break;
        const i = (dv.getUint32(off + 8, true) - first) >>> 0;
        const mpid = dv.getUint32(off + 12, true);
        const mtype = dv.getUint16(off + 4, true);
        if (i < requests.length && (mpid === this.#port || mpid === 0) && mtype === NLMSG_ERROR) {
          const code = len >= HDR + 4 ? dv.getInt32(off + HDR, true) : 0;
          const r = requests[i];
          if (code < 0) {
            const flags = dv.getUint16(off + 6, true);
            results[i] = this.#error(
              messageTypeName(r.type),
              r.ctx ?? {},
              -code,
              mtype,
              flags,
              off,
              len,
            );
          }
          pending--;
        }
        off += (len + 3) & ~3;
      }
    }
    return results;
  }

  /**
   * Reserves `count` consecutive sequence numbers (for messages encoded by the caller, such as
   * an nfnetlink batch) and returns the first.
   *
   * @example
   * ```ts ignore
   * const first = sock.reserveSeq(3); // first, first + 1, first + 2
   * ```
   * @param count How many.
   * @returns The first sequence number.
   */
  reserveSeq(count: number): number {
    const first = (this.#seq + 1) >>> 0;
    this.#seq = (this.#seq + count) >>> 0;
    return first;
  }

  /**
   * Sends prepared messages in one `sendmsg` and returns every reply the kernel queued for them,
   * without waiting for more (`MSG_DONTWAIT` until `EAGAIN`). For protocols that answer inside
   * `sendmsg` and stay silent on success, such as an nf_tables batch (`nft` reads the same way).
   * Replies addressed to another port id are dropped.
   *
   * @example
   * ```ts ignore
   * const replies = sock.transact(batchBytes, "NFT batch", "table inet nslink");
   * ```
   * @param msg The messages, each with its `nlmsghdr`.
   * @param op Names the operation in socket errors.
   * @param object Names the object in socket errors.
   * @returns The replies, with their sequence numbers.
   */
  transact(msg: Uint8Array<ArrayBuffer>, op: string, object = ""): SeqMessage[] {
    this.#send(msg, op, object);
    const out: SeqMessage[] = [];
    for (;;) {
      const size = this.#recv(MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT, op);
      if (size < 0) return out; // EAGAIN: nothing more queued
      if (size > rxBuf.byteLength) this.#grow(size);
      const n = this.#recv(MSG_TRUNC | MSG_DONTWAIT, op);
      if (n < 0) return out;
      const dv = rxView;
      let off = 0;
      while (off + HDR <= n) {
        const len = dv.getUint32(off, true);
        if (len < HDR || off + len > n) break;
        const pid = dv.getUint32(off + 12, true);
        if (pid === this.#port || pid === 0) {
          out.push({
            type: dv.getUint16(off + 4, true),
            flags: dv.getUint16(off + 6, true),
            seq: dv.getUint32(off + 8, true),
            payload: rxBuf.slice(off + HDR, off + len),
          });
        }
        off += (len + 3) & ~3;
      }
    }
  }

  /**
   * Reads what is queued without waiting (`MSG_DONTWAIT`): for sockets that joined multicast
   * groups. Returns the messages of one datagram, `"overrun"` when the kernel dropped messages
   * because the receive buffer was full (`ENOBUFS`: the reader must resync), or `undefined` when
   * nothing is queued.
   *
   * @example
   * ```ts ignore
   * const got = sock.receiveNow(); // RawMessage[] | "overrun" | undefined
   * ```
   * @returns The messages, `"overrun"`, or `undefined`.
   */
  receiveNow(): RawMessage[] | "overrun" | undefined {
    if (this.#fd < 0) throw new Error("Netlink socket is closed");
    let size: number;
    for (;;) {
      size = recv(this.#fd, rxBuf, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT, "events");
      if (size !== -4) break;
    }
    if (size === -11) return undefined;
    if (size === -105) return "overrun";
    if (size > rxBuf.byteLength) this.#grow(size);
    const n = this.#recv(MSG_DONTWAIT, "events");
    const out: RawMessage[] = [];
    const dv = rxView;
    let off = 0;
    while (off + HDR <= n) {
      const len = dv.getUint32(off, true);
      if (len < HDR || off + len > n) break;
      const type = dv.getUint16(off + 4, true);
      if (type >= 16) {
        out.push({
          type,
          flags: dv.getUint16(off + 6, true),
          payload: rxBuf.slice(off + HDR, off + len),
        });
      }
      off += (len + 3) & ~3;
    }
    return out;
  }

  /** Closes the socket; safe to call twice. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    close(fd, "AF_NETLINK");
  }

  /** Closes the socket (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  #exchange(
    msg: Uint8Array<ArrayBuffer>,
    type: number,
    ctx: RequestContext,
    isDump: boolean,
  ): RawMessage[] {
    const op = messageTypeName(type);
    this.#send(msg, op, ctx.object ?? "");
    const seq = this.#seq;
    const out: RawMessage[] & { interrupted?: boolean } = [];
    for (;;) {
      const n = this.#receive(op, ctx.object ?? "", isDump);
      const buf = rxBuf;
      const dv = rxView;
      let off = 0;
      while (off + HDR <= n) {
        const len = dv.getUint32(off, true);
        if (len < HDR || off + len > n) break;
        const mtype = dv.getUint16(off + 4, true);
        const mflags = dv.getUint16(off + 6, true);
        const mseq = dv.getUint32(off + 8, true);
        const mpid = dv.getUint32(off + 12, true);
        const next = off + ((len + 3) & ~3);
        // Replies to us carry our sequence number and our port id; anything else is stale.
        if (mseq !== seq || (mpid !== this.#port && mpid !== 0)) {
          off = next;
          continue;
        }
        if (mflags & NLM_F_DUMP_INTR) out.interrupted = true;
        if (mtype === NLMSG_ERROR || mtype === NLMSG_DONE) {
          const code = len >= HDR + 4 ? dv.getInt32(off + HDR, true) : 0;
          if (code < 0) throw this.#error(op, ctx, -code, mtype, mflags, off, len);
          if (mtype === NLMSG_DONE || !isDump) return out;
        } else if (mtype !== NLMSG_NOOP && mtype !== NLMSG_OVERRUN) {
          out.push({ type: mtype, flags: mflags, payload: buf.slice(off + HDR, off + len) });
        }
        off = next;
      }
    }
  }

  /** Sends a whole message (or a batch), mapping a socket failure to a `NetlinkError`. */
  #send(msg: Uint8Array<ArrayBuffer>, op: string, object: string): void {
    if (this.#fd < 0) throw new Error("Netlink socket is closed");
    // A reply can be as big as the request (an error ACK echoes it): make room up front.
    if (rxBuf.byteLength < msg.byteLength + 4096) this.#grow(msg.byteLength + 4096);
    try {
      send(this.#fd, msg, 0, op);
    } catch (e) {
      if (e instanceof SyscallError) throw new NetlinkError(op, object, e.errno, "sendto failed");
      throw e;
    }
  }

  /**
   * Receives one datagram into the shared buffer and returns its length. For dumps it peeks at
   * the size first and grows the buffer; a datagram that still does not fit is an error, never
   * silently cut.
   */
  #receive(op: string, object: string, peek: boolean): number {
    if (peek) {
      const size = this.#recv(MSG_PEEK | MSG_TRUNC, op);
      if (size > rxBuf.byteLength) this.#grow(size);
    }
    const n = this.#recv(MSG_TRUNC, op);
    if (n > rxBuf.byteLength) {
      throw new NetlinkError(
        op,
        object,
        105,
        `reply of ${n} bytes truncated to ${rxBuf.byteLength}`,
      );
    }
    return n;
  }

  #recv(flags: number, op: string): number {
    for (;;) {
      const n = recv(this.#fd, rxBuf, flags, op);
      if (n >= 0) return n;
      if (n === -4) continue; // EINTR
      if (n === -11 && (flags & MSG_DONTWAIT)) return -11; // nothing queued
      throw new SyscallError("recvfrom", op, -n);
    }
  }

  #grow(size: number): void {
    let cap = rxBuf.byteLength;
    while (cap < size) cap *= 2;
    rxBuf = new Uint8Array(cap);
    rxView = new DataView(rxBuf.buffer);
  }

  #error(
    op: string,
    ctx: RequestContext,
    errno: number,
    mtype: number,
    mflags: number,
    off: number,
    len: number,
  ): NetlinkError {
    let extack: string | undefined;
    let extackOffset: number | undefined;
    if (mflags & NLM_F_ACK_TLVS) {
      // NLMSG_ERROR: error code, then the request's header (and body unless capped), then TLVs.
      // NLMSG_DONE: error code, then TLVs.
      let tlv = off + HDR + 4;
      if (mtype === NLMSG_ERROR) {
        tlv += (mflags & NLM_F_CAPPED) ? HDR : ((rxView.getUint32(off + HDR + 4, true) + 3) & ~3);
      }
      if (tlv < off + len) {
        try {
          const ack = decode(ExtAck, rxBuf.subarray(tlv, off + len));
          extack = ack.msg;
          extackOffset = ack.offset;
        } catch (e) {
          // The errno is what matters; a malformed extended ACK is only left out.
          if (!(e instanceof NetlinkDecodeError)) throw e;
        }
      }
    }
    return new NetlinkError(op, ctx.object ?? "", errno, extack, extackOffset);
  }
}
