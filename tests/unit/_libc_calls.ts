/**
 * Counts the libc calls (the system calls) that nslink's FFI layer makes while a function runs,
 * for tests that hold a hot path to a budget of system calls. Every call goes through
 * `loadLibc().symbols`; this puts a counting proxy in its place for the duration.
 *
 * @module
 */
import { loadLibc } from "../../ffi/libc.ts";

type Fn = (...args: unknown[]) => unknown;

/**
 * Runs `fn` and returns the names of the libc functions it called, in order.
 *
 * @example
 * ```ts ignore
 * const calls = await libcCalls(() => ns.delete());
 * calls; // ["close", "close", "statx", "umount2", "unlink", …]
 * ```
 * @param fn The work (synchronous or not; nothing else should run meanwhile).
 * @returns The calls.
 */
export async function libcCalls(fn: () => unknown): Promise<string[]> {
  const lib = loadLibc() as unknown as { symbols: Record<string, Fn> };
  const raw = lib.symbols;
  const calls: string[] = [];
  lib.symbols = new Proxy(raw, {
    get(target, key) {
      const f = target[key as string];
      if (typeof f !== "function" || key === "__errno_location") return f;
      return (...args: unknown[]) => {
        // Counted before the call: nothing may allocate between a failing call and the read
        // of its errno.
        calls.push(String(key));
        return f(...args);
      };
    },
  });
  try {
    await fn();
  } finally {
    lib.symbols = raw;
  }
  return calls;
}
