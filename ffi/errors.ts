/**
 * Errors raised by the FFI layer.
 *
 * @module
 */
import { errnoName, errnoText } from "./errno.ts";

/**
 * A failed system call, naming the call, the object it acted on and the errno.
 *
 * @example Message format
 * ```ts
 * import { SyscallError } from "./errors.ts";
 * const err = new SyscallError("setns", '"/run/netns/c1" CLONE_NEWNET', 1);
 * err.message; // 'setns "/run/netns/c1" CLONE_NEWNET: EPERM (Operation not permitted)'
 * err.code; // "EPERM"
 * ```
 */
export class SyscallError extends Error {
  /** The C function, e.g. `setns`. */
  readonly call: string;
  /** What it acted on, e.g. `"/run/netns/c1" CLONE_NEWNET`; empty when nothing is worth naming. */
  readonly object: string;
  /** The positive errno value. */
  readonly errno: number;
  /** The errno's symbolic name, e.g. `EPERM`. */
  readonly code: string;

  /**
   * Makes the error; the message is built from the parts.
   *
   * @param call The C function that failed.
   * @param object What it acted on (already quoted where it is a name or path).
   * @param errno The errno read right after the call.
   * @param options Standard error options (`cause`).
   */
  constructor(call: string, object: string, errno: number, options?: ErrorOptions) {
    const code = errnoName(errno);
    super(`${call}${object ? ` ${object}` : ""}: ${code} (${errnoText(errno)})`, options);
    this.name = "SyscallError";
    this.call = call;
    this.object = object;
    this.errno = errno;
    this.code = code;
  }
}

/**
 * FFI cannot be used here: no permission, no libc, or not Linux. The message says what to do.
 *
 * @example
 * ```ts
 * import { FfiUnavailableError } from "./errors.ts";
 * const err = new FfiUnavailableError("nslink needs Linux");
 * err.name; // "FfiUnavailableError"
 * ```
 */
export class FfiUnavailableError extends Error {
  /**
   * Makes the error.
   *
   * @param message What is missing and how to fix it.
   * @param options Standard error options (`cause` keeps the runtime's original error).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FfiUnavailableError";
  }
}
