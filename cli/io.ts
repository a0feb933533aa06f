/**
 * Where the command writes: whole strings to a file descriptor, synchronously, so that nothing is
 * lost when the process exits right after (an asynchronous `process.stdout.write` to a pipe can
 * be cut short by `process.exit` under Bun). Tests pass their own {@linkcode Output}.
 *
 * @module
 */
import { writeSync } from "node:fs";

/** The two streams a command writes to. */
export interface Output {
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
}

/**
 * Writes all of `text` to a file descriptor, looping over short writes.
 *
 * @example
 * ```ts ignore
 * writeAll(1, "hello\n");
 * ```
 * @param fd The file descriptor.
 * @param text The text.
 */
export function writeAll(fd: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

/**
 * The process's own standard output and error.
 *
 * @example
 * ```ts ignore
 * stdio.out("nslink 0.1.0\n");
 * ```
 */
export const stdio: Output = {
  out: (text) => writeAll(1, text),
  err: (text) => writeAll(2, text),
};

/**
 * An {@linkcode Output} that keeps what is written, for tests.
 *
 * @example
 * ```ts
 * import { captureOutput } from "./io.ts";
 * const o = captureOutput();
 * o.out("x");
 * o.stdout; // "x"
 * ```
 * @returns The output and what was written to it so far.
 */
export function captureOutput(): Output & { stdout: string; stderr: string } {
  const o = {
    stdout: "",
    stderr: "",
    out(text: string) {
      o.stdout += text;
    },
    err(text: string) {
      o.stderr += text;
    },
  };
  return o;
}
