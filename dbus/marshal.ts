/**
 * The D-Bus wire format, driven by type signatures: one parser turns a signature (`"sa{sv}"`)
 * into a type tree, and one encoder and one decoder walk that tree, so every type is declared
 * once. Covers the basic types (`y b n q i u x t d s o g`), arrays (`a…`), structs (`(…)`),
 * dict entries (`a{…}`) and variants (`v`); unix fds (`h`) are refused.
 *
 * JavaScript values: integers up to 32 bits and doubles are numbers, 64-bit integers bigints,
 * booleans booleans, strings/object paths/signatures strings, arrays arrays, structs tuples
 * (arrays), dicts `Map`s (a plain object is accepted when encoding a dict with string keys), and
 * variants {@linkcode Variant}s.
 *
 * Alignment follows the specification: each value starts at a multiple of its type's alignment
 * (1, 2, 4 or 8), counted from the start of the message.
 *
 * @example Encode and decode a firewalld zone's settings
 * ```ts
 * import { decodeBody, encodeBody, Variant } from "./marshal.ts";
 * const bytes = encodeBody("sa{sv}", ["nslink", { target: new Variant("s", "ACCEPT") }]);
 * decodeBody("sa{sv}", bytes); // ["nslink", Map { "target" => Variant { signature: "s", value: "ACCEPT" } }]
 * ```
 *
 * @module
 */

/** A variant (`v`): a value with its own signature. */
export class Variant {
  /** The value's signature, one complete type (e.g. `s`, `as`, `a{sv}`). */
  readonly signature: string;
  /** The value. */
  readonly value: unknown;

  /**
   * Makes a variant.
   *
   * @example
   * ```ts
   * import { Variant } from "./marshal.ts";
   * new Variant("s", "ACCEPT");
   * ```
   * @param signature One complete type.
   * @param value The value.
   */
  constructor(signature: string, value: unknown) {
    parseSignature(signature, 1);
    this.signature = signature;
    this.value = value;
  }
}

/** Raised for a malformed signature, a value that does not fit it, or malformed bytes. */
export class MarshalError extends Error {
  /**
   * Makes the error.
   *
   * @param message What is wrong, naming the signature.
   */
  constructor(message: string) {
    super(message);
    this.name = "MarshalError";
  }
}

/** One parsed type of a signature. */
export type DBusType =
  | { readonly kind: "basic"; readonly code: string }
  | { readonly kind: "array"; readonly element: DBusType }
  | { readonly kind: "struct"; readonly fields: readonly DBusType[] }
  | { readonly kind: "dict"; readonly key: DBusType; readonly value: DBusType }
  | { readonly kind: "variant" };

const BASIC = "ybnqiuxtdsog";
const ALIGN: Record<string, number> = {
  y: 1,
  b: 4,
  n: 2,
  q: 2,
  i: 4,
  u: 4,
  x: 8,
  t: 8,
  d: 8,
  s: 4,
  o: 4,
  g: 1,
};

const cache = new Map<string, DBusType[]>();

/**
 * Parses a signature into its complete types.
 *
 * @example
 * ```ts
 * import { parseSignature } from "./marshal.ts";
 * parseSignature("sa{sv}").length; // 2
 * ```
 * @param sig The signature (at most 255 bytes).
 * @param exactly Require exactly this many complete types.
 * @returns The types.
 */
export function parseSignature(sig: string, exactly?: number): DBusType[] {
  let types = cache.get(sig);
  if (types === undefined) {
    if (sig.length > 255) throw new MarshalError(`Signature "${sig}" is longer than 255 bytes`);
    types = [];
    let pos = 0;
    const one = (depth: number): DBusType => {
      if (depth > 64) throw new MarshalError(`Signature "${sig}" nests too deeply`);
      const c = sig[pos++];
      if (c === undefined) throw new MarshalError(`Signature "${sig}" ends early`);
      if (BASIC.includes(c)) return { kind: "basic", code: c };
      if (c === "v") return { kind: "variant" };
      if (c === "a") {
        if (sig[pos] === "{") {
          pos++;
          const key = one(depth + 1);
          if (key.kind !== "basic") {
            throw new MarshalError(`Signature "${sig}": a dict key must be a basic type`);
          }
          const value = one(depth + 1);
          if (sig[pos++] !== "}") throw new MarshalError(`Signature "${sig}": unclosed "{"`);
          return { kind: "array", element: { kind: "dict", key, value } };
        }
        return { kind: "array", element: one(depth + 1) };
      }
      if (c === "(") {
        const fields: DBusType[] = [];
        while (sig[pos] !== ")") {
          if (pos >= sig.length) throw new MarshalError(`Signature "${sig}": unclosed "("`);
          fields.push(one(depth + 1));
        }
        pos++;
        if (fields.length === 0) throw new MarshalError(`Signature "${sig}": empty struct`);
        return { kind: "struct", fields };
      }
      throw new MarshalError(`Signature "${sig}": unsupported type code "${c}"`);
    };
    while (pos < sig.length) types.push(one(0));
    cache.set(sig, types);
  }
  if (exactly !== undefined && types.length !== exactly) {
    throw new MarshalError(
      `Signature "${sig}" holds ${types.length} complete types, expected ${exactly}`,
    );
  }
  return types;
}

/**
 * The signature text of a parsed type.
 *
 * @example
 * ```ts
 * import { parseSignature, signatureOf } from "./marshal.ts";
 * signatureOf(parseSignature("a{sv}")[0]); // "a{sv}"
 * ```
 * @param t The type.
 * @returns Its signature.
 */
export function signatureOf(t: DBusType): string {
  switch (t.kind) {
    case "basic":
      return t.code;
    case "variant":
      return "v";
    case "array":
      return "a" + signatureOf(t.element);
    case "struct":
      return "(" + t.fields.map(signatureOf).join("") + ")";
    case "dict":
      return "{" + signatureOf(t.key) + signatureOf(t.value) + "}";
  }
}

function alignOf(t: DBusType): number {
  switch (t.kind) {
    case "basic":
      return ALIGN[t.code];
    case "variant":
      return 1;
    case "array":
      return 4;
    case "struct":
    case "dict":
      return 8;
  }
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/**
 * Writes D-Bus values into a growing buffer. `base` is where the buffer starts within the whole
 * message (alignment counts from the message's start).
 */
export class Writer {
  #buf = new Uint8Array(256);
  #dv = new DataView(this.#buf.buffer);
  #len = 0;
  #base: number;

  /**
   * Makes a writer.
   *
   * @param base The offset of the first byte within the message (for alignment).
   */
  constructor(base = 0) {
    this.#base = base;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }

  /** @returns A copy of the bytes written. */
  bytes(): Uint8Array<ArrayBuffer> {
    return this.#buf.slice(0, this.#len);
  }

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < this.#len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#dv = new DataView(next.buffer);
  }

  /**
   * Pads with zeros to a multiple of `n` (counted from the message's start).
   *
   * @param n 1, 2, 4 or 8.
   */
  align(n: number): void {
    const pad = (n - ((this.#base + this.#len) % n)) % n;
    this.#room(pad);
    this.#buf.fill(0, this.#len, this.#len + pad);
    this.#len += pad;
  }

  /**
   * Writes one value of type `t`.
   *
   * @param t The type.
   * @param v The value.
   * @param where Names the value in errors.
   */
  write(t: DBusType, v: unknown, where = "value"): void {
    switch (t.kind) {
      case "basic":
        return this.#basic(t.code, v, where);
      case "variant": {
        if (!(v instanceof Variant)) {
          throw new MarshalError(`${where}: expected a Variant for "v", got ${typeof v}`);
        }
        this.#basic("g", v.signature, where);
        this.write(parseSignature(v.signature, 1)[0], v.value, where);
        return;
      }
      case "struct": {
        if (!Array.isArray(v) || v.length !== t.fields.length) {
          throw new MarshalError(
            `${where}: expected a tuple of ${t.fields.length} for "${signatureOf(t)}"`,
          );
        }
        this.align(8);
        t.fields.forEach((f, i) => this.write(f, v[i], `${where}[${i}]`));
        return;
      }
      case "dict": {
        const [k, val] = v as [unknown, unknown];
        this.align(8);
        this.write(t.key, k, `${where} key`);
        this.write(t.value, val, `${where}[${String(k)}]`);
        return;
      }
      case "array": {
        let items: unknown[];
        if (t.element.kind === "dict") {
          if (v instanceof Map) items = [...v.entries()];
          else if (v !== null && typeof v === "object" && !Array.isArray(v)) {
            items = Object.entries(v);
          } else if (Array.isArray(v)) items = v;
          else throw new MarshalError(`${where}: expected a Map for "${signatureOf(t)}"`);
        } else if (Array.isArray(v)) items = v;
        else throw new MarshalError(`${where}: expected an array for "${signatureOf(t)}"`);
        this.align(4);
        const lenAt = this.#len;
        this.#room(4);
        this.#len += 4;
        this.align(alignOf(t.element));
        const start = this.#len;
        items.forEach((item, i) => this.write(t.element, item, `${where}[${i}]`));
        const n = this.#len - start;
        if (n > 1 << 26) throw new MarshalError(`${where}: array of ${n} bytes exceeds 64 MiB`);
        this.#dv.setUint32(lenAt, n, true);
        return;
      }
    }
  }

  #basic(code: string, v: unknown, where: string): void {
    const int = (min: number, max: number): number => {
      if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
        throw new MarshalError(`${where}: ${String(v)} does not fit "${code}"`);
      }
      return v;
    };
    this.align(ALIGN[code]);
    this.#room(8);
    const dv = this.#dv;
    const at = this.#len;
    switch (code) {
      case "y":
        this.#buf[at] = int(0, 255);
        this.#len += 1;
        return;
      case "b":
        if (typeof v !== "boolean") throw new MarshalError(`${where}: expected a boolean`);
        dv.setUint32(at, v ? 1 : 0, true);
        this.#len += 4;
        return;
      case "n":
        dv.setInt16(at, int(-0x8000, 0x7fff), true);
        this.#len += 2;
        return;
      case "q":
        dv.setUint16(at, int(0, 0xffff), true);
        this.#len += 2;
        return;
      case "i":
        dv.setInt32(at, int(-0x80000000, 0x7fffffff), true);
        this.#len += 4;
        return;
      case "u":
        dv.setUint32(at, int(0, 0xffffffff), true);
        this.#len += 4;
        return;
      case "x":
      case "t": {
        if (typeof v !== "bigint") throw new MarshalError(`${where}: expected a bigint`);
        if (code === "x") dv.setBigInt64(at, BigInt.asIntN(64, v), true);
        else dv.setBigUint64(at, BigInt.asUintN(64, v), true);
        if ((code === "x" ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v)) !== v) {
          throw new MarshalError(`${where}: ${v} does not fit "${code}"`);
        }
        this.#len += 8;
        return;
      }
      case "d":
        if (typeof v !== "number") throw new MarshalError(`${where}: expected a number`);
        dv.setFloat64(at, v, true);
        this.#len += 8;
        return;
      case "s":
      case "o":
      case "g": {
        if (typeof v !== "string") throw new MarshalError(`${where}: expected a string`);
        if (v.includes("\0")) throw new MarshalError(`${where}: a string cannot hold NUL`);
        if (code === "o" && !/^\/$|^(\/[A-Za-z0-9_]+)+$/.test(v)) {
          throw new MarshalError(`${where}: invalid object path "${v}"`);
        }
        if (code === "g") parseSignature(v);
        const b = utf8.encode(v);
        if (code === "g") {
          this.#buf[at] = b.length;
          this.#len += 1;
        } else {
          dv.setUint32(at, b.length, true);
          this.#len += 4;
        }
        this.#room(b.length + 1);
        this.#buf.set(b, this.#len);
        this.#buf[this.#len + b.length] = 0;
        this.#len += b.length + 1;
        return;
      }
    }
  }
}

/** Reads D-Bus values from bytes; `base` is the offset of `bytes[0]` within the message. */
export class Reader {
  #bytes: Uint8Array;
  #dv: DataView;
  #pos = 0;
  #base: number;
  #le: boolean;

  /**
   * Makes a reader.
   *
   * @param bytes The bytes.
   * @param littleEndian The message's byte order (`l` in its header).
   * @param base The offset of `bytes[0]` within the message (for alignment).
   */
  constructor(bytes: Uint8Array, littleEndian = true, base = 0) {
    this.#bytes = bytes;
    this.#dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#le = littleEndian;
    this.#base = base;
  }

  /** Where the next read starts. */
  get position(): number {
    return this.#pos;
  }

  /**
   * Skips padding to a multiple of `n`.
   *
   * @param n 1, 2, 4 or 8.
   */
  align(n: number): void {
    this.#pos += (n - ((this.#base + this.#pos) % n)) % n;
    this.#need(0);
  }

  #need(n: number): void {
    if (this.#pos + n > this.#bytes.byteLength) {
      throw new MarshalError(
        `Truncated D-Bus data: need ${n} bytes at ${this.#pos} of ${this.#bytes.byteLength}`,
      );
    }
  }

  /**
   * Reads one value of type `t`.
   *
   * @param t The type.
   * @param depth Variant nesting so far (bounded).
   * @returns The value.
   */
  read(t: DBusType, depth = 0): unknown {
    switch (t.kind) {
      case "basic":
        return this.#basic(t.code);
      case "variant": {
        if (depth > 64) throw new MarshalError("Variants nest too deeply");
        const sig = this.#basic("g") as string;
        return new Variant(sig, this.read(parseSignature(sig, 1)[0], depth + 1));
      }
      case "struct":
        this.align(8);
        return t.fields.map((f) => this.read(f, depth));
      case "dict": {
        this.align(8);
        return [this.read(t.key, depth), this.read(t.value, depth)];
      }
      case "array": {
        this.align(4);
        this.#need(4);
        const n = this.#dv.getUint32(this.#pos, this.#le);
        this.#pos += 4;
        if (n > 1 << 26) throw new MarshalError(`Array of ${n} bytes exceeds 64 MiB`);
        this.align(alignOf(t.element));
        const end = this.#pos + n;
        if (end > this.#bytes.byteLength) throw new MarshalError("Array runs past the data");
        if (t.element.kind === "dict") {
          const m = new Map<unknown, unknown>();
          while (this.#pos < end) {
            const [k, v] = this.read(t.element, depth) as [unknown, unknown];
            m.set(k, v);
          }
          return m;
        }
        const out: unknown[] = [];
        while (this.#pos < end) out.push(this.read(t.element, depth));
        if (this.#pos !== end) throw new MarshalError("Array element runs past its array");
        return out;
      }
    }
  }

  #basic(code: string): unknown {
    this.align(ALIGN[code]);
    const dv = this.#dv;
    const at = this.#pos;
    const le = this.#le;
    switch (code) {
      case "y":
        this.#need(1);
        this.#pos += 1;
        return this.#bytes[at];
      case "b": {
        this.#need(4);
        this.#pos += 4;
        const b = dv.getUint32(at, le);
        if (b > 1) throw new MarshalError(`Invalid boolean ${b}`);
        return b === 1;
      }
      case "n":
        this.#need(2);
        this.#pos += 2;
        return dv.getInt16(at, le);
      case "q":
        this.#need(2);
        this.#pos += 2;
        return dv.getUint16(at, le);
      case "i":
        this.#need(4);
        this.#pos += 4;
        return dv.getInt32(at, le);
      case "u":
        this.#need(4);
        this.#pos += 4;
        return dv.getUint32(at, le);
      case "x":
        this.#need(8);
        this.#pos += 8;
        return dv.getBigInt64(at, le);
      case "t":
        this.#need(8);
        this.#pos += 8;
        return dv.getBigUint64(at, le);
      case "d":
        this.#need(8);
        this.#pos += 8;
        return dv.getFloat64(at, le);
      default: { // s, o, g
        let n: number;
        if (code === "g") {
          this.#need(1);
          n = this.#bytes[at];
          this.#pos += 1;
        } else {
          this.#need(4);
          n = dv.getUint32(at, le);
          this.#pos += 4;
        }
        this.#need(n + 1);
        if (this.#bytes[this.#pos + n] !== 0) throw new MarshalError("String not NUL-terminated");
        let s: string;
        try {
          s = utf8Strict.decode(this.#bytes.subarray(this.#pos, this.#pos + n));
        } catch {
          throw new MarshalError("String is not valid UTF-8");
        }
        this.#pos += n + 1;
        return s;
      }
    }
  }
}

/**
 * Encodes values by a signature, as a message body (starting 8-aligned).
 *
 * @example
 * ```ts
 * import { encodeBody } from "./marshal.ts";
 * encodeBody("su", ["nslink", 1]).length; // 16
 * ```
 * @param signature The body's signature.
 * @param values One value per complete type.
 * @returns The bytes.
 */
export function encodeBody(signature: string, values: readonly unknown[]): Uint8Array<ArrayBuffer> {
  const types = parseSignature(signature);
  if (types.length !== values.length) {
    throw new MarshalError(
      `Signature "${signature}" needs ${types.length} values, got ${values.length}`,
    );
  }
  const w = new Writer(0);
  types.forEach((t, i) => w.write(t, values[i], `argument ${i}`));
  return w.bytes();
}

/**
 * Decodes a message body by its signature.
 *
 * @example
 * ```ts
 * import { decodeBody, encodeBody } from "./marshal.ts";
 * decodeBody("as", encodeBody("as", [["a", "b"]])); // [["a", "b"]]
 * ```
 * @param signature The body's signature.
 * @param bytes The body.
 * @param littleEndian The message's byte order.
 * @returns One value per complete type.
 */
export function decodeBody(signature: string, bytes: Uint8Array, littleEndian = true): unknown[] {
  const r = new Reader(bytes, littleEndian, 0);
  const out = parseSignature(signature).map((t) => r.read(t));
  if (r.position !== bytes.byteLength) {
    throw new MarshalError(
      `Body of signature "${signature}" has ${bytes.byteLength - r.position} stray bytes`,
    );
  }
  return out;
}
