/**
 * D-Bus messages: the fixed header, the header fields and the body, declared by the header's own
 * signature `yyyyuua(yv)` and encoded with `marshal.ts`.
 *
 * | offset | size | field                                              |
 * |--------|------|----------------------------------------------------|
 * | 0      | 1    | byte order: `l` (little endian) or `B`             |
 * | 1      | 1    | type: 1 method call, 2 return, 3 error, 4 signal   |
 * | 2      | 1    | flags: 1 `NO_REPLY_EXPECTED`, 2 `NO_AUTO_START`    |
 * | 3      | 1    | protocol version (1)                               |
 * | 4      | 4    | body length                                        |
 * | 8      | 4    | serial (non-zero)                                  |
 * | 12     | 4+n  | header fields `a(yv)`: code and variant            |
 * | …      | 0-7  | padding to 8, then the body                        |
 *
 * @example Encode a call to the bus's `Hello`
 * ```ts
 * import { encodeMessage, MESSAGE_METHOD_CALL } from "./message.ts";
 * encodeMessage({
 *   type: MESSAGE_METHOD_CALL, serial: 1, path: "/org/freedesktop/DBus",
 *   interface: "org.freedesktop.DBus", member: "Hello", destination: "org.freedesktop.DBus",
 * });
 * ```
 *
 * @module
 */
import {
  decodeBody,
  encodeBody,
  MarshalError,
  parseSignature,
  Reader,
  Variant,
} from "./marshal.ts";

/** `METHOD_CALL` */
export const MESSAGE_METHOD_CALL = 1;
/** `METHOD_RETURN` */
export const MESSAGE_METHOD_RETURN = 2;
/** `ERROR` */
export const MESSAGE_ERROR = 3;
/** `SIGNAL` */
export const MESSAGE_SIGNAL = 4;
/** `NO_REPLY_EXPECTED` */
export const FLAG_NO_REPLY_EXPECTED = 1;
/** `NO_AUTO_START` */
export const FLAG_NO_AUTO_START = 2;

/** Header field codes and the type of each field's value. */
const FIELDS = {
  path: [1, "o"],
  interface: [2, "s"],
  member: [3, "s"],
  errorName: [4, "s"],
  replySerial: [5, "u"],
  destination: [6, "s"],
  sender: [7, "s"],
  signature: [8, "g"],
} as const;
const FIELD_BY_CODE = new Map<number, [keyof typeof FIELDS, string]>(
  Object.entries(FIELDS).map(([k, [code, sig]]) => [code, [k as keyof typeof FIELDS, sig]]),
);

/** One message, header and body. */
export interface DBusMessage {
  /** `MESSAGE_*`. */
  type: number;
  /** `FLAG_*`; default 0. */
  flags?: number;
  /** Non-zero, chosen by the sender. */
  serial: number;
  /** Object path (calls and signals). */
  path?: string;
  /** Interface (signals; optional for calls). */
  interface?: string;
  /** Method or signal name. */
  member?: string;
  /** Errors: the error's name, e.g. `org.freedesktop.DBus.Error.ServiceUnknown`. */
  errorName?: string;
  /** Replies and errors: the serial of the call answered. */
  replySerial?: number;
  /** The receiving connection's name. */
  destination?: string;
  /** The sending connection's unique name (set by the bus). */
  sender?: string;
  /** The body's signature; empty or absent for no body. */
  signature?: string;
  /** The body's values, one per complete type of `signature`. */
  body?: readonly unknown[];
}

/**
 * Encodes a message (little endian, protocol version 1).
 *
 * @example
 * ```ts ignore
 * socket.write(encodeMessage({ type: MESSAGE_METHOD_CALL, serial: 2, path: "/", member: "Ping" }));
 * ```
 * @param m The message.
 * @returns Its bytes.
 */
export function encodeMessage(m: DBusMessage): Uint8Array<ArrayBuffer> {
  const sig = m.signature ?? "";
  const body = sig === "" ? new Uint8Array(0) : encodeBody(sig, m.body ?? []);
  const fields: [number, Variant][] = [];
  for (const [name, [code, type]] of Object.entries(FIELDS)) {
    const v = m[name as keyof typeof FIELDS];
    if (v === undefined || (name === "signature" && v === "")) continue;
    fields.push([code, new Variant(type, v)]);
  }
  const head = encodeBody("yyyyuua(yv)", [
    "l".charCodeAt(0),
    m.type,
    m.flags ?? 0,
    1,
    body.byteLength,
    m.serial,
    fields,
  ]);
  const padded = (head.byteLength + 7) & ~7;
  const out = new Uint8Array(padded + body.byteLength);
  out.set(head, 0);
  out.set(body, padded);
  return out;
}

/**
 * How many bytes the message at the start of `bytes` takes, from its fixed header; `undefined`
 * while fewer than 16 bytes are there.
 *
 * @example
 * ```ts ignore
 * const n = messageLength(buffered); // read until buffered.length >= n
 * ```
 * @param bytes At least the message's first 16 bytes.
 * @returns The whole message's length.
 */
export function messageLength(bytes: Uint8Array): number | undefined {
  if (bytes.byteLength < 16) return undefined;
  const le = byteOrder(bytes[0]);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, 16);
  const bodyLen = dv.getUint32(4, le);
  const fieldsLen = dv.getUint32(12, le);
  const total = ((16 + fieldsLen + 7) & ~7) + bodyLen;
  if (total > 1 << 27) throw new MarshalError(`D-Bus message of ${total} bytes exceeds 128 MiB`);
  return total;
}

function byteOrder(b: number): boolean {
  if (b === 0x6c) return true; // 'l'
  if (b === 0x42) return false; // 'B'
  throw new MarshalError(`Invalid D-Bus byte order mark 0x${b.toString(16)}`);
}

/**
 * Decodes one whole message (either byte order).
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeMessage, MESSAGE_SIGNAL } from "./message.ts";
 * const m = decodeMessage(encodeMessage({
 *   type: MESSAGE_SIGNAL, serial: 7, path: "/a", interface: "b.c", member: "D",
 *   signature: "s", body: ["x"],
 * }));
 * m.body; // ["x"]
 * ```
 * @param bytes Exactly one message.
 * @returns The message.
 */
export function decodeMessage(bytes: Uint8Array): DBusMessage {
  const le = byteOrder(bytes[0]);
  const r = new Reader(bytes, le, 0);
  const [, type, flags, version, bodyLen, serial, fields] = parseSignature("yyyyuua(yv)").map((
    t,
  ) => r.read(t)) as [number, number, number, number, number, number, [number, Variant][]];
  if (version !== 1) throw new MarshalError(`Unsupported D-Bus protocol version ${version}`);
  const m: DBusMessage = { type, flags, serial };
  for (const [code, v] of fields) {
    const f = FIELD_BY_CODE.get(code);
    if (f === undefined) continue; // unknown fields are ignored, as the specification says
    if (v.signature !== f[1]) {
      throw new MarshalError(`Header field ${code} has signature "${v.signature}", not "${f[1]}"`);
    }
    (m as unknown as Record<string, unknown>)[f[0]] = v.value;
  }
  const start = (r.position + 7) & ~7;
  if (start + bodyLen !== bytes.byteLength) {
    throw new MarshalError(
      `D-Bus message of ${bytes.byteLength} bytes, header says ${start + bodyLen}`,
    );
  }
  const body = bytes.subarray(start);
  // Body alignment counts from the body's start, which is 8-aligned in the message.
  m.body = m.signature ? decodeBody(m.signature, body, le) : [];
  return m;
}
