/**
 * Link-layer (MAC) addresses.
 *
 * @module
 */

/**
 * Parses `aa:bb:cc:dd:ee:ff` (case-insensitive). Throws a `TypeError` quoting the value otherwise.
 *
 * @example
 * ```ts
 * import { parseMac } from "./mac.ts";
 * parseMac("02:42:c6:33:64:02"); // Uint8Array [2, 66, 198, 51, 100, 2]
 * ```
 * @param text The address.
 * @returns Its 6 bytes.
 */
export function parseMac(text: string): Uint8Array {
  const out = new Uint8Array(6);
  if (typeof text === "string" && text.length === 17) {
    let ok = true;
    for (let i = 0; i < 6 && ok; i++) {
      const hi = hexDigit(text.charCodeAt(i * 3));
      const lo = hexDigit(text.charCodeAt(i * 3 + 1));
      ok = hi >= 0 && lo >= 0 && (i === 5 || text.charCodeAt(i * 3 + 2) === 58 /* : */);
      out[i] = (hi << 4) | lo;
    }
    if (ok) return out;
  }
  throw new TypeError(
    `Invalid MAC address "${text}": expected six hex pairs, e.g. "02:42:c6:33:64:02"`,
  );
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}

/**
 * Formats link-layer address bytes as lower-case hex pairs joined by colons.
 *
 * @example
 * ```ts
 * import { formatMac } from "./mac.ts";
 * formatMac(new Uint8Array([2, 66, 198, 51, 100, 2])); // "02:42:c6:33:64:02"
 * ```
 * @param bytes The address (any length).
 * @returns Its text form.
 */
export function formatMac(bytes: Uint8Array): string {
  let s = bytes.length ? HEX[bytes[0]] : "";
  for (let i = 1; i < bytes.length; i++) s += ":" + HEX[bytes[i]];
  return s;
}

/** "00" … "ff", so formatting a MAC is six lookups. */
const HEX: readonly string[] = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);
