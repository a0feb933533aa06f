/**
 * Usage errors: wrong words, options or values on the command line. They exit with status 2 and
 * a hint naming the help to read, unlike failures of the work itself (status 1).
 *
 * @module
 */

/**
 * A command line that cannot be run as written.
 *
 * @example
 * ```ts
 * import { UsageError } from "./usage.ts";
 * new UsageError("network create needs a NAME", "nslink network create --help").exitCode; // 2
 * ```
 */
export class UsageError extends Error {
  /** Where to look: a help command to run. */
  readonly hint: string;
  /** Always 2. */
  readonly exitCode = 2;

  /**
   * @param message What is wrong, one line.
   * @param hint The help command, e.g. `nslink network create --help`.
   */
  constructor(message: string, hint: string) {
    super(message);
    this.name = "UsageError";
    this.hint = hint;
  }
}
