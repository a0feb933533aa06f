/**
 * {@linkcode NftMonitor}: nf_tables change events (`NFNLGRP_NFTABLES` over `NETLINK_NETFILTER`)
 * of one namespace, decoded, as an async iterable — what `nft monitor` prints. A firewall reload
 * (`nft flush ruleset`, `firewall-cmd --reload`) shows up as `del` events for every table it
 * removed, followed by a `generation` event that ends the batch.
 *
 * Every committed batch produces the events of its objects, then one `NFT_MSG_NEWGEN` with the
 * new generation id and the committing process. Object events carry only the low 16 bits of that
 * id (the kernel's `nfgenmsg.res_id`); the `generation` event carries all of it.
 *
 * @example React when someone removes a table
 * ```ts ignore
 * import { NftMonitor } from "./monitor.ts";
 * await using events = NftMonitor.open();
 * for await (const e of events) {
 *   if (e.type === "overrun") { resync(); continue; } // events were lost: read the ruleset
 *   if (e.type === "table" && e.action === "del" && e.table === "nslink") repair();
 * }
 * ```
 *
 * @module
 */
import { decode } from "../netlink/codec.ts";
import { NetlinkEventStream, type OverrunEvent } from "../netlink/events.ts";
import { NetlinkSocket, type RawMessage } from "../netlink/socket.ts";
import * as C from "./constants.ts";
import {
  ChainMessage,
  GenMessage,
  RuleMessage,
  SetElemMessage,
  SetMessage,
  TableMessage,
} from "./messages.ts";

/** What changed: an object was created (`new`) or removed (`del`). */
export type NftAction = "new" | "del";

/** The kinds of nf_tables objects an event is about. */
export type NftObjectKind = "table" | "chain" | "rule" | "set" | "element";

/** One created or removed nf_tables object. */
export interface NftObjectEvent {
  /** What kind of object. */
  readonly type: NftObjectKind;
  /** Created or removed. */
  readonly action: NftAction;
  /** `NFPROTO_*` of its table (`NFPROTO_INET` = 1, `NFPROTO_IPV4` = 2, …). */
  readonly family: number;
  /** Its table (the table's own name for `table` events). */
  readonly table: string;
  /** Chain or set name (`chain`, `set`, `element`: the set; `rule`: its chain). */
  readonly name?: string;
  /** `rule`: its handle (0 when the kernel left it out). */
  readonly handle?: bigint;
  /** `element`: how many elements the message carried. */
  readonly count?: number;
  /** The low 16 bits of the generation id the change belongs to (`nfgenmsg.res_id`). */
  readonly generation16: number;
}

/** The end of one committed batch: the ruleset's new generation and who committed it. */
export interface NftGenerationEvent {
  /** Always `generation`. */
  readonly type: "generation";
  /** The generation id (`NFTA_GEN_ID`). */
  readonly generation: number;
  /** The committing process (`NFTA_GEN_PROC_PID`), when the kernel said. */
  readonly pid?: number;
  /** Its name (`NFTA_GEN_PROC_NAME`, e.g. `nft`), when the kernel said. */
  readonly process?: string;
}

/**
 * One decoded nf_tables event. `overrun` means the kernel dropped events because the consumer
 * fell behind (`ENOBUFS`): what the consumer believes about the ruleset is stale and must be read
 * again.
 */
export type NftEvent = NftObjectEvent | NftGenerationEvent | OverrunEvent;

/** Options of {@linkcode NftMonitor.open}. */
export interface NftMonitorOptions {
  /** Follow the namespace of this fd (e.g. a `NetNs`'s) instead of the calling thread's. */
  netnsFd?: number;
  /** Names that namespace in errors. */
  netnsName?: string;
  /**
   * The socket's receive buffer (`SO_RCVBUF`) in bytes; the kernel's default otherwise. Events
   * that do not fit while the consumer is busy are dropped and reported as one `overrun` event.
   */
  receiveBuffer?: number;
  /**
   * Under Bun, the longest sleep between two reads of a quiet socket, ms (default 8; see
   * `EventStreamOptions.idleWaitMs` in netlink/events.ts). Ignored under Deno.
   */
  idleWaitMs?: number;
}

const KINDS: Record<number, [NftObjectKind, NftAction]> = {
  [C.NFT_MSG_NEWTABLE]: ["table", "new"],
  [C.NFT_MSG_DELTABLE]: ["table", "del"],
  [C.NFT_MSG_NEWCHAIN]: ["chain", "new"],
  [C.NFT_MSG_DELCHAIN]: ["chain", "del"],
  [C.NFT_MSG_NEWRULE]: ["rule", "new"],
  [C.NFT_MSG_DELRULE]: ["rule", "del"],
  [C.NFT_MSG_NEWSET]: ["set", "new"],
  [C.NFT_MSG_DELSET]: ["set", "del"],
  [C.NFT_MSG_NEWSETELEM]: ["element", "new"],
  [C.NFT_MSG_DELSETELEM]: ["element", "del"],
};

/**
 * Decodes one `NETLINK_NETFILTER` multicast message into an event; `undefined` for messages of
 * other subsystems and nf_tables types it does not follow (objects, flowtables).
 *
 * @example Decode a captured `NFT_MSG_DELTABLE`
 * ```ts ignore
 * toNftEvent({ type: 0x0a02, flags: 0, payload });
 * // { type: "table", action: "del", family: 1, table: "demo", generation16: 7 }
 * ```
 * @param m The raw message (`nlmsg_type` = subsystem << 8 | message).
 * @returns The event.
 */
export function toNftEvent(m: RawMessage): NftObjectEvent | NftGenerationEvent | undefined {
  if (m.type >> 8 !== C.NFNL_SUBSYS_NFTABLES) return undefined;
  const t = m.type & 0xff;
  if (t === C.NFT_MSG_NEWGEN) {
    const g = decode(GenMessage, m.payload);
    const e: { -readonly [K in keyof NftGenerationEvent]: NftGenerationEvent[K] } = {
      type: "generation",
      generation: g.id ?? 0,
    };
    if (g.procPid !== undefined) e.pid = g.procPid;
    if (g.procName !== undefined) e.process = g.procName;
    return e;
  }
  const kind = KINDS[t];
  if (kind === undefined) return undefined;
  const [type, action] = kind;
  const base = { type, action };
  // Every event but the table's own names its table, maybe its object, and the 16-bit generation.
  const within = (
    v: { family: number; table?: string; resId: number },
    name: string | undefined,
  ) => ({
    family: v.family,
    table: v.table ?? "",
    ...(name !== undefined ? { name } : {}),
    generation16: v.resId,
  });
  switch (type) {
    case "table": {
      const v = decode(TableMessage, m.payload);
      return { ...base, family: v.family, table: v.name ?? "", generation16: v.resId };
    }
    case "chain": {
      const v = decode(ChainMessage, m.payload);
      return { ...base, ...within(v, v.name) };
    }
    case "rule": {
      const v = decode(RuleMessage, m.payload);
      return { ...base, ...within(v, v.chain), handle: v.handle ?? 0n };
    }
    case "set": {
      const v = decode(SetMessage, m.payload);
      return { ...base, ...within(v, v.name) };
    }
    case "element": {
      const v = decode(SetElemMessage, m.payload);
      return { ...base, ...within(v, v.set), count: v.elements?.length ?? 0 };
    }
  }
}

/**
 * nf_tables change events of one namespace, as an async iterable, in the order the kernel sent
 * them. The socket joins `NFNLGRP_NFTABLES` when the monitor is opened, so every batch committed
 * after `open` is seen. It ends when the loop `break`s, or on `close()` / `using` /
 * `await using`; waiting never polls on a timer under Deno (see `netlink/events.ts`).
 *
 * Needs `CAP_NET_ADMIN` in the namespace (the kernel refuses the group otherwise: `EPERM`).
 *
 * @example Wait until `nft flush ruleset` removed a table
 * ```ts ignore
 * import { NftMonitor } from "./monitor.ts";
 * await using events = NftMonitor.open();
 * for await (const e of events) {
 *   if (e.type === "table" && e.action === "del" && e.table === "nslink") break;
 * }
 * ```
 */
export class NftMonitor extends NetlinkEventStream<NftObjectEvent | NftGenerationEvent> {
  /**
   * Opens a monitor: a `NETLINK_NETFILTER` socket in the namespace that joined
   * `NFNLGRP_NFTABLES`.
   *
   * @example
   * ```ts ignore
   * await using events = NftMonitor.open({ receiveBuffer: 1 << 20 });
   * ```
   * @param options Namespace, receive buffer.
   * @returns The monitor.
   */
  static open(options: NftMonitorOptions = {}): NftMonitor {
    const rb = options.receiveBuffer;
    if (rb !== undefined && (!Number.isInteger(rb) || rb <= 0 || rb > 0x3fffffff)) {
      throw new RangeError(`Invalid receiveBuffer "${rb}"`);
    }
    const sock = NetlinkSocket.open({
      protocol: C.NETLINK_NETFILTER,
      groups: [C.NFNLGRP_NFTABLES],
      ...(rb !== undefined ? { receiveBuffer: rb } : {}),
      ...(options.netnsFd !== undefined
        ? { netnsFd: options.netnsFd, netnsName: options.netnsName }
        : {}),
    });
    return new NftMonitor(
      sock,
      toNftEvent,
      options.idleWaitMs !== undefined ? { idleWaitMs: options.idleWaitMs } : {},
    );
  }
}
