/**
 * nf_tables batches: the messages of one atomic change between `NFNL_MSG_BATCH_BEGIN` and
 * `NFNL_MSG_BATCH_END`, encoded into one buffer for one `sendmsg`, and the kernel's error
 * replies turned into {@linkcode NftError}s that name the message, the object, the errno, the
 * kernel's extended-ACK text and the attribute its offset points at.
 *
 * @module
 */
import {
  type AnyCodec,
  type AnyDef,
  type AttrCodec,
  decode,
  NLA_TYPE_MASK,
} from "../netlink/codec.ts";
import { NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_REQUEST, NLMSG_ERROR } from "../netlink/constants.ts";
import { NetlinkError } from "../netlink/errors.ts";
import { ExtAck } from "../netlink/header.ts";
import { encodeRequest, type SeqMessage } from "../netlink/socket.ts";
import * as C from "./constants.ts";
import { BatchMessage } from "./messages.ts";

/** One message of a batch. */
export interface NftOp<I = unknown> {
  /** `NFT_MSG_*`, without the subsystem (e.g. `NFT_MSG_NEWSETELEM`). */
  type: number;
  /** Flags besides `NLM_F_REQUEST` (e.g. `NLM_F_CREATE`). */
  flags: number;
  /** The body's codec (from `messages.ts`). */
  codec: AttrCodec<unknown, I>;
  /** The body: `nfgenmsg` fields (`family`) and attributes. */
  body: I;
  /** Names the object in errors, e.g. `map inet nslink pub4`. */
  object: string;
}

const NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries(C)) {
  if (k.startsWith("NFT_MSG_")) NAMES[v] = k;
}

/**
 * The name of an `NFT_MSG_*` type.
 *
 * @example
 * ```ts
 * import { nftMessageName } from "./batch.ts";
 * nftMessageName(12); // "NFT_MSG_NEWSETELEM"
 * ```
 * @param type The type, without the subsystem.
 * @returns Its name.
 */
export function nftMessageName(type: number): string {
  return NAMES[type & 0xff] ?? `NFT_MSG ${type & 0xff}`;
}

/**
 * Encodes a batch: BEGIN (optionally with the generation id the change was computed from),
 * the messages with sequence numbers `firstSeq + 1`…, END. Each message's bytes are returned
 * too, to explain error offsets.
 *
 * @example
 * ```ts ignore
 * const { bytes } = encodeBatch([{ type: NFT_MSG_DELTABLE, flags: 0, codec: TableMessage,
 *   body: { family: 1, name: "nslink" }, object: "table inet nslink" }], 0);
 * ```
 * @param ops The messages.
 * @param firstSeq BEGIN's sequence number.
 * @param genid Refuse the batch (ERESTART) unless the ruleset is still at this generation.
 * @returns The whole buffer, and each message's bytes.
 */
export function encodeBatch(
  ops: readonly NftOp[],
  firstSeq: number,
  genid?: number,
): { bytes: Uint8Array<ArrayBuffer>; parts: Uint8Array[] } {
  const sub = C.NFNL_SUBSYS_NFTABLES;
  const begin = encodeRequest(
    C.NFNL_MSG_BATCH_BEGIN,
    NLM_F_REQUEST,
    firstSeq,
    BatchMessage,
    genid === undefined ? { resId: sub } : { resId: sub, genid },
  );
  const parts = ops.map((op, i) =>
    encodeRequest(
      (sub << 8) | op.type,
      NLM_F_REQUEST | op.flags,
      (firstSeq + 1 + i) >>> 0,
      op.codec,
      op.body,
    )
  );
  const end = encodeRequest(
    C.NFNL_MSG_BATCH_END,
    NLM_F_REQUEST,
    (firstSeq + 1 + ops.length) >>> 0,
    BatchMessage,
    { resId: sub },
  );
  const all = [begin, ...parts, end];
  const bytes = new Uint8Array(all.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of all) {
    bytes.set(p, at);
    at += p.byteLength;
  }
  return { bytes, parts };
}

/**
 * The kernel refused an nf_tables batch: nothing of it was applied. `message` names the
 * failing message (`NFT_MSG_NEWSETELEM`), its object, the errno, the kernel's extended-ACK text
 * and the attribute at the offset the kernel pointed to; `errors` holds every failing message
 * when there were several.
 *
 * @example
 * ```ts ignore
 * try { fw.publish(...); } catch (e) {
 *   if (e instanceof NftError) console.log(e.op, e.object, e.code, e.attribute);
 * }
 * ```
 */
export class NftError extends NetlinkError {
  /** The attribute path the extended ACK's offset points at, e.g. `elements[0].key`. */
  readonly attribute?: string;
  /** Every failure of the batch, in order (this error first). */
  errors: NftError[] = [];

  /**
   * Makes the error.
   *
   * @param op The message, e.g. `NFT_MSG_NEWSETELEM`.
   * @param object The object, e.g. `map inet nslink pub4`.
   * @param errno The positive errno.
   * @param extack The kernel's text.
   * @param extackOffset The offset the kernel blamed.
   * @param attribute The attribute at that offset.
   */
  constructor(
    op: string,
    object: string,
    errno: number,
    extack?: string,
    extackOffset?: number,
    attribute?: string,
  ) {
    const where = extackOffset === undefined
      ? ""
      : ` (at offset ${extackOffset}${attribute ? `: ${attribute}` : ""})`;
    super(
      op,
      object,
      errno,
      extack ? extack + where : where ? where.trim() : undefined,
      extackOffset,
    );
    this.name = "NftError";
    if (attribute !== undefined) this.attribute = attribute;
  }
}

/**
 * Names the attribute at a byte offset of an encoded message, by walking its declaration:
 * `elements[0].key`. Offsets count from the start of `nlmsghdr`, as extended ACKs do.
 *
 * @example
 * ```ts ignore
 * attributeAt(SetElemMessage, bytes, 20); // "table"
 * ```
 * @param codec The body's codec (a message declaration).
 * @param msg The message, with its `nlmsghdr`.
 * @param offset The offset.
 * @returns The path, or `undefined` when the offset is outside any declared attribute.
 */
export function attributeAt(codec: AnyCodec, msg: Uint8Array, offset: number): string | undefined {
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const m = codec as { header?: { size: number }; attrs?: { defs: Record<string, AnyDef> } };
  if (!m.header || !m.attrs) return undefined;
  const path: string[] = [];
  walk(dv, 16 + m.header.size, msg.byteLength, m.attrs.defs, offset, path);
  return path.length ? path.join("").replace(/^\./, "") : undefined;
}

function walk(
  dv: DataView,
  off: number,
  end: number,
  defs: Record<string, AnyDef>,
  target: number,
  path: string[],
): void {
  while (off + 4 <= end) {
    const len = dv.getUint16(off, true);
    if (len < 4 || off + len > end) return;
    const type = dv.getUint16(off + 2, true) & NLA_TYPE_MASK;
    if (target >= off && target < off + len) {
      const hit = Object.entries(defs).find(([, d]) => d.id === type);
      if (!hit) return;
      path.push(`.${hit[0]}`);
      if (target === off) return;
      descend(dv, off + 4, off + len, hit[1].codec, target, path);
      return;
    }
    off += (len + 3) & ~3;
  }
}

function descend(
  dv: DataView,
  off: number,
  end: number,
  codec: unknown,
  target: number,
  path: string[],
): void {
  const c = codec as {
    defs?: Record<string, AnyDef>;
    listOf?: { id: number; codec: unknown };
  };
  if (c.defs) return walk(dv, off, end, c.defs, target, path);
  if (c.listOf) {
    let i = 0;
    while (off + 4 <= end) {
      const len = dv.getUint16(off, true);
      if (len < 4 || off + len > end) return;
      if (target >= off && target < off + len) {
        path.push(`[${i}]`);
        if (target > off) descend(dv, off + 4, off + len, c.listOf.codec, target, path);
        return;
      }
      i++;
      off += (len + 3) & ~3;
    }
  }
}

/**
 * Turns a batch's replies into errors: one {@linkcode NftError} per `NLMSG_ERROR` with a
 * negative code, matched to its message by sequence number (BEGIN's own errors, such as a
 * stale generation id, are reported as `NFNL_MSG_BATCH_BEGIN`).
 *
 * @example
 * ```ts ignore
 * const errors = batchErrors(ops, parts, first, sock.transact(bytes, "NFT batch"));
 * ```
 * @param ops The batch's messages.
 * @param parts Their encoded bytes (from {@linkcode encodeBatch}).
 * @param firstSeq BEGIN's sequence number.
 * @param replies What the kernel answered.
 * @returns The errors, in order; empty when the batch was applied.
 */
export function batchErrors(
  ops: readonly NftOp[],
  parts: readonly Uint8Array[],
  firstSeq: number,
  replies: readonly SeqMessage[],
): NftError[] {
  const out: NftError[] = [];
  for (const r of replies) {
    if (r.type !== NLMSG_ERROR || r.payload.byteLength < 4) continue;
    const dv = new DataView(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength);
    const code = dv.getInt32(0, true);
    if (code >= 0) continue;
    let text: string | undefined;
    let offset: number | undefined;
    if (r.flags & NLM_F_ACK_TLVS) {
      let tlv = 4;
      if (r.flags & NLM_F_CAPPED) tlv += 16;
      else if (r.payload.byteLength >= 8) tlv += (dv.getUint32(4, true) + 3) & ~3;
      if (tlv < r.payload.byteLength) {
        const ack = decode(ExtAck, r.payload.subarray(tlv));
        text = ack.msg;
        offset = ack.offset;
      }
    }
    const i = ((r.seq - firstSeq) >>> 0) - 1;
    if (i >= 0 && i < ops.length) {
      const op = ops[i];
      const attribute = offset === undefined ? undefined : attributeAt(op.codec, parts[i], offset);
      out.push(new NftError(nftMessageName(op.type), op.object, -code, text, offset, attribute));
    } else {
      const name = i === -1 ? "NFNL_MSG_BATCH_BEGIN" : "NFNL_MSG_BATCH_END";
      out.push(new NftError(name, "(batch)", -code, text, offset));
    }
  }
  for (const e of out) e.errors = out;
  return out;
}
