/**
 * Errors of the DNS layer.
 *
 * @module
 */

/**
 * A DNS message could not be decoded: it is truncated, a length or a count runs past its end, a
 * compression pointer loops or points forward, a name is longer than 255 bytes. The decoder
 * throws this and nothing else on malformed input; `offset` says where.
 *
 * @example Catching a truncated message
 * ```ts
 * import { decodeMessage } from "./message.ts";
 * import { DnsDecodeError } from "./errors.ts";
 * try {
 *   decodeMessage(new Uint8Array(5));
 * } catch (e) {
 *   if (e instanceof DnsDecodeError) e.offset; // 0
 * }
 * ```
 */
export class DnsDecodeError extends Error {
  /** The byte offset of the offending part, from the start of the message. */
  readonly offset: number;

  /**
   * Makes the error.
   *
   * @param what What is wrong, e.g. `compression pointer loops`.
   * @param offset Where, in bytes from the start of the message.
   * @param options Standard error options (`cause`).
   */
  constructor(what: string, offset: number, options?: ErrorOptions) {
    super(`Malformed DNS message at byte ${offset}: ${what}`, options);
    this.name = "DnsDecodeError";
    this.offset = offset;
  }
}

/**
 * A value cannot be encoded as a DNS message: a label over 63 bytes, a name over 255, an address
 * that does not parse, a number out of range.
 *
 * @example
 * ```ts
 * import { encodeMessage } from "./message.ts";
 * import { DnsEncodeError } from "./errors.ts";
 * try {
 *   encodeMessage({ id: 1, questions: [{ name: "x".repeat(64), type: "A" }] });
 * } catch (e) {
 *   e instanceof DnsEncodeError; // true
 * }
 * ```
 */
export class DnsEncodeError extends Error {
  /** What was being encoded, e.g. `name "x…"` or `A record data`. */
  readonly object: string;

  /**
   * Makes the error.
   *
   * @param object What was being encoded.
   * @param what What is wrong with it.
   */
  constructor(object: string, what: string) {
    super(`Cannot encode DNS ${object}: ${what}`);
    this.name = "DnsEncodeError";
    this.object = object;
  }
}
