/**
 * Builders for nf_tables expressions, in the attribute order `nft` sends them, and the byte
 * layouts of the values they compare (interface names, ports, addresses, host-order numbers).
 * A rule is an array of these: e.g. `tcp dport 8080` is
 * `[meta(L4PROTO), cmp(EQ, u8Bytes(6)), payload(TRANSPORT, 2, 2), cmp(EQ, portBytes(8080))]`.
 *
 * @example `oifname "nsl-web" jump in-nsl-web`
 * ```ts
 * import { cmp, ifnameBytes, jump, meta } from "./expr.ts";
 * import { NFT_CMP_EQ, NFT_META_OIFNAME } from "./constants.ts";
 * const rule = [meta(NFT_META_OIFNAME), cmp(NFT_CMP_EQ, ifnameBytes("nsl-web")), jump("in-nsl-web")];
 * ```
 *
 * @module
 */
import type { AttrSet } from "../netlink/codec.ts";
import * as C from "./constants.ts";
import type { Expression } from "./messages.ts";

/** One expression, as encoded in a rule's `NFTA_RULE_EXPRESSIONS`. */
export type Expr = typeof Expression extends AttrSet<infer _T, infer I> ? I : never;

/** Register 1 (16 bytes), where nft loads the first operand. */
export const REG1: number = C.NFT_REG_1;

/**
 * `meta load KEY => reg DREG`.
 *
 * @example
 * ```ts
 * import { meta } from "./expr.ts";
 * meta(16); // meta load l4proto => reg 1
 * ```
 * @param key `NFT_META_*`.
 * @param dreg Destination register.
 * @returns The expression.
 */
export function meta(key: number, dreg = REG1): Expr {
  return { name: "meta", data: { key, dreg } };
}

/**
 * `payload load LEN b @ BASE header + OFFSET => reg DREG`.
 *
 * @example
 * ```ts
 * import { payload } from "./expr.ts";
 * payload(2, 2, 2); // th dport
 * ```
 * @param base `NFT_PAYLOAD_*_HEADER`.
 * @param offset Byte offset in that header.
 * @param len Bytes to load.
 * @param dreg Destination register.
 * @returns The expression.
 */
export function payload(base: number, offset: number, len: number, dreg = REG1): Expr {
  return { name: "payload", data: { dreg, base, offset, len } };
}

/**
 * `cmp OP reg SREG VALUE`.
 *
 * @example
 * ```ts
 * import { cmp, u8Bytes } from "./expr.ts";
 * cmp(0, u8Bytes(6)); // cmp eq reg 1 0x00000006
 * ```
 * @param op `NFT_CMP_*`.
 * @param value The bytes compared.
 * @param sreg Source register.
 * @returns The expression.
 */
export function cmp(op: number, value: Uint8Array, sreg = REG1): Expr {
  return { name: "cmp", data: { sreg, op, data: { value } } };
}

/**
 * `bitwise reg DREG = (reg SREG & MASK) ^ XOR`.
 *
 * @example
 * ```ts
 * import { bitwise, u32Bytes } from "./expr.ts";
 * bitwise(u32Bytes(0x20), u32Bytes(0)); // ct status & dnat
 * ```
 * @param mask The mask.
 * @param xor The xor (same length).
 * @param sreg Source register.
 * @param dreg Destination register.
 * @returns The expression.
 */
export function bitwise(mask: Uint8Array, xor: Uint8Array, sreg = REG1, dreg = REG1): Expr {
  return {
    name: "bitwise",
    data: { sreg, dreg, len: mask.byteLength, mask: { value: mask }, xor: { value: xor } },
  };
}

/**
 * A verdict: `accept`, `drop`, `return`, or `jump`/`goto` a chain.
 *
 * @example
 * ```ts
 * import { verdict } from "./expr.ts";
 * verdict(1); // accept
 * ```
 * @param code `NF_ACCEPT`, `NF_DROP`, `NFT_RETURN`, `NFT_JUMP`, `NFT_GOTO`.
 * @param chain The chain, for jump and goto.
 * @returns The expression.
 */
export function verdict(code: number, chain?: string): Expr {
  return {
    name: "immediate",
    data: {
      dreg: C.NFT_REG_VERDICT,
      data: { verdict: chain === undefined ? { code } : { code, chain } },
    },
  };
}

/** `accept`. @returns The expression. */
export function accept(): Expr {
  return verdict(C.NF_ACCEPT);
}

/** `drop`. @returns The expression. */
export function drop(): Expr {
  return verdict(C.NF_DROP);
}

/** `jump CHAIN`. @param chain The chain. @returns The expression. */
export function jump(chain: string): Expr {
  return verdict(C.NFT_JUMP, chain);
}

/**
 * `immediate reg DREG VALUE`.
 *
 * @example
 * ```ts
 * import { immediate, portBytes } from "./expr.ts";
 * immediate(2, portBytes(80));
 * ```
 * @param dreg Destination register.
 * @param value The value.
 * @returns The expression.
 */
export function immediate(dreg: number, value: Uint8Array): Expr {
  return { name: "immediate", data: { dreg, data: { value } } };
}

/**
 * `lookup reg SREG set SET [dreg DREG]`: a set match, or with `dreg` a map lookup.
 *
 * @example
 * ```ts
 * import { lookup } from "./expr.ts";
 * lookup("pub4", 1, 1, 1); // lookup reg 1 set pub4 dreg 1
 * ```
 * @param set The set's name.
 * @param sreg The key's first register.
 * @param dreg Where a map's value goes.
 * @param setId The set's batch id (to name a set made in the same batch).
 * @returns The expression.
 */
export function lookup(set: string, sreg = REG1, dreg?: number, setId?: number): Expr {
  const data: Record<string, unknown> = { sreg };
  if (dreg !== undefined) data.dreg = dreg;
  data.set = set;
  if (setId !== undefined) data.setId = setId;
  return { name: "lookup", data } as Expr;
}

/**
 * `nat dnat FAMILY addr_min reg A proto_min reg P`.
 *
 * @example
 * ```ts
 * import { dnat } from "./expr.ts";
 * dnat(2, 1, 9); // dnat ip to the address in reg 1, the port in reg 9
 * ```
 * @param family `NFPROTO_IPV4` or `NFPROTO_IPV6`.
 * @param regAddr Register holding the address.
 * @param regProto Register holding the port.
 * @returns The expression.
 */
export function dnat(family: number, regAddr: number, regProto: number): Expr {
  return {
    name: "nat",
    data: { type: C.NFT_NAT_DNAT, family, regAddrMin: regAddr, regProtoMin: regProto },
  };
}

/** `masquerade`. @returns The expression. */
export function masq(): Expr {
  return { name: "masq", data: {} };
}

/**
 * `ct load KEY => reg DREG`.
 *
 * @example
 * ```ts
 * import { ct } from "./expr.ts";
 * ct(0); // ct load state => reg 1
 * ```
 * @param key `NFT_CT_*`.
 * @param dreg Destination register.
 * @returns The expression.
 */
export function ct(key: number, dreg = REG1): Expr {
  return { name: "ct", data: { key, dreg } };
}

/**
 * `fib FLAGS type => reg DREG` (result `NFT_FIB_RESULT_ADDRTYPE`).
 *
 * @example
 * ```ts
 * import { fib } from "./expr.ts";
 * fib(2); // fib daddr type => reg 1
 * ```
 * @param flags `NFTA_FIB_F_DADDR` or `NFTA_FIB_F_SADDR`.
 * @param result `NFT_FIB_RESULT_*`.
 * @param dreg Destination register.
 * @returns The expression.
 */
export function fib(flags: number, result = C.NFT_FIB_RESULT_ADDRTYPE, dreg = REG1): Expr {
  return { name: "fib", data: { flags, result, dreg } };
}

/** `counter`. @returns The expression. */
export function counter(): Expr {
  return { name: "counter", data: { bytes: 0n, packets: 0n } };
}

// ---------------------------------------------------------------------------------------------
// Values

/**
 * An interface name as `meta iifname` compares it: 16 bytes, NUL-padded.
 *
 * @example
 * ```ts
 * import { ifnameBytes } from "./expr.ts";
 * ifnameBytes("lo").length; // 16
 * ```
 * @param name The name (at most 15 bytes).
 * @returns The bytes.
 */
export function ifnameBytes(name: string): Uint8Array {
  const b = new Uint8Array(16);
  const e = new TextEncoder().encode(name);
  if (e.byteLength > 15) throw new RangeError(`Interface name "${name}" is over 15 bytes`);
  b.set(e);
  return b;
}

/** A byte. @param v The value. @returns 1 byte. */
export function u8Bytes(v: number): Uint8Array {
  return new Uint8Array([v]);
}

/** A 32-bit number in host order (meta, ct and fib values). @param v The value. @returns 4 bytes. */
export function u32Bytes(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

/** A port in network order. @param port The port. @returns 2 bytes. */
export function portBytes(port: number): Uint8Array {
  return new Uint8Array([port >> 8, port & 0xff]);
}

/**
 * Concatenates set-key or map-data fields, each padded to 4 bytes, as nf_tables lays them out
 * in consecutive 32-bit registers (`tcp . 8080` = `06 00 00 00 1f 90 00 00`).
 *
 * @example
 * ```ts
 * import { concat, portBytes, u8Bytes } from "./expr.ts";
 * concat(u8Bytes(6), portBytes(8080)); // 06 00 00 00 1f 90 00 00
 * ```
 * @param fields The fields.
 * @returns The bytes.
 */
export function concat(...fields: Uint8Array[]): Uint8Array {
  const size = fields.reduce((n, f) => n + ((f.byteLength + 3) & ~3), 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const f of fields) {
    out.set(f, at);
    at += (f.byteLength + 3) & ~3;
  }
  return out;
}
