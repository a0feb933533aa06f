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
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) {
    throw new TypeError(
      `Invalid MAC address "${text}": expected six hex pairs, e.g. "02:42:c6:33:64:02"`,
    );
  }
  return new Uint8Array(text.split(":").map((h) => parseInt(h, 16)));
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
  let s = "";
  for (let i = 0; i < bytes.length; i++) {
    s += (i ? ":" : "") + (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
  }
  return s;
}
