/**
 * A declarative netlink codec. A message is declared once, as a fixed header struct plus a map of
 * attributes with their explicit kernel ids, and that one declaration drives both
 * {@linkcode encode} and {@linkcode decode}. Attributes are TLVs (`struct nlattr`) padded to 4
 * bytes; numbers are host order (little-endian here) unless declared network order (`be16`).
 *
 * Encoding writes attributes in the order of the value's keys, so a caller (or a test matching
 * iproute2 byte for byte) controls the wire order; decoding keeps the wire order.
 *
 * @example Declare and round-trip a message
 * ```ts
 * import { attr, attrs, cstring, decode, encode, message, struct, u32, u8, pad } from "./codec.ts";
 * const Msg = message(struct({ family: u8, _pad: pad(3), index: u32 }), attrs({
 *   name: attr(3, cstring),
 *   mtu: attr(4, u32),
 * }));
 * const bytes = encode(Msg, { index: 2, name: "nsl0a", mtu: 1400 });
 * decode(Msg, bytes); // { family: 0, index: 2, name: "nsl0a", mtu: 1400 }
 * ```
 *
 * @module
 */

import { NetlinkDecodeError } from "./errors.ts";

const NLA_HDRLEN = 4;
/** The largest `nla_len`: a `__u16`. */
const NLA_MAX_LEN = 0xffff;
/** `NLA_F_NESTED`: set on nested attributes by modern senders. */
export const NLA_F_NESTED = 0x8000;
/** `NLA_F_NET_BYTEORDER`. */
export const NLA_F_NET_BYTEORDER = 0x4000;
/** `NLA_TYPE_MASK`: the attribute type without its flags. */
export const NLA_TYPE_MASK = 0x3fff;

/**
 * Rounds a length up to netlink's 4-byte alignment (`NLA_ALIGN`, `NLMSG_ALIGN`).
 *
 * @example
 * ```ts
 * import { align4 } from "./codec.ts";
 * align4(5); // 8
 * ```
 * @param n A length.
 * @returns The aligned length.
 */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

// ---------------------------------------------------------------------------------------------
// Fixed-size fields, for struct headers

/** A fixed-size field of a struct. */
export interface Field<T> {
  /** Size in bytes. */
  readonly size: number;
  /** Reads the field at `off`. */
  read(dv: DataView, off: number): T;
  /** Writes the field at `off`. */
  write(dv: DataView, off: number, v: T): void;
}

/** Padding inside a struct: written as zeros, never part of the value. */
export interface PadField extends Field<undefined> {
  /** Marks padding. */
  readonly pad: true;
}

/** `__u8`. */
export const u8: Field<number> & AttrCodec<number> = fixed(
  1,
  (dv, o) => dv.getUint8(o),
  (dv, o, v) => dv.setUint8(o, v),
);
/** `__u16`, host order. */
export const u16: Field<number> & AttrCodec<number> = fixed(
  2,
  (dv, o) => dv.getUint16(o, true),
  (dv, o, v) => dv.setUint16(o, v, true),
);
/** `__u32`, host order. */
export const u32: Field<number> & AttrCodec<number> = fixed(
  4,
  (dv, o) => dv.getUint32(o, true),
  (dv, o, v) => dv.setUint32(o, v, true),
);
/** `__s32`, host order. */
export const i32: Field<number> & AttrCodec<number> = fixed(
  4,
  (dv, o) => dv.getInt32(o, true),
  (dv, o, v) => dv.setInt32(o, v, true),
);
/** `__u64`, host order, as a `bigint`. */
export const u64: Field<bigint> & AttrCodec<bigint> = fixed(
  8,
  (dv, o) => dv.getBigUint64(o, true),
  (dv, o, v) => dv.setBigUint64(o, v, true),
);
/** `__be16`: network byte order (ports such as `IFLA_VXLAN_PORT`). */
export const be16: Field<number> & AttrCodec<number> = fixed(
  2,
  (dv, o) => dv.getUint16(o, false),
  (dv, o, v) => dv.setUint16(o, v, false),
);
/** `__be32`: network byte order. */
export const be32: Field<number> & AttrCodec<number> = fixed(
  4,
  (dv, o) => dv.getUint32(o, false),
  (dv, o, v) => dv.setUint32(o, v, false),
);

/** `__be32` read as signed (`s32` in network order, e.g. `NFTA_HOOK_PRIORITY`, verdict codes). */
export const bei32: Field<number> & AttrCodec<number> = fixed(
  4,
  (dv, o) => dv.getInt32(o, false),
  (dv, o, v) => dv.setInt32(o, v, false),
);
/** `__be64`: network byte order, as a `bigint` (nf_tables handles and counters). */
export const be64: Field<bigint> & AttrCodec<bigint> = fixed(
  8,
  (dv, o) => dv.getBigUint64(o, false),
  (dv, o, v) => dv.setBigUint64(o, v, false),
);

function fixed<T>(
  size: number,
  read: (dv: DataView, off: number) => T,
  write: (dv: DataView, off: number, v: T) => void,
): Field<T> & AttrCodec<T> {
  return {
    size,
    read,
    write,
    sizeOf: () => size,
    encodeTo: (_b, dv, off, v) => {
      write(dv, off, v);
      return size;
    },
    decodeFrom: (_b, dv, off, len) => {
      if (len < size) {
        throw new NetlinkDecodeError(`attribute payload of ${len} bytes, needs ${size}`, off);
      }
      return read(dv, off);
    },
  };
}

/**
 * Padding of `n` zero bytes inside a struct.
 *
 * @example
 * ```ts
 * import { pad, struct, u8 } from "./codec.ts";
 * struct({ family: u8, _pad: pad(3) }).size; // 4
 * ```
 * @param n Bytes of padding.
 * @returns A field that is skipped in values.
 */
export function pad(n: number): PadField {
  return { pad: true, size: n, read: () => undefined, write: () => {} };
}

/** The value type of a struct declared with fields `D` (padding left out). */
export type StructValue<D> = {
  [K in keyof D as D[K] extends PadField ? never : K]: D[K] extends Field<infer T> ? T : never;
};

/** A fixed-layout C struct (a message header or a struct-valued attribute). */
export interface Struct<T> extends AttrCodec<T, Partial<T>> {
  /** Size in bytes (the C `sizeof`, fields packed in declaration order). */
  readonly size: number;
  /** Field names in order (padding excluded). */
  readonly names: readonly string[];
  /** Reads a struct; fields absent from `v` are written as zero. */
  read(dv: DataView, off: number): T;
  /** Writes a struct. */
  write(dv: DataView, off: number, v: Partial<T>): void;
}

/**
 * Declares a C struct from its fields in order. Fields named with `pad()` are zero padding.
 *
 * @example
 * ```ts
 * import { i32, pad, struct, u16, u32, u8 } from "./codec.ts";
 * const ifinfomsg = struct({ family: u8, _pad: pad(1), type: u16, index: i32, flags: u32, change: u32 });
 * ifinfomsg.size; // 16
 * ```
 * @param def The fields, in order.
 * @returns The struct codec.
 */
export function struct<D extends Record<string, Field<unknown>>>(def: D): Struct<StructValue<D>> {
  const fields: { name: string; field: Field<unknown>; off: number }[] = [];
  let size = 0;
  for (const [name, field] of Object.entries(def)) {
    if (!(field as PadField).pad) fields.push({ name, field, off: size });
    size += field.size;
  }
  const zeros = fields.map((f) => (f.field === u64 ? 0n : 0));
  const read = (dv: DataView, off: number) => {
    const out: Record<string, unknown> = {};
    for (const f of fields) out[f.name] = f.field.read(dv, off + f.off);
    return out as StructValue<D>;
  };
  const write = (dv: DataView, off: number, v: Partial<StructValue<D>>) => {
    const rec = v as Record<string, unknown>;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      f.field.write(dv, off + f.off, rec[f.name] ?? zeros[i]);
    }
  };
  return {
    size,
    names: fields.map((f) => f.name),
    read,
    write,
    sizeOf: () => size,
    encodeTo: (_b, dv, off, v) => {
      write(dv, off, v);
      return size;
    },
    decodeFrom: (_b, dv, off, len) => {
      if (len < size) {
        throw new NetlinkDecodeError(`struct of ${len} bytes, needs ${size}`, off);
      }
      return read(dv, off);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Attribute payload codecs

/**
 * How one attribute's payload is encoded and decoded. `T` is the decoded value, `I` what encoding
 * accepts (for structs and messages, header fields may be left out and default to zero).
 */
export interface AttrCodec<T, I = T> {
  /** Payload length in bytes, unpadded. */
  sizeOf(v: I): number;
  /**
   * Writes the payload at `off` (the buffer is zeroed, and large enough) and returns its
   * length, unpadded: the same as `sizeOf(v)`.
   */
  encodeTo(buf: Uint8Array, dv: DataView, off: number, v: I): number;
  /** Reads a payload of `len` bytes at `off`. */
  decodeFrom(buf: Uint8Array, dv: DataView, off: number, len: number): T;
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next < 0xe000) {
        n += 4; // a surrogate pair: one 4-byte character
        i++;
      } else n += 3; // a lone surrogate: TextEncoder writes U+FFFD
    } else n += 3;
  }
  return n;
}

/** Writes a string's UTF-8 bytes at `off` (ASCII without a `TextEncoder` call); returns the count. */
function writeString(b: Uint8Array, off: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return utf8.encodeInto(s, b.subarray(off)).written;
    b[off + i] = c;
  }
  return s.length;
}

function readString(buf: Uint8Array, off: number, len: number): string {
  const stop = off + len;
  // Interface names and kinds are short ASCII: build them directly, no decoder call.
  let s = "";
  for (let i = off; i < stop; i++) {
    const c = buf[i];
    if (c === 0) return s;
    if (c >= 0x80 || i - off >= 64) {
      let end = i;
      while (end < stop && buf[end] !== 0) end++;
      return utf8d.decode(buf.subarray(off, end));
    }
    s += String.fromCharCode(c);
  }
  return s;
}

/** A NUL-terminated string (`NLA_NUL_STRING`, e.g. `IFLA_IFNAME`). Decoding stops at the first NUL. */
export const cstring: AttrCodec<string> = {
  sizeOf: (v) => utf8Length(v) + 1,
  encodeTo: (b, _dv, off, v) => writeString(b, off, v) + 1,
  decodeFrom: (b, _dv, off, len) => readString(b, off, len),
};

/** A string sent without its NUL (`NLA_STRING` as iproute2 sends `IFLA_INFO_KIND`). Decoding stops at a NUL if any. */
export const string: AttrCodec<string> = {
  sizeOf: (v) => utf8Length(v),
  encodeTo: (b, _dv, off, v) => writeString(b, off, v),
  decodeFrom: (b, _dv, off, len) => readString(b, off, len),
};

/** A zero-length flag attribute (`NLA_FLAG`): present means `true`. */
export const flag: AttrCodec<true> = {
  sizeOf: () => 0,
  encodeTo: () => 0,
  decodeFrom: () => true,
};

/** Raw bytes, copied on decode (receive buffers are reused). */
export const bytes: AttrCodec<Uint8Array> = {
  sizeOf: (v) => v.byteLength,
  encodeTo: (b, _dv, off, v) => {
    b.set(v, off);
    return v.byteLength;
  },
  decodeFrom: (b, _dv, off, len) => b.slice(off, off + len),
};

// ---------------------------------------------------------------------------------------------
// Attributes and attribute sets

/** An attribute declaration: its kernel id and payload codec. */
export interface AttrDef<T, I = T> {
  /** The kernel's attribute type, e.g. `IFLA_IFNAME` (3). */
  readonly id: number;
  /** Flags OR-ed into the type on encode (`NLA_F_NESTED`). */
  readonly flags: number;
  /** The payload codec. */
  readonly codec: AttrCodec<T, I> | KindSelect<T, I>;
}

/** A payload whose codec is chosen by a sibling attribute (e.g. `IFLA_INFO_DATA` by `kind`). */
export interface KindSelect<T, I = T> {
  /** The sibling attribute's key. */
  readonly selectBy: string;
  /** The codecs by the sibling's value. */
  readonly choices: Readonly<Record<string, AttrCodec<unknown, never>>>;
  /** Phantom, for typing. */
  readonly _type?: [T, I];
}

/**
 * Declares one attribute.
 *
 * @example
 * ```ts
 * import { attr, cstring } from "./codec.ts";
 * const ifname = attr(3, cstring); // IFLA_IFNAME
 * ```
 * @param id The kernel's attribute type.
 * @param codec The payload codec.
 * @param flags Flags OR-ed into the type on encode, e.g. {@linkcode NLA_F_NESTED}.
 * @returns The declaration.
 */
export function attr<T, I = T>(
  id: number,
  codec: AttrCodec<T, I> | KindSelect<T, I>,
  flags = 0,
): AttrDef<T, I> {
  if (!(id > 0 && id <= NLA_TYPE_MASK)) throw new RangeError(`Invalid attribute id ${id}`);
  return { id, codec, flags };
}

/** Any attribute declaration (each declaration's own codec types its value). */
// deno-lint-ignore no-explicit-any -- the declarations carry the real types
export type AnyDef = AttrDef<any, any>;
/** Any payload codec. */
// deno-lint-ignore no-explicit-any -- the declarations carry the real types
export type AnyCodec = AttrCodec<any, any>;

/** The decoded values of a {@linkcode byKind} selector's choices. */
export type ChoiceValue<C> = {
  [K in keyof C]: C[K] extends AttrCodec<infer T, infer _I> ? T : never;
}[keyof C];
/** The encodable values of a {@linkcode byKind} selector's choices. */
export type ChoiceInput<C> = {
  [K in keyof C]: C[K] extends AttrCodec<infer _T, infer I> ? I : never;
}[keyof C];

/**
 * Declares a payload whose codec depends on a sibling attribute's value. Values of kinds with no
 * declared codec decode as raw bytes.
 *
 * @example
 * ```ts ignore
 * data: attr(IFLA_INFO_DATA, byKind("kind", { veth: VethData, bridge: BridgeData })),
 * ```
 * @param selectBy The sibling attribute's key.
 * @param choices The codecs, by the sibling's value.
 * @returns The selector.
 */
export function byKind<C extends Record<string, AnyCodec>>(
  selectBy: string,
  choices: C,
): KindSelect<ChoiceValue<C> | Uint8Array, ChoiceInput<C> | Uint8Array> {
  // A null-prototype copy: a kind named "constructor" or "__proto__" finds nothing, not
  // Object.prototype's members.
  const table = Object.create(null) as Record<string, AttrCodec<unknown, never>>;
  for (const key of Object.keys(choices)) table[key] = choices[key] as AttrCodec<unknown, never>;
  return { selectBy, choices: Object.freeze(table) };
}

/** The decoded value of an attribute set declared with `D`. */
export type AttrValues<D> = {
  [K in keyof D]?: D[K] extends AttrDef<infer T, infer _I> ? T : never;
};
/** The encodable value of an attribute set declared with `D`. */
export type AttrInputs<D> = {
  [K in keyof D]?: D[K] extends AttrDef<infer _T, infer I> ? I : never;
};

/** A set of attributes (a message's attributes, or a nest). Also usable as a nested payload. */
export interface AttrSet<T, I = T> extends AttrCodec<T, I> {
  /** The declarations by key. */
  readonly defs: Readonly<Record<string, AnyDef>>;
  /** Payload size; keys in `skip` are passed over. */
  sizeOf(v: I, skip?: ReadonlySet<string>): number;
  /** Writes the attributes; keys in `skip` are passed over. Returns the bytes written. */
  encodeTo(buf: Uint8Array, dv: DataView, off: number, v: I, skip?: ReadonlySet<string>): number;
  /** Reads the attributes, into `into` when given (a message's header) or a new object. */
  decodeFrom(buf: Uint8Array, dv: DataView, off: number, len: number, into?: object): T;
}

/**
 * Declares a set of attributes. Ids must be unique; keys become the value's property names.
 *
 * @example
 * ```ts
 * import { attr, attrs, cstring, u32 } from "./codec.ts";
 * const LinkAttrs = attrs({ ifname: attr(3, cstring), mtu: attr(4, u32) });
 * ```
 * @param defs The attributes by key.
 * @returns The set, which is also the codec of a nest holding them.
 */
export function attrs<D extends Record<string, AnyDef>>(
  defs: D,
): AttrSet<AttrValues<D>, AttrInputs<D>> {
  const byId = new Map<number, [string, AnyDef]>();
  for (const [key, def] of Object.entries(defs)) {
    if (byId.has(def.id)) {
      throw new TypeError(
        `Attribute id ${def.id} declared twice ("${byId.get(def.id)![0]}" and "${key}")`,
      );
    }
    byId.set(def.id, [key, def]);
  }
  const codecOf = (def: AnyDef, v: Record<string, unknown>): AnyCodec => {
    const c = def.codec;
    if (!("selectBy" in c)) return c;
    const sel = v[c.selectBy];
    const chosen = typeof sel === "string" && Object.hasOwn(c.choices, sel)
      ? c.choices[sel]
      : undefined;
    return chosen ?? bytes;
  };
  const checkKey = (key: string, def: AnyDef | undefined): AnyDef => {
    if (!def) {
      throw new TypeError(`Unknown attribute "${key}"; declared: ${Object.keys(defs).join(", ")}`);
    }
    return def;
  };
  // `skip`: keys to pass over (a message's header fields, which share the value object).
  const sizeOf = (value: AttrInputs<D>, skip?: ReadonlySet<string>) => {
    const v = value as Record<string, unknown>;
    let n = 0;
    for (const key in v) {
      const x = v[key];
      if (x === undefined || skip?.has(key)) continue;
      const def = checkKey(key, defs[key]);
      n += align4(NLA_HDRLEN + codecOf(def, v).sizeOf(x));
    }
    return n;
  };
  // One pass: each payload is written first and its length back-filled into its header, so a
  // nest's size is never computed twice.
  const encodeTo = (
    b: Uint8Array,
    dv: DataView,
    off: number,
    value: AttrInputs<D>,
    skip?: ReadonlySet<string>,
  ) => {
    const v = value as Record<string, unknown>;
    const start = off;
    for (const key in v) {
      const x = v[key];
      if (x === undefined || skip?.has(key)) continue;
      const def = checkKey(key, defs[key]);
      const len = NLA_HDRLEN + codecOf(def, v).encodeTo(b, dv, off + NLA_HDRLEN, x);
      if (len > NLA_MAX_LEN) throw tooLong(`"${key}"`, len);
      dv.setUint16(off, len, true);
      dv.setUint16(off + 2, def.id | def.flags, true);
      off += align4(len);
    }
    return off - start;
  };
  // `into`: an object to add the attributes to (a message's decoded header), instead of a new one.
  const decodeFrom = (b: Uint8Array, dv: DataView, off: number, len: number, into?: object) => {
    const out = (into ?? {}) as Record<string, unknown>;
    let deferred: [string, AnyDef, number, number][] | undefined;
    const end = off + len;
    while (off + NLA_HDRLEN <= end) {
      const alen = dv.getUint16(off, true);
      checkAttr(alen, off, end);
      const hit = byId.get(dv.getUint16(off + 2, true) & NLA_TYPE_MASK);
      if (hit) {
        const [key, def] = hit;
        if ("selectBy" in def.codec && !(def.codec.selectBy in out)) {
          (deferred ??= []).push([key, def, off + NLA_HDRLEN, alen - NLA_HDRLEN]);
        } else {
          out[key] = codecOf(def, out).decodeFrom(b, dv, off + NLA_HDRLEN, alen - NLA_HDRLEN);
        }
      }
      off += align4(alen);
    }
    if (deferred) {
      for (const [key, def, o, l] of deferred) {
        out[key] = codecOf(def, out).decodeFrom(b, dv, o, l);
      }
    }
    return out as AttrValues<D>;
  };
  return { defs, sizeOf, encodeTo, decodeFrom };
}

/**
 * A nest of attributes as a payload (`nla_nest_start`). iproute2 sends most nests without
 * `NLA_F_NESTED`; pass it to {@linkcode attr} as flags where the kernel wants it.
 *
 * @example
 * ```ts
 * import { attr, attrs, nested, string } from "./codec.ts";
 * const linkinfo = attr(18, nested(attrs({ kind: attr(1, string) })));
 * ```
 * @param set The attributes inside the nest.
 * @returns The nest's codec (the set itself).
 */
export function nested<T, I>(set: AttrSet<T, I>): AttrCodec<T, I> {
  return set;
}

/** A {@linkcode list} codec, which names its element type (for walking encoded bytes). */
export interface ListCodec<T, I = T> extends AttrCodec<T[], readonly I[]> {
  /** The repeated attribute's type and payload codec. */
  readonly listOf: { readonly id: number; readonly codec: AttrCodec<T, I> };
}

/**
 * A nest holding the same attribute type repeated, in order (nf_tables' `NFTA_LIST_ELEM` lists:
 * a rule's expressions, a set's elements). Other attribute types inside the nest are skipped.
 *
 * @example
 * ```ts
 * import { attr, attrs, decode, encode, list, NLA_F_NESTED, u32 } from "./codec.ts";
 * const Numbers = list(1, u32);
 * decode(Numbers, encode(Numbers, [1, 2])); // [1, 2]
 * const Expressions = attr(4, list(1, attrs({ n: attr(1, u32) }), NLA_F_NESTED), NLA_F_NESTED);
 * ```
 * @param id The repeated attribute's type, e.g. `NFTA_LIST_ELEM` (1).
 * @param codec Each element's payload codec.
 * @param flags Flags OR-ed into each element's type, e.g. {@linkcode NLA_F_NESTED}.
 * @returns The list's codec.
 */
export function list<T, I = T>(
  id: number,
  codec: AttrCodec<T, I>,
  flags = 0,
): ListCodec<T, I> {
  return {
    listOf: { id, codec },
    sizeOf: (v) => {
      let n = 0;
      for (const x of v) n += align4(NLA_HDRLEN + codec.sizeOf(x));
      return n;
    },
    encodeTo: (b, dv, off, v) => {
      const start = off;
      for (const x of v) {
        const len = NLA_HDRLEN + codec.encodeTo(b, dv, off + NLA_HDRLEN, x);
        if (len > NLA_MAX_LEN) throw tooLong(`list element ${id}`, len);
        dv.setUint16(off, len, true);
        dv.setUint16(off + 2, id | flags, true);
        off += align4(len);
      }
      return off - start;
    },
    decodeFrom: (b, dv, off, len) => {
      const out: T[] = [];
      const end = off + len;
      while (off + NLA_HDRLEN <= end) {
        const alen = dv.getUint16(off, true);
        checkAttr(alen, off, end);
        if ((dv.getUint16(off + 2, true) & NLA_TYPE_MASK) === id) {
          out.push(codec.decodeFrom(b, dv, off + NLA_HDRLEN, alen - NLA_HDRLEN));
        }
        off += align4(alen);
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Messages

/** A message: a fixed header struct followed by attributes. */
export interface MessageSchema<H, A, AI = A> extends AttrCodec<H & A, Partial<H> & AI> {
  /** The header struct (e.g. `ifinfomsg`). */
  readonly header: Struct<H>;
  /** The attributes. */
  readonly attrs: AttrSet<A, AI>;
}

/** The decoded value of a message schema: header fields always present, attributes optional. */
export type MessageOf<M> = M extends MessageSchema<infer H, infer A, infer _AI> ? H & A : never;
/** The value to encode: header fields default to zero. */
export type MessageInput<M> = M extends MessageSchema<infer H, infer _A, infer AI> ? Partial<H> & AI
  : never;

/**
 * Declares a message body: header struct plus attributes, flattened into one value. Header field
 * names and attribute keys must differ.
 *
 * @example
 * ```ts
 * import { attr, attrs, cstring, message, struct, u32, u8, pad } from "./codec.ts";
 * const Msg = message(struct({ family: u8, _pad: pad(3), index: u32 }), attrs({ name: attr(3, cstring) }));
 * ```
 * @param header The fixed header.
 * @param attributes The attributes that follow it.
 * @returns The message schema, which is also a payload codec (for `VETH_INFO_PEER`).
 */
export function message<H, A, AI>(
  header: Struct<H>,
  attributes: AttrSet<A, AI>,
): MessageSchema<H, A, AI> {
  for (const name of header.names) {
    if (name in attributes.defs) {
      throw new TypeError(`"${name}" is both a header field and an attribute`);
    }
  }
  const headerNames = new Set(header.names);
  return {
    header,
    attrs: attributes,
    sizeOf: (v) => header.size + attributes.sizeOf(v as unknown as AI, headerNames),
    encodeTo: (b, dv, off, v) => {
      header.write(dv, off, v);
      return header.size +
        attributes.encodeTo(b, dv, off + header.size, v as unknown as AI, headerNames);
    },
    decodeFrom: (b, dv, off, len) => {
      if (len < header.size) {
        throw new NetlinkDecodeError(
          `message body of ${len} bytes, its header needs ${header.size}`,
          off,
        );
      }
      const h = header.read(dv, off) as object;
      return attributes.decodeFrom(b, dv, off + header.size, len - header.size, h) as H & A;
    },
  };
}

/**
 * Encodes a value with a codec (typically a message body, without `nlmsghdr`).
 *
 * @example
 * ```ts
 * import { encode, u32 } from "./codec.ts";
 * encode(u32, 1); // Uint8Array [1, 0, 0, 0]
 * ```
 * @param codec The codec.
 * @param value The value.
 * @param headroom Zero bytes reserved in front (for a header the caller writes).
 * @returns The bytes, `headroom` + payload, padded to 4 bytes.
 */
export function encode<I>(
  codec: AttrCodec<unknown, I>,
  value: I,
  headroom = 0,
): Uint8Array<ArrayBuffer> {
  const size = codec.sizeOf(value);
  const buf = new Uint8Array(align4(headroom + size));
  const written = codec.encodeTo(buf, new DataView(buf.buffer), headroom, value);
  if (written !== size) throw new Error(`Codec wrote ${written} bytes, declared ${size}`);
  return buf;
}

/**
 * Decodes bytes with a codec.
 *
 * @example
 * ```ts
 * import { decode, u32 } from "./codec.ts";
 * decode(u32, new Uint8Array([1, 0, 0, 0])); // 1
 * ```
 * @param codec The codec.
 * @param bytes The bytes (any view; offsets are respected).
 * @returns The value.
 */
export function decode<T>(codec: AttrCodec<T, never>, bytes: Uint8Array): T {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const whole = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return codec.decodeFrom(whole, dv, 0, bytes.byteLength);
  } catch (e) {
    if (e instanceof NetlinkDecodeError) throw e;
    // A payload codec's own refusal (a malformed address, a read past the end): the same class.
    throw new NetlinkDecodeError(`${(e as Error)?.message ?? String(e)}`, 0, { cause: e });
  }
}

/** Refuses an attribute whose length is below its header's or runs past its container. */
function checkAttr(alen: number, off: number, end: number): void {
  if (alen < NLA_HDRLEN) {
    throw new NetlinkDecodeError(`attribute length ${alen} is below ${NLA_HDRLEN}`, off);
  }
  if (off + alen > end) {
    throw new NetlinkDecodeError(
      `attribute length ${alen} runs ${off + alen - end} bytes past its container`,
      off,
    );
  }
}

function tooLong(what: string, len: number): RangeError {
  return new RangeError(
    `Attribute ${what} would be ${len} bytes: more than the ${NLA_MAX_LEN} that nla_len can hold`,
  );
}
