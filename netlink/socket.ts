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
  getsockoptInt,
  recv,
  send,
  setsockoptInt,
  socket,
  SyscallError,
} from "../ffi/libc.ts";
import { withNetns } from "../ffi/enter.ts";
import { align4, type AttrCodec } from "./codec.ts";
import {
  AF_NETLINK,
  MSG_DONTWAIT,
  MSG_PEEK,
  MSG_TRUNC,
  NETLINK_ADD_MEMBERSHIP,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_GET_STRICT_CHK,
  NETLINK_ROUTE,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  SO_RCVBUF,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
} from "./constants.ts";
import { NetlinkError } from "./errors.ts";
import {
  encodeRequests,
  messageTypeName,
  NLMSG_HDRLEN,
  parseAck,
  type RequestPart,
  splitDatagram,
} from "./header.ts";

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

export { encodeRequest } from "./header.ts";

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

/**
 * What one ACK may cost in the receive buffer. The kernel charges a queued message its skb's
 * `truesize`, not its length: measured 832 bytes for a 36-byte ACK (and for a 72-byte capped
 * error ACK) on a 6.x kernel. An error ACK is capped (`NETLINK_CAP_ACK`) but may carry extended-
 * ACK text and a policy, so a batch budgets 2 KiB per request. When the ACKs of one `sendmsg`
 * exceed `SO_RCVBUF`, the kernel drops the rest (`ENOBUFS`), and they can never be read.
 */
const ACK_COST = 2048;
/** The receive buffer a batch asks for (`SO_RCVBUF`, capped by `net.core.rmem_max`, doubled). */
const BATCH_RCVBUF = 1 << 20;
/** Batches of at most this many requests go without checking the receive buffer. */
const SMALL_BATCH = 16;
/** Bytes per batch `sendmsg`: far below the default `SO_SNDBUF` (a larger send is `EMSGSIZE`). */
const BATCH_BYTES = 64 * 1024;

// One receive buffer for every socket of this module instance (one JS thread): requests are
// synchronous, so no two sockets ever read at once, and every message kept is copied out.
// Sharing it keeps per-socket allocations (and the allocator's fragmentation) out of the way of
// code that opens a handle per namespace.
let rxBuf = new Uint8Array(64 * 1024);

/**
 * A netlink socket bound to the namespace it was opened in.
 *
 * @example Dump links in the current namespace
 * ```ts ignore
 * import { NetlinkSocket } from "./socket.ts";
 * using sock = NetlinkSocket.open();
 * const replies = sock.dump(RTM_GETLINK, LinkMessage, { family: AF_PACKET });
 * ```
 */
export class NetlinkSocket implements NetlinkTransport, Disposable {
  #fd: number;
  #seq: number;
  #port: number;
  #restarts = 0;
  #dumpRetries = MAX_DUMP_RETRIES;
  #fixedRcvbuf: boolean;
  #ackRoom = 0;

  private constructor(fd: number, port: number, fixedRcvbuf: boolean) {
    this.#fd = fd;
    this.#fixedRcvbuf = fixedRcvbuf;
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
      try {
        // Error ACKs without the echoed request: a batch's ACKs then have a bounded size.
        setsockoptInt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1, "NETLINK_CAP_ACK");
      } catch { /* older kernels: full echoes */ }
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
      return new NetlinkSocket(fd, port, options.receiveBuffer !== undefined);
    } catch (e) {
      close(fd);
      throw e;
    }
  }

  /**
   * Wraps a netlink socket opened and set up as {@linkcode NetlinkSocket.open} does (bound, with
   * its options), e.g. by another thread inside another namespace. The object owns the fd.
   *
   * @example
   * ```ts ignore
   * const sock = NetlinkSocket.adopt(fd, port);
   * ```
   * @param fd The socket's fd.
   * @param port Its port id (`nl_pid`, from `getsockname`).
   * @returns The socket.
   */
  static adopt(fd: number, port: number): NetlinkSocket {
    return new NetlinkSocket(fd, port, false);
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

  /**
   * How many times an interrupted dump is run again before {@linkcode DumpInterruptedError}
   * (default 5: 6 attempts in all). `0` reports the first interrupted dump.
   *
   * @example Fail fast instead of retrying
   * ```ts
   * import { NetlinkSocket } from "./socket.ts";
   * declare const sock: NetlinkSocket;
   * sock.dumpRetries = 0;
   * ```
   */
  get dumpRetries(): number {
    return this.#dumpRetries;
  }

  set dumpRetries(n: number) {
    if (!Number.isInteger(n) || n < 0 || n > 100) {
      throw new RangeError(`Invalid dumpRetries ${JSON.stringify(n)}: an integer from 0 to 100`);
    }
    this.#dumpRetries = n;
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
   * ```ts
   * import { RTM_DELLINK } from "./constants.ts";
   * import { LinkMessage } from "../rtnl/messages/link.ts";
   * import { NetlinkSocket } from "../mod.ts";
   * declare const sock: NetlinkSocket;
   * declare const index: number;
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
    const r = this.#roundTrip([{ type, flags: flags | NLM_F_REQUEST | NLM_F_ACK, codec, body }], [
      ctx,
    ], false);
    if (r.errors[0]) throw r.errors[0];
    return r.data;
  }

  /**
   * Sends a dump request and collects every reply until `NLMSG_DONE`. An interrupted dump
   * (`NLM_F_DUMP_INTR`) is run again, up to {@linkcode NetlinkSocket.dumpRetries} more times
   * (default 5: 6 attempts in all), then reported as {@linkcode DumpInterruptedError}.
   *
   * @example
   * ```ts
   * import { RTM_GETLINK } from "./constants.ts";
   * import { LinkMessage } from "../rtnl/messages/link.ts";
   * import { NetlinkSocket, decode } from "../mod.ts";
   * declare const sock: NetlinkSocket;
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
      const r = this.#roundTrip([{ type, flags: NLM_F_REQUEST | NLM_F_DUMP, codec, body }], [
        ctx,
      ], true);
      if (r.errors[0]) throw r.errors[0];
      if (!r.interrupted) return r.data;
      this.#restarts++;
      if (attempt >= this.#dumpRetries) {
        throw new DumpInterruptedError(
          messageTypeName(type),
          ctx.object ?? "",
          r.data,
          attempt + 1,
        );
      }
    }
  }

  /**
   * Sends several requests and collects the outcome of each: the kernel handles them in order,
   * and a failing one does not stop those after it. Only the last request of each `sendmsg` asks
   * for an ACK (the kernel answers every failure anyway): the requests before it that got no
   * error succeeded. Use it for requests that need no reply (add,
   * delete, set); a request that would answer with data is refused.
   *
   * Any number of requests may be passed: they go in as few `sendmsg` calls as fit, each one
   * small enough that all its ACKs fit in the socket's receive buffer (the kernel drops ACKs
   * that do not, and they can never be read). Should an ACK still be lost (the buffer shared
   * with multicast events, say), that request's result is an `ENOBUFS` {@linkcode NetlinkError}
   * (the kernel may or may not have applied it): the call never waits for an ACK that cannot come.
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
    if (requests.length === 0) return [];
    const parts = requests.map((r) => {
      if (r.type % 4 === 2) {
        throw new TypeError(`${messageTypeName(r.type)} answers with data; it cannot be batched`);
      }
      return {
        type: r.type,
        flags: r.flags | NLM_F_REQUEST,
        codec: r.codec,
        body: r.body,
      };
    });
    const ctxs = requests.map((r) => r.ctx ?? {});
    // A few ACKs fit any receive buffer (16 x 2 KiB): no need to ask the socket (three calls
    // on every new socket, a namespace's for instance) unless the caller chose its size.
    const maxAcks = parts.length <= SMALL_BATCH && !this.#fixedRcvbuf
      ? SMALL_BATCH
      : this.#batchAcks();
    const out: (NetlinkError | undefined)[] = [];
    for (let i = 0; i < parts.length;) {
      let j = i;
      let bytes = 0;
      while (j < parts.length && j - i < maxAcks) {
        const size = align4(NLMSG_HDRLEN + parts[j].codec.sizeOf(parts[j].body));
        if (j > i && bytes + size > BATCH_BYTES) break;
        bytes += size;
        j++;
      }
      // Only the chunk's last request asks for an ACK: the kernel handles them in order and
      // reports every failure whatever the flags, so that ACK says the ones before it without
      // an error succeeded (issue 21: one datagram to read per chunk, not one per request).
      const chunk = parts.slice(i, j);
      chunk[chunk.length - 1] = { ...chunk[chunk.length - 1] };
      chunk[chunk.length - 1].flags |= NLM_F_ACK;
      const errors = this.#roundTrip(chunk, ctxs.slice(i, j), false, true).errors;
      for (const e of errors) out.push(e);
      i = j;
    }
    return out;
  }

  /**
   * How many ACKs one batch `sendmsg` may expect: the receive buffer (raised once to
   * {@linkcode BATCH_RCVBUF} unless the caller chose one) over {@linkcode ACK_COST}.
   */
  #batchAcks(): number {
    if (this.#ackRoom === 0) {
      let rcvbuf = getsockoptInt(this.#fd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF");
      if (!this.#fixedRcvbuf && rcvbuf < 2 * BATCH_RCVBUF) {
        try {
          setsockoptInt(this.#fd, SOL_SOCKET, SO_RCVBUF, BATCH_RCVBUF, "SO_RCVBUF");
          rcvbuf = getsockoptInt(this.#fd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF");
        } catch { /* keep the current size */ }
      }
      this.#ackRoom = Math.max(1, Math.floor(rcvbuf / ACK_COST));
    }
    return this.#ackRoom;
  }

  /**
   * Reserves `count` consecutive sequence numbers (for messages encoded by the caller, such as
   * an nfnetlink batch) and returns the first.
   *
   * @example
   * ```ts
   * import { NetlinkSocket } from "../mod.ts";
   * declare const sock: NetlinkSocket;
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
   * ```ts
   * import { NetlinkSocket } from "../mod.ts";
   * declare const sock: NetlinkSocket;
   * declare const batchBytes: Uint8Array<ArrayBuffer>;
   * const replies = sock.transact(batchBytes, "NFT batch", "table inet nslink");
   * ```
   * @param msg The messages, each with its `nlmsghdr`.
   * @param op Names the operation in socket errors.
   * @param object Names the object in socket errors.
   * @returns The replies, with their sequence numbers.
   */
  transact(msg: Uint8Array<ArrayBuffer>, op: string, object = ""): SeqMessage[] {
    this.#fitSend(msg.byteLength, op);
    this.#send(msg, op, object);
    const out: SeqMessage[] = [];
    let overrun = false;
    for (;;) {
      const size = this.#recv(MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT, op, true);
      if (size === -105) {
        overrun = true; // replies were dropped: drain the rest (else later ones drop too)
        continue;
      }
      if (size < 0) {
        // EAGAIN: nothing more queued
        if (!overrun) return out;
        throw new NetlinkError(
          op,
          object,
          105,
          "replies lost (receive buffer overrun): whether the batch was applied is unknown",
        );
      }
      if (size > rxBuf.byteLength) this.#grow(size);
      const n = this.#recv(MSG_TRUNC | MSG_DONTWAIT, op, true);
      if (n === -105) {
        overrun = true;
        continue;
      }
      if (n < 0) continue;
      for (const m of splitDatagram(rxBuf, n)) {
        if (m.pid !== this.#port && m.pid !== 0) continue;
        out.push({
          type: m.type,
          flags: m.flags,
          seq: m.seq,
          payload: rxBuf.slice(m.start, m.end),
        });
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
   * ```ts
   * import { NetlinkSocket } from "../mod.ts";
   * declare const sock: NetlinkSocket;
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
    for (const m of splitDatagram(rxBuf, n)) {
      // Control messages (NOOP, ERROR, DONE, OVERRUN: types below 16) carry no event.
      if (m.type >= 16) {
        out.push({ type: m.type, flags: m.flags, payload: rxBuf.slice(m.start, m.end) });
      }
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

  /**
   * The one send-and-receive path of requests, dumps and batches: encodes `parts` into one
   * message, numbered from the next sequence number, sends it, then reads until each part is
   * answered — by its ACK or error, or, for a dump, by `NLMSG_DONE` (or an error). Replies with
   * another sequence number or port id are stale and skipped.
   */
  #roundTrip(
    parts: readonly RequestPart[],
    ctxs: readonly RequestContext[],
    dump: boolean,
    lastAckOnly = false,
  ): { data: RawMessage[]; errors: (NetlinkError | undefined)[]; interrupted: boolean } {
    const first = (this.#seq + 1) >>> 0;
    this.#seq = (this.#seq + parts.length) >>> 0;
    const msg = encodeRequests(parts, first);
    const op = messageTypeName(parts[0].type);
    const object = parts.length > 1 ? "(batch)" : ctxs[0]?.object ?? "";
    this.#send(msg, op, object);
    const errors = new Array<NetlinkError | undefined>(parts.length).fill(undefined);
    const data: RawMessage[] = [];
    let interrupted = false;
    // With lastAckOnly, the requests before the last are answered only when they fail.
    let pending = lastAckOnly ? 1 : parts.length;
    const last = parts.length - 1;
    const lookup = parts[0].type % 4 === 2; // RTM_GET*: its answer may be large
    const answered = dump ? [] : new Array<boolean>(parts.length).fill(false);
    let overrun = false;
    while (pending > 0) {
      // A request is answered inside `sendmsg`: its ACK is queued by then, or was dropped.
      // So requests never wait (a dump's later parts are made inside `recvfrom`, so dumps do).
      const n = this.#receive(op, object, dump || lookup, !dump);
      if (n === -105) {
        overrun = true; // the kernel dropped messages: read on, then report what is missing
        continue;
      }
      if (n === -11) {
        for (let i = 0; i < parts.length; i++) {
          if (answered[i]) continue;
          errors[i] = new NetlinkError(
            messageTypeName(parts[i].type),
            ctxs[i]?.object ?? "",
            105,
            overrun
              ? "no ACK: the kernel dropped it (receive buffer overrun); the request may have been applied"
              : "no ACK queued after the request was sent",
          );
        }
        break;
      }
      const buf = rxBuf;
      for (const m of splitDatagram(buf, n)) {
        const i = (m.seq - first) >>> 0;
        // Replies to us carry our sequence numbers and our port id; anything else is stale.
        if (i >= parts.length || (m.pid !== this.#port && m.pid !== 0)) continue;
        if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
        if (m.type === NLMSG_ERROR || m.type === NLMSG_DONE) {
          const ack = parseAck(m.type, m.flags, buf.subarray(m.start, m.end));
          if (ack.error < 0) {
            errors[i] = new NetlinkError(
              messageTypeName(parts[i].type),
              ctxs[i]?.object ?? "",
              -ack.error,
              ack.extack,
              ack.extackOffset,
            );
          }
          // A dump ends with NLMSG_DONE or an error; a request with its ACK or error.
          if (!dump && !answered[i]) {
            answered[i] = true;
            if (!lastAckOnly || i === last) pending--;
          } else if (dump && (m.type === NLMSG_DONE || ack.error < 0)) pending--;
        } else if (m.type !== NLMSG_NOOP && m.type !== NLMSG_OVERRUN) {
          data.push({ type: m.type, flags: m.flags, payload: buf.slice(m.start, m.end) });
        }
      }
    }
    if (lastAckOnly && overrun && answered[last]) {
      // The kernel dropped messages: an earlier request's error may be among them.
      for (let i = 0; i < last; i++) {
        if (answered[i]) continue;
        errors[i] = new NetlinkError(
          messageTypeName(parts[i].type),
          ctxs[i]?.object ?? "",
          105,
          "no answer: the kernel dropped messages (receive buffer overrun); the request may have been applied",
        );
      }
    }
    return { data, errors, interrupted };
  }

  /**
   * Makes room for one `sendmsg` of `bytes` (an atomic nf_tables batch cannot be split): the
   * kernel refuses a send larger than `SO_SNDBUF` minus 32 with `EMSGSIZE`. Raises it as `nft`
   * does: `SO_SNDBUFFORCE` (root) or else `SO_SNDBUF` (capped by `net.core.wmem_max`).
   */
  #fitSend(bytes: number, op: string): void {
    if (bytes <= 200 * 1024) return; // below every default SO_SNDBUF
    const want = bytes + 4096;
    if (getsockoptInt(this.#fd, SOL_SOCKET, SO_SNDBUF, op) - 32 >= bytes) return;
    try {
      setsockoptInt(this.#fd, SOL_SOCKET, SO_SNDBUFFORCE, want, "SO_SNDBUFFORCE");
    } catch {
      try {
        setsockoptInt(this.#fd, SOL_SOCKET, SO_SNDBUF, want, "SO_SNDBUF");
      } catch { /* the send says EMSGSIZE */ }
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
  #receive(op: string, object: string, peek: boolean, now = false): number {
    if (now && peek) {
      // Lookups: `-11` when nothing is queued, `-105` when the kernel reported dropped messages.
      const size = this.#recv(MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT, op, true);
      if (size < 0) return size;
      if (size > rxBuf.byteLength) this.#grow(size);
    } else if (peek) {
      const size = this.#recv(MSG_PEEK | MSG_TRUNC, op);
      if (size > rxBuf.byteLength) this.#grow(size);
    }
    // Other requests read once, without a peek: their replies (ACKs, an echo) are small, and the
    // buffer holds at least 64 KiB and the request plus 4 KiB (an error ACK echoing it);
    // `MSG_TRUNC` still says if one was larger, and that is an error below, never a silent cut.
    const n = this.#recv(MSG_TRUNC | (now ? MSG_DONTWAIT : 0), op, now);
    if (n < 0) return n;
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

  #recv(flags: number, op: string, overrunOk = false): number {
    for (;;) {
      const n = recv(this.#fd, rxBuf, flags, op);
      if (n >= 0) return n;
      if (n === -4) continue; // EINTR
      if (n === -11 && (flags & MSG_DONTWAIT)) return -11; // nothing queued
      if (n === -105 && overrunOk) return -105; // ENOBUFS: messages were dropped
      throw new SyscallError("recvfrom", op, -n);
    }
  }

  #grow(size: number): void {
    let cap = rxBuf.byteLength;
    while (cap < size) cap *= 2;
    rxBuf = new Uint8Array(cap);
  }
}
