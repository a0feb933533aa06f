/**
 * A handle on nf_tables in one network namespace, over `NETLINK_NETFILTER`: atomic batches and
 * list dumps (tables, chains, rules, sets, set elements, the generation id) decoded with the
 * declarations in `messages.ts`. Never runs `nft`.
 *
 * @example Create a table and read it back
 * ```ts ignore
 * import { Nftables } from "./nftables.ts";
 * using nft = Nftables.open();
 * nft.commit([{ type: NFT_MSG_NEWTABLE, flags: 0, codec: TableMessage,
 *   body: { family: NFPROTO_INET, name: "demo", flags: 0 }, object: "table inet demo" }]);
 * nft.tables(); // [{ family: 1, name: "demo", … }]
 * ```
 *
 * @module
 */
import { decode } from "../netlink/codec.ts";
import { nameMessageTypes } from "../netlink/header.ts";
import { NetlinkSocket } from "../netlink/socket.ts";
import { batchErrors, encodeBatch, type NftOp } from "./batch.ts";
import * as C from "./constants.ts";
import {
  ChainMessage,
  GenMessage,
  RuleMessage,
  SetElemMessage,
  SetMessage,
  TableMessage,
} from "./messages.ts";

/** A table as dumped. */
export interface NftTable {
  /** `NFPROTO_*`. */
  family: number;
  /** Name. */
  name?: string;
  /** `NFT_TABLE_F_*`. */
  flags?: number;
  /** Chains, sets and objects in it. */
  use?: number;
  /** Kernel handle. */
  handle?: bigint;
  /** Port id of the owning socket (`NFT_TABLE_F_OWNER`). */
  owner?: number;
}

/** A chain as dumped. */
export interface NftChain {
  /** `NFPROTO_*`. */
  family: number;
  /** Its table. */
  table?: string;
  /** Name. */
  name?: string;
  /** Kernel handle. */
  handle?: bigint;
  /** Base chains: `filter`, `nat`, `route`. */
  type?: string;
  /** Base chains: `NF_ACCEPT` or `NF_DROP`. */
  policy?: number;
  /** Base chains: where it hooks in. */
  hook?: { hooknum?: number; priority?: number; dev?: string };
  /** Rules and jumps referring to it. */
  use?: number;
}

/** One expression of a dumped rule: its name and decoded data. */
export interface NftExpressionValue {
  /** e.g. `meta`, `cmp`, `lookup`. */
  name?: string;
  /** The expression's attributes (raw bytes for kinds nslink does not declare). */
  data?: unknown;
}

/** A rule as dumped. */
export interface NftRule {
  /** `NFPROTO_*`. */
  family: number;
  /** Its table. */
  table?: string;
  /** Its chain. */
  chain?: string;
  /** Kernel handle (for deleting it). */
  handle?: bigint;
  /** The expressions, in order. */
  expressions?: NftExpressionValue[];
}

/** A set or map as dumped. */
export interface NftSet {
  /** `NFPROTO_*`. */
  family: number;
  /** Its table. */
  table?: string;
  /** Name. */
  name?: string;
  /** `NFT_SET_*` (`NFT_SET_MAP` for maps). */
  flags?: number;
  /** Key type (nft's datatype ids, concatenations 6 bits each). */
  keyType?: number;
  /** Key length in bytes. */
  keyLen?: number;
  /** Map data type. */
  dataType?: number;
  /** Map data length. */
  dataLen?: number;
  /** Kernel handle. */
  handle?: bigint;
}

/** A set element as dumped. */
export interface NftSetElement {
  /** The key. */
  key?: { value?: Uint8Array };
  /** A map's data (a value or a verdict). */
  data?: { value?: Uint8Array; verdict?: { code?: number; chain?: string } };
  /** `NFT_SET_ELEM_*`. */
  flags?: number;
}

/** Options of {@linkcode Nftables.open}. */
export interface NftablesOptions {
  /** Work in the namespace of this fd (e.g. a `NetNs`'s fd). Default: the current one. */
  netnsFd?: number;
}

const sub = (t: number) => (C.NFNL_SUBSYS_NFTABLES << 8) | t;
nameMessageTypes(
  Object.fromEntries(
    Object.entries(C).filter(([k]) => k.startsWith("NFT_MSG_")).map(([k, v]) => [sub(v), k]),
  ),
);

/**
 * nf_tables over netlink. Every change is one {@linkcode Nftables.commit} batch: applied whole
 * or not at all.
 */
export class Nftables implements Disposable {
  #sock: NetlinkSocket;

  private constructor(sock: NetlinkSocket) {
    this.#sock = sock;
  }

  /**
   * Opens a `NETLINK_NETFILTER` socket.
   *
   * @example
   * ```ts ignore
   * using nft = Nftables.open();
   * ```
   * @param options The namespace.
   * @returns The handle.
   */
  static open(options: NftablesOptions = {}): Nftables {
    return new Nftables(
      NetlinkSocket.open({
        protocol: C.NETLINK_NETFILTER,
        ...(options.netnsFd !== undefined ? { netnsFd: options.netnsFd } : {}),
      }),
    );
  }

  /** The underlying socket (for ctnetlink requests on the same socket). */
  get socket(): NetlinkSocket {
    return this.#sock;
  }

  /**
   * Applies messages as one atomic batch. Throws the first {@linkcode NftError} (all of them in
   * its `errors`) when the kernel refused any: then nothing was applied.
   *
   * @example
   * ```ts ignore
   * nft.commit(ops);
   * ```
   * @param ops The messages, in order.
   * @param genid Apply only if the ruleset is still at this generation (else `ERESTART`).
   */
  commit(ops: readonly NftOp[], genid?: number): void {
    if (ops.length === 0) return;
    const first = this.#sock.reserveSeq(ops.length + 2);
    const { bytes, parts } = encodeBatch(ops, first, genid);
    const replies = this.#sock.transact(bytes, "NFT batch", ops[0].object);
    const errors = batchErrors(ops, parts, first, replies);
    if (errors.length) throw errors[0];
  }

  /**
   * The ruleset's generation id (`NFT_MSG_GETGEN`); it changes with every committed batch.
   *
   * @example
   * ```ts ignore
   * const gen = nft.generation();
   * ```
   * @returns The id.
   */
  generation(): number {
    const replies = this.#sock.request(sub(C.NFT_MSG_GETGEN), 0, GenMessage, {}, {
      object: "generation",
    });
    for (const r of replies) {
      if (r.type === sub(C.NFT_MSG_NEWGEN)) return decode(GenMessage, r.payload).id ?? 0;
    }
    throw new Error("NFT_MSG_GETGEN: no NFT_MSG_NEWGEN reply");
  }

  /**
   * Lists tables.
   *
   * @example
   * ```ts ignore
   * nft.tables(C.NFPROTO_INET).map((t) => t.name);
   * ```
   * @param family `NFPROTO_*`; default every family.
   * @returns The tables.
   */
  tables(family = C.NFPROTO_UNSPEC): NftTable[] {
    return this.#sock.dump(sub(C.NFT_MSG_GETTABLE), TableMessage, { family }, {
      object: "tables",
    }).map((m) => decode(TableMessage, m.payload));
  }

  /**
   * Lists chains, of one table or of all.
   *
   * @param family `NFPROTO_*`; default every family.
   * @param table Only this table's.
   * @returns The chains.
   */
  chains(family = C.NFPROTO_UNSPEC, table?: string): NftChain[] {
    return this.#sock.dump(sub(C.NFT_MSG_GETCHAIN), ChainMessage, { family }, {
      object: "chains",
    }).map((m) => decode(ChainMessage, m.payload)).filter((c) =>
      table === undefined || c.table === table
    );
  }

  /**
   * Lists a table's rules (optionally one chain's), with their handles and expressions.
   *
   * @param family `NFPROTO_*`.
   * @param table The table.
   * @param chain Only this chain's.
   * @returns The rules, in order.
   */
  rules(family: number, table: string, chain?: string): NftRule[] {
    const body = chain === undefined ? { family, table } : { family, table, chain };
    return this.#sock.dump(sub(C.NFT_MSG_GETRULE), RuleMessage, body, {
      object: `rules of table ${table}`,
    }).map((m) => decode(RuleMessage, m.payload) as NftRule);
  }

  /**
   * Lists a table's sets and maps.
   *
   * @param family `NFPROTO_*`.
   * @param table The table.
   * @returns The sets.
   */
  sets(family: number, table: string): NftSet[] {
    return this.#sock.dump(sub(C.NFT_MSG_GETSET), SetMessage, { family, table }, {
      object: `sets of table ${table}`,
    }).map((m) => decode(SetMessage, m.payload));
  }

  /**
   * Lists a set's elements.
   *
   * @param family `NFPROTO_*`.
   * @param table The table.
   * @param set The set.
   * @returns The elements (keys and data as bytes).
   */
  elements(family: number, table: string, set: string): NftSetElement[] {
    return this.#sock.dump(sub(C.NFT_MSG_GETSETELEM), SetElemMessage, { family, table, set }, {
      object: `set ${table} ${set}`,
    }).flatMap((m) => decode(SetElemMessage, m.payload).elements ?? []);
  }

  /** Closes the socket. */
  close(): void {
    this.#sock.close();
  }

  /** Closes the socket (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}
