/**
 * nf_tables and ctnetlink messages, declared once for encoding and decoding: `nfgenmsg`, batch
 * begin/end, tables, chains, rules and their expressions, sets and maps, set elements, the
 * generation id, and conntrack entries. Unlike rtnetlink, nf_tables keeps every integer
 * attribute in network byte order (`be32`, `be64`); register numbers, verdict codes and hook
 * priorities included. Nests carry `NLA_F_NESTED`, as `nft` sends them.
 *
 * @example Encode nft's `add table inet nslink` body
 * ```ts
 * import { encode } from "../netlink/codec.ts";
 * import { TableMessage } from "./messages.ts";
 * encode(TableMessage, { family: 1, name: "nslink", flags: 0 });
 * ```
 *
 * @module
 */
import {
  attr,
  attrs,
  be16,
  be32,
  be64,
  bei32,
  byKind,
  bytes,
  cstring,
  list,
  message,
  NLA_F_NESTED,
  struct,
  u8,
} from "../netlink/codec.ts";
import * as C from "./constants.ts";

const N = NLA_F_NESTED;

/** `struct nfgenmsg`: family, version (0), and `res_id` (big-endian; the subsystem in batches). */
export const nfgenmsg = struct({ family: u8, version: u8, resId: be16 });

/** `NFNL_MSG_BATCH_BEGIN` / `_END`: `nfgenmsg` plus, on BEGIN, an optional generation id. */
export const BatchMessage = message(nfgenmsg, attrs({ genid: attr(C.NFNL_BATCH_GENID, be32) }));

/** `NFTA_VERDICT_*`: a verdict code (`NF_ACCEPT`, `NFT_JUMP`, …) and, for jumps, a chain. */
export const Verdict = attrs({
  code: attr(C.NFTA_VERDICT_CODE, bei32),
  chain: attr(C.NFTA_VERDICT_CHAIN, cstring),
});

/** `NFTA_DATA_*`: a value (bytes as the kernel compares them) or a verdict. */
export const Data = attrs({
  value: attr(C.NFTA_DATA_VALUE, bytes),
  verdict: attr(C.NFTA_DATA_VERDICT, Verdict, N),
});

/** `meta` expression: load a packet's metadata (`NFT_META_*`) into a register. */
export const MetaExpr = attrs({
  key: attr(C.NFTA_META_KEY, be32),
  dreg: attr(C.NFTA_META_DREG, be32),
  sreg: attr(C.NFTA_META_SREG, be32),
});
/** `payload` expression: load `len` bytes at `offset` from a header (`base`). */
export const PayloadExpr = attrs({
  dreg: attr(C.NFTA_PAYLOAD_DREG, be32),
  base: attr(C.NFTA_PAYLOAD_BASE, be32),
  offset: attr(C.NFTA_PAYLOAD_OFFSET, be32),
  len: attr(C.NFTA_PAYLOAD_LEN, be32),
});
/** `cmp` expression: compare a register with data (`NFT_CMP_EQ`, `NFT_CMP_NEQ`, …). */
export const CmpExpr = attrs({
  sreg: attr(C.NFTA_CMP_SREG, be32),
  op: attr(C.NFTA_CMP_OP, be32),
  data: attr(C.NFTA_CMP_DATA, Data, N),
});
/** `bitwise` expression: `dreg = (sreg & mask) ^ xor` over `len` bytes. */
export const BitwiseExpr = attrs({
  sreg: attr(C.NFTA_BITWISE_SREG, be32),
  dreg: attr(C.NFTA_BITWISE_DREG, be32),
  len: attr(C.NFTA_BITWISE_LEN, be32),
  mask: attr(C.NFTA_BITWISE_MASK, Data, N),
  xor: attr(C.NFTA_BITWISE_XOR, Data, N),
});
/** `immediate` expression: load data (or a verdict, into register 0). */
export const ImmediateExpr = attrs({
  dreg: attr(C.NFTA_IMMEDIATE_DREG, be32),
  data: attr(C.NFTA_IMMEDIATE_DATA, Data, N),
});
/** `lookup` expression: look a register up in a set; with `dreg`, a map's value is loaded. */
export const LookupExpr = attrs({
  sreg: attr(C.NFTA_LOOKUP_SREG, be32),
  dreg: attr(C.NFTA_LOOKUP_DREG, be32),
  set: attr(C.NFTA_LOOKUP_SET, cstring),
  setId: attr(C.NFTA_LOOKUP_SET_ID, be32),
  flags: attr(C.NFTA_LOOKUP_FLAGS, be32),
});
/** `nat` expression: SNAT or DNAT to the addresses and ports in registers. */
export const NatExpr = attrs({
  type: attr(C.NFTA_NAT_TYPE, be32),
  family: attr(C.NFTA_NAT_FAMILY, be32),
  regAddrMin: attr(C.NFTA_NAT_REG_ADDR_MIN, be32),
  regAddrMax: attr(C.NFTA_NAT_REG_ADDR_MAX, be32),
  regProtoMin: attr(C.NFTA_NAT_REG_PROTO_MIN, be32),
  regProtoMax: attr(C.NFTA_NAT_REG_PROTO_MAX, be32),
  flags: attr(C.NFTA_NAT_FLAGS, be32),
});
/** `masq` expression: SNAT to the outgoing interface's address. */
export const MasqExpr = attrs({
  flags: attr(C.NFTA_MASQ_FLAGS, be32),
  regProtoMin: attr(C.NFTA_MASQ_REG_PROTO_MIN, be32),
  regProtoMax: attr(C.NFTA_MASQ_REG_PROTO_MAX, be32),
});
/** `ct` expression: load conntrack state (`NFT_CT_STATE`, `NFT_CT_STATUS`, …). */
export const CtExpr = attrs({
  key: attr(C.NFTA_CT_KEY, be32),
  dreg: attr(C.NFTA_CT_DREG, be32),
  direction: attr(C.NFTA_CT_DIRECTION, u8),
  sreg: attr(C.NFTA_CT_SREG, be32),
});
/** `fib` expression: a route lookup (`fib daddr type` = result addrtype, flags daddr). */
export const FibExpr = attrs({
  flags: attr(C.NFTA_FIB_FLAGS, be32),
  result: attr(C.NFTA_FIB_RESULT, be32),
  dreg: attr(C.NFTA_FIB_DREG, be32),
});
/** `counter` expression: packets and bytes. */
export const CounterExpr = attrs({
  bytes: attr(C.NFTA_COUNTER_BYTES, be64),
  packets: attr(C.NFTA_COUNTER_PACKETS, be64),
});

/** One expression: its name and its name-specific data (unknown names decode as bytes). */
export const Expression = attrs({
  name: attr(C.NFTA_EXPR_NAME, cstring),
  data: attr(
    C.NFTA_EXPR_DATA,
    byKind("name", {
      meta: MetaExpr,
      payload: PayloadExpr,
      cmp: CmpExpr,
      bitwise: BitwiseExpr,
      immediate: ImmediateExpr,
      lookup: LookupExpr,
      nat: NatExpr,
      masq: MasqExpr,
      ct: CtExpr,
      fib: FibExpr,
      counter: CounterExpr,
    }),
    N,
  ),
});

/** `NFT_MSG_{NEW,GET,DEL}TABLE`. */
export const TableMessage = message(
  nfgenmsg,
  attrs({
    name: attr(C.NFTA_TABLE_NAME, cstring),
    flags: attr(C.NFTA_TABLE_FLAGS, be32),
    use: attr(C.NFTA_TABLE_USE, be32),
    handle: attr(C.NFTA_TABLE_HANDLE, be64),
    userdata: attr(C.NFTA_TABLE_USERDATA, bytes),
    owner: attr(C.NFTA_TABLE_OWNER, be32),
  }),
);

/** `NFTA_CHAIN_HOOK`: where a base chain hooks in, and its priority. */
export const Hook = attrs({
  hooknum: attr(C.NFTA_HOOK_HOOKNUM, be32),
  priority: attr(C.NFTA_HOOK_PRIORITY, bei32),
  dev: attr(C.NFTA_HOOK_DEV, cstring),
});

/** `NFT_MSG_{NEW,GET,DEL}CHAIN`. */
export const ChainMessage = message(
  nfgenmsg,
  attrs({
    table: attr(C.NFTA_CHAIN_TABLE, cstring),
    handle: attr(C.NFTA_CHAIN_HANDLE, be64),
    name: attr(C.NFTA_CHAIN_NAME, cstring),
    type: attr(C.NFTA_CHAIN_TYPE, cstring),
    policy: attr(C.NFTA_CHAIN_POLICY, be32),
    hook: attr(C.NFTA_CHAIN_HOOK, Hook, N),
    use: attr(C.NFTA_CHAIN_USE, be32),
    counters: attr(C.NFTA_CHAIN_COUNTERS, bytes),
    flags: attr(C.NFTA_CHAIN_FLAGS, be32),
    id: attr(C.NFTA_CHAIN_ID, be32),
    userdata: attr(C.NFTA_CHAIN_USERDATA, bytes),
  }),
);

/** `NFT_MSG_{NEW,GET,DEL}RULE`. */
export const RuleMessage = message(
  nfgenmsg,
  attrs({
    table: attr(C.NFTA_RULE_TABLE, cstring),
    chain: attr(C.NFTA_RULE_CHAIN, cstring),
    handle: attr(C.NFTA_RULE_HANDLE, be64),
    expressions: attr(C.NFTA_RULE_EXPRESSIONS, list(C.NFTA_LIST_ELEM, Expression, N), N),
    position: attr(C.NFTA_RULE_POSITION, be64),
    userdata: attr(C.NFTA_RULE_USERDATA, bytes),
    id: attr(C.NFTA_RULE_ID, be32),
  }),
);

/** `NFTA_SET_DESC`: expected size, and field lengths of concatenations. */
export const SetDesc = attrs({
  size: attr(C.NFTA_SET_DESC_SIZE, be32),
  concat: attr(
    C.NFTA_SET_DESC_CONCAT,
    list(C.NFTA_LIST_ELEM, attrs({ len: attr(C.NFTA_SET_FIELD_LEN, be32) }), N),
    N,
  ),
});

/** `NFT_MSG_{NEW,GET,DEL}SET`: sets and maps (`NFT_SET_MAP`). */
export const SetMessage = message(
  nfgenmsg,
  attrs({
    table: attr(C.NFTA_SET_TABLE, cstring),
    name: attr(C.NFTA_SET_NAME, cstring),
    flags: attr(C.NFTA_SET_FLAGS, be32),
    keyType: attr(C.NFTA_SET_KEY_TYPE, be32),
    keyLen: attr(C.NFTA_SET_KEY_LEN, be32),
    dataType: attr(C.NFTA_SET_DATA_TYPE, be32),
    dataLen: attr(C.NFTA_SET_DATA_LEN, be32),
    policy: attr(C.NFTA_SET_POLICY, be32),
    desc: attr(C.NFTA_SET_DESC, SetDesc, N),
    id: attr(C.NFTA_SET_ID, be32),
    timeout: attr(C.NFTA_SET_TIMEOUT, be64),
    gcInterval: attr(C.NFTA_SET_GC_INTERVAL, be32),
    userdata: attr(C.NFTA_SET_USERDATA, bytes),
    handle: attr(C.NFTA_SET_HANDLE, be64),
  }),
);

/** One set element: its key and, in a map, its data. */
export const SetElement = attrs({
  key: attr(C.NFTA_SET_ELEM_KEY, Data, N),
  data: attr(C.NFTA_SET_ELEM_DATA, Data, N),
  flags: attr(C.NFTA_SET_ELEM_FLAGS, be32),
  userdata: attr(C.NFTA_SET_ELEM_USERDATA, bytes),
});

/** `NFT_MSG_{NEW,GET,DEL}SETELEM`: elements of one set. */
export const SetElemMessage = message(
  nfgenmsg,
  attrs({
    table: attr(C.NFTA_SET_ELEM_LIST_TABLE, cstring),
    set: attr(C.NFTA_SET_ELEM_LIST_SET, cstring),
    setId: attr(C.NFTA_SET_ELEM_LIST_SET_ID, be32),
    elements: attr(C.NFTA_SET_ELEM_LIST_ELEMENTS, list(C.NFTA_LIST_ELEM, SetElement, N), N),
  }),
);

/** `NFT_MSG_NEWGEN`: the ruleset's generation id, and who committed it. */
export const GenMessage = message(
  nfgenmsg,
  attrs({
    id: attr(C.NFTA_GEN_ID, be32),
    procPid: attr(C.NFTA_GEN_PROC_PID, be32),
    procName: attr(C.NFTA_GEN_PROC_NAME, cstring),
  }),
);

/** `CTA_TUPLE_*`: one direction of a conntrack entry. */
export const CtTuple = attrs({
  ip: attr(
    C.CTA_TUPLE_IP,
    attrs({
      v4src: attr(C.CTA_IP_V4_SRC, bytes),
      v4dst: attr(C.CTA_IP_V4_DST, bytes),
      v6src: attr(C.CTA_IP_V6_SRC, bytes),
      v6dst: attr(C.CTA_IP_V6_DST, bytes),
    }),
    N,
  ),
  proto: attr(
    C.CTA_TUPLE_PROTO,
    attrs({
      num: attr(C.CTA_PROTO_NUM, u8),
      srcPort: attr(C.CTA_PROTO_SRC_PORT, be16),
      dstPort: attr(C.CTA_PROTO_DST_PORT, be16),
      // ICMP and ICMPv6 flows are keyed by id, type and code instead of ports.
      icmpId: attr(C.CTA_PROTO_ICMP_ID, be16),
      icmpType: attr(C.CTA_PROTO_ICMP_TYPE, u8),
      icmpCode: attr(C.CTA_PROTO_ICMP_CODE, u8),
      icmpv6Id: attr(C.CTA_PROTO_ICMPV6_ID, be16),
      icmpv6Type: attr(C.CTA_PROTO_ICMPV6_TYPE, u8),
      icmpv6Code: attr(C.CTA_PROTO_ICMPV6_CODE, u8),
    }),
    N,
  ),
  zone: attr(C.CTA_TUPLE_ZONE, be16),
});

/** `IPCTNL_MSG_CT_{NEW,GET,DELETE}`: a conntrack entry (the attributes nslink uses). */
export const CtMessage = message(
  nfgenmsg,
  attrs({
    orig: attr(C.CTA_TUPLE_ORIG, CtTuple, N),
    reply: attr(C.CTA_TUPLE_REPLY, CtTuple, N),
    status: attr(C.CTA_STATUS, be32),
    mark: attr(C.CTA_MARK, be32),
    id: attr(C.CTA_ID, be32),
    zone: attr(C.CTA_ZONE, be16),
  }),
);
