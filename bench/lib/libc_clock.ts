/**
 * How much of a TypeScript peer's time is spent inside libc calls — the system calls, i.e. the
 * kernel's own work plus the call's entry and exit — as opposed to the runtime and nslink's
 * JavaScript. Enabled with `--steps`: it wraps every bound libc function of nslink's FFI layer
 * (`loadLibc().symbols`, which every call goes through) with a clock.
 *
 * The wrapper's own cost (two `performance.now()` calls, ~0.1 µs each) lands in the libc share.
 *
 * @module
 */
import { loadLibc } from "../../ffi/libc.ts";

type Fn = (...args: unknown[]) => unknown;

/** Accumulates time spent inside libc while enabled. */
export class LibcClock {
  /** Milliseconds inside libc so far. */
  ms = 0;
  /** Calls so far. */
  calls = 0;

  constructor(enabled: boolean) {
    if (!enabled) return;
    const lib = loadLibc() as unknown as { symbols: Record<string, Fn> };
    const raw = lib.symbols;
    const timed: Record<string, Fn> = {};
    for (const [name, fn] of Object.entries(raw)) {
      // poll runs on a pool thread and returns a promise: the wait is not the JS thread's.
      timed[name] = name === "poll" ? fn : (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return fn(...args);
        } finally {
          this.ms += performance.now() - t0;
          this.calls++;
        }
      };
    }
    lib.symbols = timed;
  }

  /** Milliseconds inside libc since `mark` (a value of {@linkcode LibcClock.ms}). */
  since(mark: number): number {
    return this.ms - mark;
  }
}

/** Milliseconds and calls per libc function. */
export type LibcTally = Map<string, { ms: number; calls: number }>;

/**
 * A tally per container, by function, the costliest first: µs (one decimal) and calls per
 * container, as the profiles' result files keep it (`bench/setup.ts`, `bench/teardown.ts`).
 *
 * @example
 * ```ts
 * perContainer(new Map([["unshare", { ms: 16.5, calls: 50 }]]), 50);
 * // { unshare: { usPerCtr: 330, callsPerCtr: 1 } }
 * ```
 * @param tally Time (ms) and calls by function over `n` containers.
 * @param n The containers.
 * @returns By function.
 */
export function perContainer(
  tally: LibcTally,
  n: number,
): Record<string, { usPerCtr: number; callsPerCtr: number }> {
  return Object.fromEntries(
    [...tally].sort((x, y) => y[1].ms - x[1].ms).map((
      [k, v],
    ) => [k, { usPerCtr: Math.round(v.ms * 10_000 / n) / 10, callsPerCtr: v.calls / n }]),
  );
}

/**
 * Times every libc call of nslink's FFI layer (`loadLibc().symbols`) into the tally that
 * `current()` returns when the function is looked up, per function; none while it returns
 * `undefined`. `poll` (a pool thread's wait) and `__errno_location` are not timed.
 *
 * @example
 * ```ts
 * let tally: LibcTally | undefined;
 * tallyLibcCalls(() => tally);
 * tally = new Map();
 * await network.link("c0", { namespace: ns });
 * tally = undefined; // tally.get("sendmsg") = { ms, calls }
 * ```
 */
export function tallyLibcCalls(current: () => LibcTally | undefined): void {
  const lib = loadLibc() as unknown as { symbols: Record<string, Fn> };
  lib.symbols = new Proxy(lib.symbols, {
    get(target, key) {
      const f = target[key as string];
      const tally = current();
      if (
        tally === undefined || typeof f !== "function" || key === "__errno_location" ||
        key === "poll"
      ) {
        return f;
      }
      return (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return f(...args);
        } finally {
          const d = performance.now() - t0;
          const s = tally.get(key as string) ?? { ms: 0, calls: 0 };
          s.ms += d;
          s.calls++;
          tally.set(key as string, s);
        }
      };
    },
  });
}
