/**
 * Peer-side half of the benchmark protocol, usable from Deno and from Bun (only `node:` APIs).
 *
 * A peer is a program that, given `--n N --tag TAG [--steps]`:
 * 1. sets up N containers (see `workload.ts`), timing the whole phase;
 * 2. prints `{"event":"ready"}` on its own line to stdout and reads one line from stdin: `ok` if
 *    the orchestrator verified the last container, anything else (e.g. `failed: reason`) if not;
 * 3. tears the N containers down, timing the whole phase, until no namespace and no host veth of
 *    this peer is left;
 * 4. prints one result line ({@link PeerResult}) as JSON to stdout and exits 0.
 *
 * Diagnostics go to stderr. A non-zero exit means the peer failed.
 *
 * @module
 */
import process from "node:process";
import { readFileSync } from "node:fs";

/** Command-line arguments every peer accepts. */
export interface PeerArgs {
  /** Number of containers. */
  n: number;
  /** Short peer tag used in namespace and interface names (see `workload.ts`). */
  tag: string;
  /** Whether to report per-step totals in {@link PeerResult.stepsMs}. */
  steps: boolean;
  /** Remaining `--key value` options (peer-specific, e.g. `--variant fast`). */
  extra: Record<string, string>;
}

/** The one JSON line a peer prints at the end. */
export interface PeerResult {
  /** Peer name as the orchestrator knows it (e.g. `ip-batch`). */
  peer: string;
  /** Number of containers set up and torn down. */
  n: number;
  /** Wall time of the whole setup phase, milliseconds. */
  setupMs: number;
  /** Wall time of the whole teardown phase, milliseconds, until the kernel has finished. */
  teardownMs: number;
  /**
   * Wall time of the teardown calls alone (until the last delete returned, before waiting for the
   * kernel to remove the host ends), milliseconds; peers that wait report it.
   */
  teardownCallsMs?: number;
  /** The orchestrator's verdict on the last container (from the handshake). */
  verified: boolean;
  /** Peak resident set size of the peer process in KiB, if known. */
  rssKb?: number;
  /**
   * CPU time of the setup phase, milliseconds: user + system, every thread of the peer process
   * (`getrusage(RUSAGE_SELF)`). Less sensitive than wall time to other work on the machine.
   */
  setupCpuMs?: number;
  /** Per-step totals in milliseconds (only with `--steps`). */
  stepsMs?: Record<string, number>;
  /**
   * `nslink-spare-*` only: milliseconds from `startSpareNetns()` until its first spare namespace
   * was ready (before the setup timer, so no part of `setupMs`).
   */
  spareStartMs?: number;
  /** `nslink-spare-*` only: containers for which no spare namespace was ready. */
  spareMisses?: number;
}

/** Parses `--n N --tag TAG [--steps] [--key value ...]`. */
export function parsePeerArgs(argv: string[] = process.argv.slice(2)): PeerArgs {
  const extra: Record<string, string> = {};
  let n = 50;
  let tag = "";
  let steps = false;
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    if (a === "--steps") steps = true;
    else if (a.startsWith("--") && k + 1 < argv.length) {
      const v = argv[++k];
      if (a === "--n") n = Number(v);
      else if (a === "--tag") tag = v;
      else extra[a.slice(2)] = v;
    } else throw new Error(`unexpected argument ${a}`);
  }
  if (!Number.isInteger(n) || n < 1) throw new Error(`--n must be a positive integer`);
  if (!/^[a-z0-9]{1,5}$/.test(tag)) throw new Error(`--tag must be 1-5 chars [a-z0-9]`);
  return { n, tag, steps, extra };
}

/** Accumulates per-step wall time when enabled; a no-op otherwise. */
export class StepTimer {
  readonly totals: Record<string, number> = {};
  constructor(readonly enabled: boolean) {}

  /** Runs `fn`, adding its duration to step `name` when enabled. */
  async time<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (!this.enabled) return await fn();
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.totals[name] = (this.totals[name] ?? 0) + performance.now() - t0;
    }
  }

  /** The totals rounded to microseconds, or undefined when disabled. */
  result(): Record<string, number> | undefined {
    if (!this.enabled) return undefined;
    return Object.fromEntries(
      Object.entries(this.totals).map(([k, v]) => [k, Math.round(v * 1000) / 1000]),
    );
  }
}

/** Reads one line from stdin (without the newline); resolves with what was read at EOF. */
function readLine(): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const cleanup = () => {
      process.stdin.off("data", onData);
      process.stdin.off("end", onEnd);
      process.stdin.off("error", onError);
      process.stdin.pause();
    };
    const onData = (chunk: Uint8Array | string) => {
      buf += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        cleanup();
        resolve(buf.slice(0, nl));
      }
    };
    const onEnd = () => {
      cleanup();
      resolve(buf);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    process.stdin.on("data", onData);
    process.stdin.on("end", onEnd);
    process.stdin.on("error", onError);
    process.stdin.resume();
  });
}

/**
 * The verification handshake: announces that setup is complete and waits for the orchestrator's
 * verdict on the last container. Returns true only for the answer `ok`.
 */
export async function awaitVerification(): Promise<boolean> {
  process.stdout.write(JSON.stringify({ event: "ready" }) + "\n");
  const answer = (await readLine()).trim();
  if (answer !== "ok") process.stderr.write(`verification: ${answer || "no answer"}\n`);
  return answer === "ok";
}

/** Peak RSS of this process in KiB (VmHWM), or undefined if /proc is unreadable. */
export function peakRssKb(): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU time of this process so far (user + system, every thread), milliseconds: take it before
 * and after a phase for {@linkcode PeerResult.setupCpuMs}.
 */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Prints the final result line. */
export function emitResult(result: PeerResult): void {
  process.stdout.write(JSON.stringify(result) + "\n");
}

/** Rounds milliseconds to microsecond precision for output. */
export function ms(x: number): number {
  return Math.round(x * 1000) / 1000;
}
