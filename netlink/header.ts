/**
 * The netlink message header (`struct nlmsghdr`) and the error/ACK message (`struct nlmsgerr`
 * plus its extended-ACK attributes), declared once for both directions, and the pure functions
 * over them that the socket uses: {@linkcode encodeRequest} / {@linkcode encodeRequests} to build
 * requests, {@linkcode splitDatagram} to find the messages in a received datagram and
 * {@linkcode parseAck} to read an ACK or error (errno, echoed request, extended ACK).
 *
 * @module
 */
import {
  align4,
  attr,
  type AttrCodec,
  attrs,
  cstring,
  decode,
  i32,
  struct,
  u16,
  u32,
} from "./codec.ts";
import { NetlinkDecodeError } from "./errors.ts";
import {
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_ERROR,
  NLMSGERR_ATTR_MISS_NEST,
  NLMSGERR_ATTR_MISS_TYPE,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETNEIGH,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTM_SETLINK,
} from "./constants.ts";

/** `struct nlmsghdr`: 16 bytes in front of every netlink message. */
export const nlmsghdr = struct({ len: u32, type: u16, flags: u16, seq: u32, pid: u32 });

/** `struct nlmsgerr`'s first field; the original request's header follows it. */
export const nlmsgerrCode = struct({ error: i32 });

/** The extended-ACK attributes after an error (`NETLINK_EXT_ACK`). */
export const ExtAck = attrs({
  msg: attr(NLMSGERR_ATTR_MSG, cstring),
  offset: attr(NLMSGERR_ATTR_OFFS, u32),
  missingType: attr(NLMSGERR_ATTR_MISS_TYPE, u32),
  missingNest: attr(NLMSGERR_ATTR_MISS_NEST, u32),
});

/** A decoded `nlmsghdr`. */
export type NlMsgHdr = ReturnType<typeof nlmsghdr.read>;

/** The size of `struct nlmsghdr`. */
export const NLMSG_HDRLEN = 16;

/** One message of a datagram: its header and where its payload lies in the buffer. */
export interface MessageSpan extends NlMsgHdr {
  /** Offset of the payload (just after the header). */
  readonly start: number;
  /** Offset just past the payload (`start - 16 + len`). */
  readonly end: number;
}

/**
 * Finds the messages in a received datagram (the first `n` bytes of `buf`), each header read
 * through {@linkcode nlmsghdr}. A length that is too short or runs past the datagram stops the
 * walk there (the kernel never sends one; a truncated tail is dropped, never misread).
 *
 * @example
 * ```ts
 * import { splitDatagram } from "./header.ts";
 * const ack = new Uint8Array(36);
 * new DataView(ack.buffer).setUint32(0, 36, true); // nlmsg_len
 * new DataView(ack.buffer).setUint16(4, 2, true); // NLMSG_ERROR
 * splitDatagram(ack, 36).map((m) => [m.type, m.start, m.end]); // [[2, 16, 36]]
 * ```
 * @param buf The receive buffer.
 * @param n How many bytes of it the datagram filled.
 * @returns The messages, in order.
 */
export function splitDatagram(buf: Uint8Array, n: number): MessageSpan[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: MessageSpan[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= n) {
    const h = nlmsghdr.read(dv, off) as NlMsgHdr & { start: number; end: number };
    if (h.len < NLMSG_HDRLEN || off + h.len > n) break;
    h.start = off + NLMSG_HDRLEN;
    h.end = off + h.len;
    out.push(h);
    off += align4(h.len);
  }
  return out;
}

/** An ACK or error reply taken apart (see {@linkcode parseAck}). */
export interface Ack {
  /** `0` for an ACK, else the negative errno. */
  readonly error: number;
  /**
   * The echoed request: its header only when the kernel capped it (`NLM_F_CAPPED`), else the
   * whole request; empty for `NLMSG_DONE`.
   */
  readonly echo: Uint8Array;
  /** The kernel's text (`NLMSGERR_ATTR_MSG`). */
  readonly extack?: string;
  /** The offset in the request of the attribute it blamed (`NLMSGERR_ATTR_OFFS`). */
  readonly extackOffset?: number;
  /** A missing attribute's type (`NLMSGERR_ATTR_MISS_TYPE`). */
  readonly missingType?: number;
  /** The nest it was missing from (`NLMSGERR_ATTR_MISS_NEST`). */
  readonly missingNest?: number;
}

/**
 * Reads an `NLMSG_ERROR` (an ACK when the code is 0) or a dump's `NLMSG_DONE`: the code, the
 * echoed request and, with `NLM_F_ACK_TLVS`, the extended-ACK attributes after it. A malformed
 * extended ACK is left out (the errno is what matters); a payload too short for the code is a
 * {@linkcode NetlinkDecodeError}.
 *
 * @example
 * ```ts
 * import { parseAck } from "./header.ts";
 * const payload = new Uint8Array(20); // error 0, then the echoed (capped) request header
 * parseAck(2, 0x100, payload).error; // 0
 * ```
 * @param type `NLMSG_ERROR` or `NLMSG_DONE`.
 * @param flags The reply's `nlmsg_flags`.
 * @param payload The bytes after its `nlmsghdr`.
 * @returns The parts.
 */
export function parseAck(type: number, flags: number, payload: Uint8Array): Ack {
  if (payload.byteLength < 4) {
    // An NLMSG_DONE may come without a code (an old kernel's empty dump end).
    if (payload.byteLength === 0 && type !== NLMSG_ERROR) return { error: 0, echo: payload };
    throw new NetlinkDecodeError(
      `${
        type === NLMSG_ERROR ? "NLMSG_ERROR" : "NLMSG_DONE"
      } of ${payload.byteLength} bytes, need 4`,
      0,
    );
  }
  const { error } = decode(nlmsgerrCode, payload.subarray(0, 4));
  let tlv = 4;
  if (type === NLMSG_ERROR && payload.byteLength >= 4 + NLMSG_HDRLEN) {
    const echoed = decode(nlmsghdr, payload.subarray(4, 4 + NLMSG_HDRLEN));
    tlv += flags & NLM_F_CAPPED ? NLMSG_HDRLEN : align4(echoed.len);
  }
  const echo = payload.subarray(4, Math.min(tlv, payload.byteLength));
  if (!(flags & NLM_F_ACK_TLVS) || tlv >= payload.byteLength) return { error, echo };
  try {
    const a = decode(ExtAck, payload.subarray(tlv));
    const out: { -readonly [K in keyof Ack]: Ack[K] } = { error, echo };
    if (a.msg !== undefined) out.extack = a.msg;
    if (a.offset !== undefined) out.extackOffset = a.offset;
    if (a.missingType !== undefined) out.missingType = a.missingType;
    if (a.missingNest !== undefined) out.missingNest = a.missingNest;
    return out;
  } catch (e) {
    if (!(e instanceof NetlinkDecodeError)) throw e;
    return { error, echo };
  }
}

/** One request to encode: the message type, the complete flags, and the body. */
export interface RequestPart<I = unknown> {
  /** `nlmsg_type`. */
  readonly type: number;
  /** `nlmsg_flags`, complete (`NLM_F_REQUEST` included). */
  readonly flags: number;
  /** The body's codec. */
  readonly codec: AttrCodec<unknown, I>;
  /** The body. */
  readonly body: I;
}

/**
 * Encodes several requests back to back into one buffer (one `sendmsg`), numbered `seq`,
 * `seq + 1`, …, each with its {@linkcode nlmsghdr} (pid 0: the kernel fills in the sender).
 *
 * @example
 * ```ts
 * import { encodeRequests } from "./header.ts";
 * import { u32 } from "./codec.ts";
 * const bytes = encodeRequests([
 *   { type: 16, flags: 5, codec: u32, body: 1 },
 *   { type: 16, flags: 5, codec: u32, body: 2 },
 * ], 7);
 * bytes.length; // 40: two messages of 16 + 4 bytes
 * ```
 * @param parts The requests, in order.
 * @param seq The first one's sequence number.
 * @returns The bytes.
 */
export function encodeRequests(
  parts: readonly RequestPart[],
  seq: number,
): Uint8Array<ArrayBuffer> {
  const sizes = new Array<number>(parts.length);
  let total = 0;
  for (let i = 0; i < parts.length; i++) {
    sizes[i] = parts[i].codec.sizeOf(parts[i].body);
    total += align4(NLMSG_HDRLEN + sizes[i]);
  }
  const buf = new Uint8Array(total);
  const dv = new DataView(buf.buffer);
  let off = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    const written = p.codec.encodeTo(buf, dv, off + NLMSG_HDRLEN, p.body);
    if (written !== sizes[i]) throw new Error(`Codec wrote ${written} bytes, declared ${sizes[i]}`);
    const len = align4(NLMSG_HDRLEN + sizes[i]);
    nlmsghdr.write(dv, off, { len, type: p.type, flags: p.flags, seq: (seq + i) >>> 0, pid: 0 });
    off += len;
  }
  return buf;
}

/**
 * Encodes one whole netlink request: {@linkcode nlmsghdr} (length, type, flags, seq, pid 0)
 * and the body.
 *
 * @example
 * ```ts
 * import { encodeRequest } from "./header.ts";
 * import { u32 } from "./codec.ts";
 * encodeRequest(17, 5, 1, u32, 3).length; // 20
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
  return encodeRequests([{ type, flags, codec, body } as RequestPart], seq);
}

const NAMES: Record<number, string> = {
  [RTM_NEWLINK]: "RTM_NEWLINK",
  [RTM_DELLINK]: "RTM_DELLINK",
  [RTM_GETLINK]: "RTM_GETLINK",
  [RTM_SETLINK]: "RTM_SETLINK",
  [RTM_NEWADDR]: "RTM_NEWADDR",
  [RTM_DELADDR]: "RTM_DELADDR",
  [RTM_GETADDR]: "RTM_GETADDR",
  [RTM_NEWROUTE]: "RTM_NEWROUTE",
  [RTM_DELROUTE]: "RTM_DELROUTE",
  [RTM_GETROUTE]: "RTM_GETROUTE",
  [RTM_NEWNEIGH]: "RTM_NEWNEIGH",
  [RTM_DELNEIGH]: "RTM_DELNEIGH",
  [RTM_GETNEIGH]: "RTM_GETNEIGH",
};

/**
 * The header name of a message type, for error messages.
 *
 * @example
 * ```ts
 * import { messageTypeName } from "./header.ts";
 * messageTypeName(16); // "RTM_NEWLINK"
 * ```
 * @param type `nlmsg_type`.
 * @returns e.g. `RTM_NEWLINK`, or `nlmsg_type 99` when unknown.
 */
export function messageTypeName(type: number): string {
  return NAMES[type] ?? `nlmsg_type ${type}`;
}

/**
 * Adds names for message types of other netlink families (their modules call it once), so that
 * errors say `IPCTNL_MSG_CT_DELETE` rather than `nlmsg_type 258`.
 *
 * @example
 * ```ts
 * import { messageTypeName, nameMessageTypes } from "./header.ts";
 * nameMessageTypes({ 258: "IPCTNL_MSG_CT_DELETE" });
 * messageTypeName(258); // "IPCTNL_MSG_CT_DELETE"
 * ```
 * @param names Names by `nlmsg_type`.
 */
export function nameMessageTypes(names: Readonly<Record<number, string>>): void {
  Object.assign(NAMES, names);
}
