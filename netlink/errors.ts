/**
 * Errors reported by the kernel over netlink.
 *
 * @module
 */
import { errnoName, errnoText } from "../ffi/errno.ts";

/**
 * The kernel refused a netlink request. Names the operation, the object and the errno, and
 * carries the kernel's extended-ACK text when it sent one.
 *
 * @example Message format
 * ```ts
 * import { NetlinkError } from "./errors.ts";
 * const err = new NetlinkError("RTM_NEWLINK", 'veth "nsl0a"', 17);
 * err.message; // 'RTM_NEWLINK veth "nsl0a": EEXIST (File exists)'
 * err.code; // "EEXIST"
 * ```
 */
export class NetlinkError extends Error {
  /** The request type, e.g. `RTM_NEWLINK`. */
  readonly op: string;
  /** What the request was about, e.g. `veth "nsl0a"`. */
  readonly object: string;
  /** The positive errno. */
  readonly errno: number;
  /** The errno's name, e.g. `EEXIST`. */
  readonly code: string;
  /** The kernel's extended-ACK message, if any. */
  readonly extack?: string;
  /** The byte offset in the request of the attribute the kernel blamed, if it said. */
  readonly extackOffset?: number;

  /**
   * Makes the error; the message is built from the parts.
   *
   * @param op The request type's name.
   * @param object What the request was about.
   * @param errno The positive errno from `NLMSG_ERROR`.
   * @param extack The kernel's extended-ACK text.
   * @param extackOffset The offset the kernel blamed.
   */
  constructor(op: string, object: string, errno: number, extack?: string, extackOffset?: number) {
    const code = errnoName(errno);
    const what = object ? `${op} ${object}` : op;
    super(`${what}: ${code} (${errnoText(errno)})${extack ? `: ${extack}` : ""}`);
    this.name = "NetlinkError";
    this.op = op;
    this.object = object;
    this.errno = errno;
    this.code = code;
    if (extack !== undefined) this.extack = extack;
    if (extackOffset !== undefined) this.extackOffset = extackOffset;
  }
}

/**
 * A netlink message could not be decoded: an attribute or header is shorter than its type needs,
 * an attribute's length runs past its container, or a value is malformed. Every decoder in
 * nslink throws this (and nothing else) on malformed input.
 *
 * @example
 * ```ts
 * import { decode, u32 } from "./codec.ts";
 * import { NetlinkDecodeError } from "./errors.ts";
 * try {
 *   decode(u32, new Uint8Array(2));
 * } catch (e) {
 *   if (e instanceof NetlinkDecodeError) e.offset; // 0
 * }
 * ```
 */
export class NetlinkDecodeError extends Error {
  /** The byte offset of the offending part, from the start of the decoded bytes. */
  readonly offset: number;

  /**
   * Makes the error.
   *
   * @param what What is wrong, e.g. `attribute length 3 is below 4`.
   * @param offset Where, in bytes from the start of the decoded bytes.
   * @param options Standard error options (`cause`).
   */
  constructor(what: string, offset: number, options?: ErrorOptions) {
    super(`Malformed netlink message at byte ${offset}: ${what}`, options);
    this.name = "NetlinkDecodeError";
    this.offset = offset;
  }
}
