/**
 * A DNS message codec (RFC 1035, with RFC 3596 AAAA, RFC 6891 EDNS0 and RFC 3597 unknown types).
 * Each record type's data is declared once, as a list of fields in {@linkcode RECORD_TYPES}, and
 * that one declaration drives both {@linkcode encodeMessage} and {@linkcode decodeMessage}, as
 * the netlink codec does with its attribute maps. Types not in the table keep their data as raw
 * bytes, so a message of any type round-trips.
 *
 * The wire layout of a message (all numbers in network order):
 *
 * | bytes | field                                                          |
 * | ----- | -------------------------------------------------------------- |
 * | 2     | ID                                                             |
 * | 2     | QR(1) OPCODE(4) AA(1) TC(1) RD(1) RA(1) Z(1) AD(1) CD(1) RCODE(4) |
 * | 2 × 4 | QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT                             |
 * | …     | questions: NAME, TYPE(2), CLASS(2)                             |
 * | …     | records: NAME, TYPE(2), CLASS(2), TTL(4), RDLENGTH(2), RDATA   |
 *
 * Names are text without the final dot (`web.dns.nslink`, the root is `""`); a byte that is not
 * printable ASCII, a `.` or a `\` inside a label is written `\DDD` (decimal), as dig prints it.
 * Decoding follows compression pointers only backwards (so a loop cannot hang it) and checks
 * every length against the message; anything malformed throws {@linkcode DnsDecodeError} with
 * the offset. Encoding compresses names (every suffix, or only whole names as dnsmasq does).
 *
 * @example Round-trip a query
 * ```ts
 * import { decodeMessage, encodeMessage } from "./message.ts";
 * const bytes = encodeMessage({ id: 7, rd: true, questions: [{ name: "web.dns.nslink", type: "A" }] });
 * decodeMessage(bytes).questions; // [{ name: "web.dns.nslink", type: "A", class: 1 }]
 * ```
 *
 * @module
 */

import { formatIP, parseIPv4, parseIPv6 } from "../net/ip.ts";
import { DnsDecodeError, DnsEncodeError } from "./errors.ts";

/** `CLASS IN`, the Internet class. */
export const CLASS_IN = 1;

/** Response codes (`RCODE`; values above 15 need EDNS's extended RCODE). */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
} as const;

/** `OPCODE QUERY`, the standard query. */
export const OPCODE_QUERY = 0;

/** The largest DNS message over UDP without EDNS (RFC 1035 section 4.2.1). */
export const UDP_PLAIN_LIMIT = 512;

const HEADER_SIZE = 12;
const MAX_NAME = 255;
const MAX_LABEL = 63;
const POINTER_LIMIT = 0x3fff;

// ---------------------------------------------------------------------------------------------
// Reading and writing

/** The decoder's cursor over one message. */
interface Reader {
  readonly b: Uint8Array;
  readonly dv: DataView;
  off: number;
}

/** How names are compressed when encoding. */
export type Compression = "all" | "whole" | "none";

/** A growable output buffer with the compression table of one message. */
class Writer {
  b: Uint8Array;
  dv: DataView;
  len = 0;
  readonly names: Map<string, number> = new Map();
  constructor(readonly compression: Compression, size = 512) {
    this.b = new Uint8Array(size);
    this.dv = new DataView(this.b.buffer);
  }
  need(n: number): void {
    if (this.len + n <= this.b.length) return;
    let size = this.b.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.b.subarray(0, this.len));
    this.b = b;
    this.dv = new DataView(b.buffer);
  }
  u8(v: number): void {
    this.need(1);
    this.b[this.len++] = v;
  }
  u16(v: number): void {
    this.need(2);
    this.dv.setUint16(this.len, v);
    this.len += 2;
  }
  u32(v: number): void {
    this.need(4);
    this.dv.setUint32(this.len, v);
    this.len += 4;
  }
  bytes(v: Uint8Array): void {
    this.need(v.length);
    this.b.set(v, this.len);
    this.len += v.length;
  }
}

function need(r: Reader, n: number, end: number, what: string): void {
  if (r.off + n > end) {
    throw new DnsDecodeError(`${what} needs ${n} bytes, ${Math.max(0, end - r.off)} left`, r.off);
  }
}

// ---------------------------------------------------------------------------------------------
// Names

function labelText(b: Uint8Array, off: number, len: number): string {
  let s = "";
  for (let i = off; i < off + len; i++) {
    const c = b[i];
    if (c === 0x2e || c === 0x5c) s += "\\" + String.fromCharCode(c);
    else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += "\\" + String(c).padStart(3, "0");
  }
  return s;
}

/**
 * Reads a (possibly compressed) name at `r.off`, leaving `r.off` after its in-place part.
 * Pointers must point strictly before the place they are followed from, so every chain ends.
 */
function readName(r: Reader, end: number): string {
  const b = r.b;
  const start = r.off;
  let off = start;
  let limit = start;
  let next = -1;
  let wire = 1;
  let name = "";
  for (;;) {
    if (off >= (next < 0 ? end : b.length)) {
      throw new DnsDecodeError("name runs past the end", off);
    }
    const len = b[off];
    if (len === 0) {
      if (next < 0) next = off + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (off + 2 > (next < 0 ? end : b.length)) {
        throw new DnsDecodeError("compression pointer runs past the end", off);
      }
      const target = ((len & 0x3f) << 8) | b[off + 1];
      if (target >= limit) {
        throw new DnsDecodeError(
          `compression pointer to byte ${target} does not point backwards`,
          off,
        );
      }
      if (next < 0) next = off + 2;
      limit = target;
      off = target;
      continue;
    }
    if (kind !== 0) {
      throw new DnsDecodeError(`label type 0x${kind.toString(16)} is not supported`, off);
    }
    if (off + 1 + len > (next < 0 ? end : b.length)) {
      throw new DnsDecodeError(`label of ${len} bytes runs past the end`, off);
    }
    wire += len + 1;
    if (wire > MAX_NAME) throw new DnsDecodeError("name longer than 255 bytes", start);
    name += (name === "" ? "" : ".") + labelText(b, off + 1, len);
    off += 1 + len;
  }
  r.off = next;
  return name;
}

/** Splits a name's text into its labels' bytes (escapes resolved); `""` and `"."` are the root. */
function nameLabels(name: string): Uint8Array[] {
  if (name === "" || name === ".") return [];
  const labels: Uint8Array[] = [];
  let cur: number[] = [];
  const bad = (what: string) => new DnsEncodeError(`name "${name}"`, what);
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i);
    if (ch === 0x2e) {
      if (cur.length === 0) throw bad("empty label");
      labels.push(Uint8Array.from(cur));
      cur = [];
      if (i === name.length - 1) return check(labels, name);
      continue;
    }
    if (ch === 0x5c) {
      const d = /^\d{3}/.exec(name.slice(i + 1, i + 4));
      if (d) {
        const v = Number(d[0]);
        if (v > 255) throw bad(`escape \\${d[0]} is above 255`);
        cur.push(v);
        i += 3;
      } else if (i + 1 < name.length) {
        cur.push(name.charCodeAt(++i));
      } else throw bad("trailing backslash");
      continue;
    }
    if (ch > 0x7f) throw bad("non-ASCII character (use punycode)");
    cur.push(ch);
  }
  if (cur.length === 0) throw bad("empty label");
  labels.push(Uint8Array.from(cur));
  return check(labels, name);
}

function check(labels: Uint8Array[], name: string): Uint8Array[] {
  let wire = 1;
  for (const l of labels) {
    if (l.length > MAX_LABEL) {
      throw new DnsEncodeError(`name "${name}"`, `label of ${l.length} bytes (at most 63)`);
    }
    wire += l.length + 1;
  }
  if (wire > MAX_NAME) throw new DnsEncodeError(`name "${name}"`, `${wire} bytes (at most 255)`);
  return labels;
}

function writeName(w: Writer, name: string, compress: boolean): void {
  const labels = nameLabels(name);
  const keys: string[] = [];
  for (let i = 0; i < labels.length; i++) {
    let key = "";
    for (let j = i; j < labels.length; j++) key += labelText(labels[j], 0, labels[j].length) + ".";
    keys.push(key);
  }
  const useAll = compress && w.compression === "all";
  const useWhole = compress && w.compression !== "none";
  for (let i = 0; i < labels.length; i++) {
    if (useAll || (useWhole && i === 0)) {
      const at = w.names.get(keys[i]);
      if (at !== undefined) {
        w.u16(0xc000 | at);
        return;
      }
    }
    if (
      w.compression !== "none" && w.len <= POINTER_LIMIT && (i === 0 || w.compression === "all")
    ) {
      if (!w.names.has(keys[i])) w.names.set(keys[i], w.len);
    }
    w.u8(labels[i].length);
    w.bytes(labels[i]);
  }
  w.u8(0);
}

// ---------------------------------------------------------------------------------------------
// Record data fields: each declared once, for both directions

/** One field of a record's data. */
interface RDataField<T> {
  /** Reads the field; the record's data ends at `end`. */
  decode(r: Reader, end: number): T;
  /** Writes the field; `compress` says whether its names may be compressed. */
  encode(w: Writer, v: T, compress: boolean): void;
}

/** A 16-bit number. */
const u16: RDataField<number> = {
  decode(r, end) {
    need(r, 2, end, "16-bit field");
    const v = r.dv.getUint16(r.off);
    r.off += 2;
    return v;
  },
  encode: (w, v) => w.u16(num(v, 0xffff, "16-bit field")),
};

/** A 32-bit number. */
const u32: RDataField<number> = {
  decode(r, end) {
    need(r, 4, end, "32-bit field");
    const v = r.dv.getUint32(r.off);
    r.off += 4;
    return v;
  },
  encode: (w, v) => w.u32(num(v, 0xffffffff, "32-bit field")),
};

function num(v: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new DnsEncodeError(what, `${v} is not an integer from 0 to ${max}`);
  }
  return v;
}

function address(size: 4 | 16): RDataField<string> {
  return {
    decode(r, end) {
      need(r, size, end, `IPv${size === 4 ? 4 : 6} address`);
      const v = formatIP(r.b.subarray(r.off, r.off + size));
      r.off += size;
      return v;
    },
    encode(w, v) {
      const bytes = size === 4 ? parseIPv4(v) : parseIPv6(v);
      if (!bytes) {
        throw new DnsEncodeError(`IPv${size === 4 ? 4 : 6} address`, `"${v}" does not parse`);
      }
      w.bytes(bytes);
    },
  };
}

/** A domain name; compressed on encoding only where the type allows it. */
const name: RDataField<string> = {
  decode: (r, end) => {
    const v = readName(r, end);
    if (r.off > end) throw new DnsDecodeError("name runs past the record data", r.off);
    return v;
  },
  encode: (w, v, compress) => writeName(w, v, compress),
};

/** `<character-string>`s up to the end of the data, as text (one char per byte, latin1). */
const characterStrings: RDataField<string[]> = {
  decode(r, end) {
    const out: string[] = [];
    while (r.off < end) {
      const len = r.b[r.off];
      need(r, 1 + len, end, "character-string");
      let s = "";
      for (let i = r.off + 1; i <= r.off + len; i++) s += String.fromCharCode(r.b[i]);
      out.push(s);
      r.off += 1 + len;
    }
    return out;
  },
  encode(w, v) {
    for (const s of v) {
      if (s.length > 255) {
        throw new DnsEncodeError("character-string", `${s.length} bytes (at most 255)`);
      }
      w.u8(s.length);
      for (let i = 0; i < s.length; i++) w.u8(num(s.charCodeAt(i), 0xff, "character-string byte"));
    }
  },
};

/** One EDNS0 option (RFC 6891 section 6.1.2): a code and its data. */
export interface EdnsOption {
  /** `OPTION-CODE`, e.g. 10 for a cookie. */
  code: number;
  /** `OPTION-DATA`. */
  data: Uint8Array;
}

/** EDNS options up to the end of the data. */
const ednsOptions: RDataField<EdnsOption[]> = {
  decode(r, end) {
    const out: EdnsOption[] = [];
    while (r.off < end) {
      need(r, 4, end, "EDNS option header");
      const code = r.dv.getUint16(r.off);
      const len = r.dv.getUint16(r.off + 2);
      r.off += 4;
      need(r, len, end, `EDNS option ${code}`);
      out.push({ code, data: r.b.slice(r.off, r.off + len) });
      r.off += len;
    }
    return out;
  },
  encode(w, v) {
    for (const o of v) {
      w.u16(num(o.code, 0xffff, "EDNS option code"));
      w.u16(num(o.data.length, 0xffff, "EDNS option length"));
      w.bytes(o.data);
    }
  },
};

/** The value of a record type's data, from its field declaration. */
type RDataOf<D> = { [K in keyof D]: D[K] extends RDataField<infer T> ? T : never };

/** A record type: its code, its data's fields in wire order, and whether names compress. */
export interface RecordTypeDef<T> {
  /** The `TYPE` code. */
  readonly code: number;
  /** The data's fields in wire order: each a key and the codec of its value. */
  readonly fields: readonly (readonly [string, unknown])[];
  /** Whether names in the data may be compressed when encoding (RFC 3597 section 4). */
  readonly compress: boolean;
  /** Phantom: the data's type. */
  readonly _value?: T;
}

function rtype<D extends Record<string, RDataField<unknown>>>(
  code: number,
  fields: D,
  compress = false,
): RecordTypeDef<RDataOf<D>> {
  return { code, fields: Object.entries(fields), compress };
}

/**
 * The data of each known record type, as decoded (the type that {@linkcode RECORD_TYPES} must
 * produce: the compiler checks each declared field list against it).
 */
export interface RecordDataMap {
  /** `A` (RFC 1035): an IPv4 address. */
  A: { address: string };
  /** `NS`: a name server. */
  NS: { host: string };
  /** `CNAME`: the canonical name. */
  CNAME: { target: string };
  /** `SOA`: the zone's start of authority. */
  SOA: {
    mname: string;
    rname: string;
    serial: number;
    refresh: number;
    retry: number;
    expire: number;
    minimum: number;
  };
  /** `PTR`: the name an address (or other name) points to. */
  PTR: { target: string };
  /** `MX`: a mail exchanger. */
  MX: { preference: number; exchange: string };
  /** `TXT`: character-strings, one char per byte. */
  TXT: { texts: string[] };
  /** `AAAA` (RFC 3596): an IPv6 address. */
  AAAA: { address: string };
  /** `SRV` (RFC 2782). */
  SRV: { priority: number; weight: number; port: number; target: string };
  /** `OPT` (RFC 6891): EDNS options. */
  OPT: { options: EdnsOption[] };
}

/**
 * The record types the codec knows, by mnemonic: each with its `TYPE` code and its data's fields.
 * This one table drives encoding and decoding; a type not here is kept as raw bytes.
 *
 * @example
 * ```ts
 * import { RECORD_TYPES } from "./message.ts";
 * RECORD_TYPES.AAAA.code; // 28
 * ```
 */
export const RECORD_TYPES: {
  readonly [K in keyof RecordDataMap]: RecordTypeDef<RecordDataMap[K]>;
} = {
  A: rtype(1, { address: address(4) }),
  NS: rtype(2, { host: name }, true),
  CNAME: rtype(5, { target: name }, true),
  SOA: rtype(6, {
    mname: name,
    rname: name,
    serial: u32,
    refresh: u32,
    retry: u32,
    expire: u32,
    minimum: u32,
  }, true),
  PTR: rtype(12, { target: name }, true),
  MX: rtype(15, { preference: u16, exchange: name }, true),
  TXT: rtype(16, { texts: characterStrings }),
  AAAA: rtype(28, { address: address(16) }),
  SRV: rtype(33, { priority: u16, weight: u16, port: u16, target: name }),
  OPT: rtype(41, { options: ednsOptions }),
};

/** The mnemonic of a known record type, e.g. `"AAAA"`. */
export type RecordType = keyof typeof RECORD_TYPES;

/** A question's type: a known record type, `"ANY"`, or a code the codec does not name. */
export type QuestionType = RecordType | "ANY" | number;

/** `QTYPE *` (255). */
const ANY_CODE = 255;

const CODE_NAMES = new Map<number, RecordType | "ANY">([
  ...(Object.entries(RECORD_TYPES) as [RecordType, RecordTypeDef<unknown>][]).map((
    [k, d],
  ) => [d.code, k] as const),
  [ANY_CODE, "ANY"],
]);

/**
 * The `TYPE` code of a type given by mnemonic or code.
 *
 * @example
 * ```ts
 * import { typeCode } from "./message.ts";
 * typeCode("PTR"); // 12
 * ```
 * @param type A mnemonic or a code.
 * @returns The code.
 */
export function typeCode(type: QuestionType): number {
  if (typeof type === "number") return type;
  return type === "ANY" ? ANY_CODE : RECORD_TYPES[type].code;
}

/** The data of a record of a known type. */
export type RecordData<K extends RecordType> = RecordDataMap[K];

/** A record of a known type: the mnemonic discriminates the data. */
export type KnownRecord = {
  [K in RecordType]: {
    /** The owner name. */
    name: string;
    /** The type's mnemonic. */
    type: K;
    /** `CLASS` (for `OPT`, the sender's UDP payload size). */
    class: number;
    /** `TTL` in seconds (for `OPT`, the extended RCODE, version and flags). */
    ttl: number;
    /** The decoded data. */
    data: RecordData<K>;
  };
}[RecordType];

/** A record of a type the codec does not know: its data kept as bytes. */
export interface UnknownRecord {
  /** The owner name. */
  name: string;
  /** The `TYPE` code. */
  type: number;
  /** `CLASS`. */
  class: number;
  /** `TTL` in seconds. */
  ttl: number;
  /** The raw `RDATA`. */
  data: Uint8Array;
}

/** A resource record. */
export type ResourceRecord = KnownRecord | UnknownRecord;

/** A question. */
export interface Question {
  /** `QNAME`. */
  name: string;
  /** `QTYPE`. */
  type: QuestionType;
  /** `QCLASS` (decoded always; {@linkcode CLASS_IN} when left out on encoding). */
  class: number;
}

/** The header's fields (without the counts, which come from the sections). */
export interface DnsHeader {
  /** `ID`. */
  id: number;
  /** `QR`: a response. */
  qr: boolean;
  /** `OPCODE`. */
  opcode: number;
  /** `AA`: an authoritative answer. */
  aa: boolean;
  /** `TC`: truncated. */
  tc: boolean;
  /** `RD`: recursion desired. */
  rd: boolean;
  /** `RA`: recursion available. */
  ra: boolean;
  /** `Z`: the reserved bit. */
  z: boolean;
  /** `AD`: authentic data (RFC 4035). */
  ad: boolean;
  /** `CD`: checking disabled (RFC 4035). */
  cd: boolean;
  /** `RCODE` (the low 4 bits). */
  rcode: number;
}

/** The header's flag bits, declared once: name, shift, mask. */
const FLAGS: readonly (readonly [Exclude<keyof DnsHeader, "id">, number, number])[] = [
  ["qr", 15, 1],
  ["opcode", 11, 0xf],
  ["aa", 10, 1],
  ["tc", 9, 1],
  ["rd", 8, 1],
  ["ra", 7, 1],
  ["z", 6, 1],
  ["ad", 5, 1],
  ["cd", 4, 1],
  ["rcode", 0, 0xf],
];

/** A decoded DNS message. */
export interface DnsMessage extends DnsHeader {
  /** The question section. */
  questions: Question[];
  /** The answer section. */
  answers: ResourceRecord[];
  /** The authority section. */
  authorities: ResourceRecord[];
  /** The additional section (where an `OPT` record lives). */
  additionals: ResourceRecord[];
}

/** What {@linkcode encodeMessage} takes: every field but `id` may be left out. */
export type DnsMessageInput = Partial<Omit<DnsMessage, "questions">> & {
  /** `ID`. */
  id: number;
  /** The questions; `class` defaults to {@linkcode CLASS_IN}. */
  questions?: (Omit<Question, "class"> & { class?: number })[];
};

// ---------------------------------------------------------------------------------------------
// Records

function readRecord(r: Reader): ResourceRecord {
  const at = r.off;
  const owner = readName(r, r.b.length);
  need(r, 10, r.b.length, "record header");
  const code = r.dv.getUint16(r.off);
  const cls = r.dv.getUint16(r.off + 2);
  const ttl = r.dv.getUint32(r.off + 4);
  const len = r.dv.getUint16(r.off + 8);
  r.off += 10;
  need(r, len, r.b.length, "record data");
  const end = r.off + len;
  const kind = CODE_NAMES.get(code);
  if (kind === undefined || kind === "ANY") {
    const data = r.b.slice(r.off, end);
    r.off = end;
    return { name: owner, type: code, class: cls, ttl, data };
  }
  const data: Record<string, unknown> = {};
  for (const [key, field] of RECORD_TYPES[kind].fields) {
    data[key] = (field as RDataField<unknown>).decode(r, end);
  }
  if (r.off !== end) {
    throw new DnsDecodeError(
      `${kind} record data of ${len} bytes holds ${len - (end - r.off)} bytes of fields`,
      at,
    );
  }
  return { name: owner, type: kind, class: cls, ttl, data } as KnownRecord;
}

function writeRecord(w: Writer, rr: ResourceRecord): void {
  writeName(w, rr.name, true);
  w.u16(typeCode(rr.type));
  w.u16(num(rr.class, 0xffff, "record class"));
  w.u32(num(rr.ttl, 0xffffffff, "record TTL"));
  const lenAt = w.len;
  w.u16(0);
  if (typeof rr.type === "number") {
    w.bytes(rr.data as Uint8Array);
  } else {
    const def = RECORD_TYPES[rr.type] as RecordTypeDef<unknown>;
    const data = rr.data as Record<string, unknown>;
    for (const [key, field] of def.fields) {
      if (data[key] === undefined) {
        throw new DnsEncodeError(`${rr.type} record "${rr.name}"`, `"${key}" is missing`);
      }
      (field as RDataField<unknown>).encode(w, data[key], def.compress);
    }
  }
  const len = w.len - lenAt - 2;
  if (len > 0xffff) throw new DnsEncodeError(`record "${rr.name}"`, `data of ${len} bytes`);
  w.dv.setUint16(lenAt, len);
}

// ---------------------------------------------------------------------------------------------
// Messages

/**
 * Decodes a DNS message.
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeMessage } from "./message.ts";
 * const m = decodeMessage(encodeMessage({ id: 1, qr: true, answers: [
 *   { name: "web", type: "A", class: 1, ttl: 0, data: { address: "198.51.100.2" } },
 * ] }));
 * m.answers[0].data; // { address: "198.51.100.2" }
 * ```
 * @param bytes The message.
 * @returns The decoded message.
 * @throws {DnsDecodeError} On anything malformed, with the offset.
 */
export function decodeMessage(bytes: Uint8Array): DnsMessage {
  const r: Reader = {
    b: bytes,
    dv: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    off: 0,
  };
  need(r, HEADER_SIZE, bytes.length, "header");
  const header = decodeHeader(bytes);
  const counts = [4, 6, 8, 10].map((o) => r.dv.getUint16(o));
  r.off = HEADER_SIZE;
  const questions: Question[] = [];
  for (let i = 0; i < counts[0]; i++) {
    const qname = readName(r, bytes.length);
    need(r, 4, bytes.length, "question");
    const code = r.dv.getUint16(r.off);
    questions.push({
      name: qname,
      type: CODE_NAMES.get(code) ?? code,
      class: r.dv.getUint16(r.off + 2),
    });
    r.off += 4;
  }
  const sections: ResourceRecord[][] = [[], [], []];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]; i++) sections[s].push(readRecord(r));
  }
  if (r.off !== bytes.length) {
    throw new DnsDecodeError(`${bytes.length - r.off} bytes after the last record`, r.off);
  }
  return {
    ...header,
    questions,
    answers: sections[0],
    authorities: sections[1],
    additionals: sections[2],
  };
}

/**
 * Decodes only the header of a message (to answer FORMERR with the right ID when the rest is
 * malformed).
 *
 * @example
 * ```ts
 * import { decodeHeader } from "./message.ts";
 * decodeHeader(new Uint8Array([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])).rd; // true
 * ```
 * @param bytes At least the 12 bytes of a header.
 * @returns The header's fields.
 * @throws {DnsDecodeError} When there are fewer than 12 bytes.
 */
export function decodeHeader(bytes: Uint8Array): DnsHeader {
  if (bytes.length < HEADER_SIZE) {
    throw new DnsDecodeError(`header needs 12 bytes, ${bytes.length} left`, 0);
  }
  const flags = (bytes[2] << 8) | bytes[3];
  const h: Record<string, number | boolean> = { id: (bytes[0] << 8) | bytes[1] };
  for (const [key, shift, mask] of FLAGS) {
    const v = (flags >> shift) & mask;
    h[key] = mask === 1 ? v === 1 : v;
  }
  return h as unknown as DnsHeader;
}

/** Options of {@linkcode encodeMessage}. */
export interface EncodeOptions {
  /**
   * How names are compressed: `"all"` (default) points at any earlier suffix, `"whole"` only at
   * an earlier identical name (as dnsmasq does), `"none"` never.
   */
  compression?: Compression;
  /**
   * The largest message allowed (a UDP client's limit). A larger message keeps its questions,
   * as many answers as fit and its `OPT` record, drops the authority and other additional
   * records, and is marked truncated (`TC`).
   */
  maxSize?: number;
}

/**
 * Encodes a DNS message.
 *
 * @example Truncation to a UDP client's limit
 * ```ts
 * import { encodeMessage } from "./message.ts";
 * const answers = Array.from({ length: 40 }, (_, i) => ({
 *   name: "big", type: "A" as const, class: 1, ttl: 0, data: { address: `198.51.100.${i + 1}` },
 * }));
 * const bytes = encodeMessage({ id: 1, qr: true, answers }, { maxSize: 512 });
 * bytes.length <= 512; // true, with TC set
 * ```
 * @param msg The message; left-out flags are false, left-out sections empty.
 * @param options Compression and the size limit.
 * @returns The wire bytes.
 * @throws {DnsEncodeError} When a value cannot be encoded.
 */
export function encodeMessage(msg: DnsMessageInput, options: EncodeOptions = {}): Uint8Array {
  const full = encodeOnce(msg, options.compression ?? "all");
  const max = options.maxSize;
  if (max === undefined || full.length <= max) return full;
  const answers = msg.answers ?? [];
  const opt = (msg.additionals ?? []).filter((rr) => typeCode(rr.type) === RECORD_TYPES.OPT.code);
  const cut = (n: number) =>
    encodeOnce(
      { ...msg, tc: true, answers: answers.slice(0, n), authorities: [], additionals: opt },
      options.compression ?? "all",
    );
  // The most answers that fit: a binary search over the count.
  let lo = 0;
  let hi = answers.length;
  let best = cut(0);
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    const b = cut(mid);
    if (b.length <= max) {
      lo = mid;
      best = b;
    } else hi = mid - 1;
  }
  return best;
}

function encodeOnce(msg: DnsMessageInput, compression: Compression): Uint8Array {
  const w = new Writer(compression);
  w.u16(num(msg.id, 0xffff, "message ID"));
  let flags = 0;
  for (const [key, shift, mask] of FLAGS) {
    const v = msg[key];
    const n = typeof v === "boolean" ? (v ? 1 : 0) : num(v ?? 0, mask, `header ${key}`);
    flags |= n << shift;
  }
  w.u16(flags);
  const questions = msg.questions ?? [];
  const sections = [msg.answers ?? [], msg.authorities ?? [], msg.additionals ?? []];
  w.u16(num(questions.length, 0xffff, "question count"));
  for (const s of sections) w.u16(num(s.length, 0xffff, "record count"));
  for (const q of questions) {
    writeName(w, q.name, true);
    w.u16(num(typeCode(q.type), 0xffff, "question type"));
    w.u16(num(q.class ?? CLASS_IN, 0xffff, "question class"));
  }
  for (const s of sections) for (const rr of s) writeRecord(w, rr);
  return w.b.slice(0, w.len);
}

// ---------------------------------------------------------------------------------------------
// EDNS0 (RFC 6891)

/** A message's EDNS0 parameters, from its `OPT` record. */
export interface Edns {
  /** The sender's UDP payload size (the `OPT` record's class). */
  udpSize: number;
  /** The upper 8 bits of the 12-bit RCODE. */
  extendedRcode: number;
  /** The EDNS version (0). */
  version: number;
  /** `DO`: DNSSEC OK. */
  dnssecOk: boolean;
  /** The options (cookies, padding, …). */
  options: EdnsOption[];
}

/**
 * A message's EDNS0 parameters, or `undefined` when it has no `OPT` record.
 *
 * @example
 * ```ts
 * import { ednsOf, ednsRecord } from "./message.ts";
 * ednsOf({ additionals: [ednsRecord({ udpSize: 1232 })] })?.udpSize; // 1232
 * ```
 * @param msg The message (only its additional section is read).
 * @returns The parameters.
 */
export function ednsOf(msg: Pick<DnsMessage, "additionals">): Edns | undefined {
  for (const rr of msg.additionals) {
    if (rr.type !== "OPT") continue;
    return {
      udpSize: rr.class,
      extendedRcode: rr.ttl >>> 24,
      version: (rr.ttl >>> 16) & 0xff,
      dnssecOk: (rr.ttl & 0x8000) !== 0,
      options: rr.data.options,
    };
  }
  return undefined;
}

/**
 * Makes an `OPT` record carrying EDNS0 parameters.
 *
 * @example
 * ```ts
 * import { ednsRecord } from "./message.ts";
 * ednsRecord({ udpSize: 1232 }).class; // 1232
 * ```
 * @param e The parameters; left-out ones are 0, false or empty.
 * @returns The record, for the additional section.
 */
export function ednsRecord(e: Partial<Edns>): ResourceRecord {
  const ttl = (((e.extendedRcode ?? 0) & 0xff) << 24 | ((e.version ?? 0) & 0xff) << 16 |
    (e.dnssecOk ? 0x8000 : 0)) >>> 0;
  return {
    name: "",
    type: "OPT",
    class: e.udpSize ?? UDP_PLAIN_LIMIT,
    ttl,
    data: { options: e.options ?? [] },
  };
}
