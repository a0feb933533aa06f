/**
 * Spare network namespaces, made ahead of need on a worker thread. `unshare(CLONE_NEWNET)` acts
 * on the calling thread only and is most of a namespace's cost (about 0.25 ms of 0.4 here): a
 * worker makes the namespace, brings its `lo` up through a netlink socket opened there, and
 * returns to where it was; the main thread then only creates the file and bind-mounts the spare
 * onto it (see {@linkcode Namespace.create}).
 *
 * A spare is anonymous (only its fds hold it), so it dies with the process, even on `kill -9`.
 * The worker never keeps the process alive, and it runs as `SCHED_IDLE`: only on a CPU with
 * nothing else to do, so it never takes the CPU from the caller (at normal priority, woken by a
 * take on a busy machine, it did: the namespace step's wall time stayed ~0.5 ms while its CPU
 * time fell to 0.1). When no CPU is idle, spares come late and namespaces are made inline.
 *
 * Measured (bench/spare_netns.ts, 2 CPUs shared with other work, load 3.7-6, medians of 3 runs
 * alternating with the inline path): the namespace step 0.47-0.59 ms -> 0.11-0.16 ms of wall
 * time, the fast path's setup per container 2.21 -> 1.78 ms (Deno, N=50), 2.11 -> 1.88 (Deno,
 * N=200), 2.44 -> 2.18 (Bun, N=50), 1.95 -> 1.85 (Bun, N=200); the process's CPU 0.1-0.3 ms
 * more per container, its memory 8 MB (Bun) to 19 MB (Deno) more. In a busier moment (no spare
 * ready for 57-88% of the containers) it was no better: setup per container between 8% faster
 * and 40% slower, and the slowest containers slower in 4 of 6 runs (a worker that runs only on
 * idle CPUs can be left waiting inside `unshare` while holding a kernel lock the caller needs). Starting the worker costs
 * 30-35 ms (Bun) or 50-65 ms (Deno) until its first spare, and under Deno the constructor of
 * `node:worker_threads`' `Worker` blocks the caller for most of that (it waits for the worker's
 * isolate; Deno's web `Worker` does not, but keeps the process alive). So it is off unless
 * asked for: {@linkcode startSpareNetns} (best at a long-running process's start, before its
 * first container), or `NSLINK_SPARE_NETNS=on` (it then starts at a process's
 * {@linkcode SPARE_START_AT}th namespace, so a CLI command or a CNI exec, which makes at most
 * one, never starts it).
 * `NSLINK_SPARE_NETNS=off` keeps it off, also when asked for.
 *
 * @module
 */
import type { Worker } from "node:worker_threads";
import { close } from "../ffi/libc.ts";
import { CAP, ERROR, HEAD, RING_LENGTH, SLOT, SLOT_SIZE, STOP, TAIL, WANT } from "./spare_ring.ts";

/** A namespace made ahead: its fd, and a route-netlink socket opened in it with `lo` up. */
export interface SpareNetns {
  /** An fd of the namespace (`O_CLOEXEC`); the taker owns it. */
  nsFd: number;
  /** A route-netlink socket bound in the namespace (`SOCK_CLOEXEC`); the taker owns it. */
  sockFd: number;
  /** The socket's port id. */
  port: number;
}

/**
 * With `NSLINK_SPARE_NETNS=on`, the namespace a process makes that starts the worker (a CLI
 * command or a CNI exec makes one).
 */
export const SPARE_START_AT = 3;

/** How many spares the worker keeps ready by default. */
const DEFAULT_SPARES = 1;

let ring: Int32Array | undefined;
let worker: Worker | undefined;
/** Set once the worker failed or was refused: namespaces are then made on the calling thread. */
let disabled: string | undefined;
let made = 0;

/** Whether the {@linkcode SPARE_START_AT}th namespace starts the worker, read once. */
let autoStart: boolean | undefined;

/**
 * `NSLINK_SPARE_NETNS`. Under Deno the permission is queried first, so that a missing
 * `--allow-env` neither throws nor prompts (as `readEnv` in network/state.ts, a layer above).
 */
function envSetting(): string | undefined {
  try {
    const deno = (globalThis as {
      Deno?: {
        env: { get(name: string): string | undefined };
        permissions?: { querySync?(d: { name: "env"; variable: string }): { state: string } };
      };
    }).Deno;
    if (deno?.env) {
      const state = deno.permissions?.querySync?.({ name: "env", variable: ENV }).state;
      return state === undefined || state === "granted" ? deno.env.get(ENV) : undefined;
    }
    return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
      ?.env?.[ENV];
  } catch {
    return undefined; // not allowed: the default
  }
}
const ENV = "NSLINK_SPARE_NETNS";

/**
 * Starts the worker that makes spare namespaces: for a long-running process that will make many,
 * best at its start (under Deno the worker's construction blocks the caller, 50-250 ms measured
 * on a loaded machine). Does nothing when it runs already, or when `NSLINK_SPARE_NETNS=off`. Its first spare is ready a
 * few tens of milliseconds later; until then namespaces are made as before.
 *
 * @example
 * ```ts ignore
 * import { startSpareNetns } from "./spare.ts";
 * await startSpareNetns({ spares: 2 });
 * ```
 * @param options `spares`: how many to keep ready (1 to 8, default 1).
 * @returns Whether the worker runs.
 */
export function startSpareNetns(options: { spares?: number } = {}): Promise<boolean> {
  const spares = options.spares ?? DEFAULT_SPARES;
  if (!Number.isInteger(spares) || spares < 1 || spares > CAP) {
    return Promise.reject(
      new RangeError(`Invalid spares ${JSON.stringify(spares)}: an integer from 1 to ${CAP}`),
    );
  }
  if (ring) {
    Atomics.store(ring, WANT, spares);
    Atomics.notify(ring, TAIL);
    return Promise.resolve(true);
  }
  if (disabled) return Promise.resolve(false);
  if (envSetting() === "off") {
    disabled = "NSLINK_SPARE_NETNS=off";
    return Promise.resolve(false);
  }
  return starting ??= start(spares).finally(() => (starting = undefined));
}

/** The start under way, if any. */
let starting: Promise<boolean> | undefined;

async function start(spares: number): Promise<boolean> {
  let w: Worker;
  try {
    // Imported here: processes that never start the worker (a CLI command, a CNI exec) do not
    // load the module.
    const { Worker } = await import("node:worker_threads");
    if (ring || disabled) return ring !== undefined;
    // (The cast: Bun's types and Node's disagree on URL; both runtimes take a file URL here.)
    w = new Worker(new URL("./spare_worker.ts", import.meta.url) as unknown as string);
  } catch (e) {
    disabled = `the worker did not start: ${(e as Error)?.message ?? e}`;
    return false;
  }
  const buffer = new SharedArrayBuffer(RING_LENGTH * 4);
  const r = new Int32Array(buffer);
  r[WANT] = spares;
  w.on("message", (m: { error?: string }) => {
    if (m?.error !== undefined) stopped(r, `the worker failed: ${m.error}`);
  });
  w.on("error", (e: Error) => stopped(r, `the worker failed: ${e?.message ?? e}`));
  // After the listeners: under Bun, adding one refs the worker again.
  w.unref();
  w.postMessage(buffer);
  ring = r;
  worker = w;
  return true;
}

function stopped(r: Int32Array, why: string): void {
  if (ring !== r) return;
  disabled = why;
  ring = undefined;
  worker = undefined;
}

/**
 * Stops the worker: the spares not taken are closed (their namespaces go), and namespaces are
 * made on the calling thread again until {@linkcode startSpareNetns}.
 *
 * @example
 * ```ts ignore
 * import { stopSpareNetns } from "./spare.ts";
 * await stopSpareNetns();
 * ```
 */
export async function stopSpareNetns(): Promise<void> {
  await starting;
  const r = ring;
  const w = worker;
  ring = undefined;
  worker = undefined;
  made = 0;
  autoStart = undefined;
  disabled = undefined;
  if (!r || !w) return;
  const gone = new Promise<void>((ok) => w.once("exit", () => ok()));
  Atomics.store(r, STOP, 1);
  Atomics.notify(r, TAIL);
  await gone;
}

/**
 * What the spare-namespace worker is doing, for tests and benchmarks.
 *
 * @example
 * ```ts ignore
 * import { spareNetnsState } from "./spare.ts";
 * spareNetnsState(); // { running: true, ready: 1, disabled: undefined }
 * ```
 * @returns Whether it runs, how many spares wait, and why it is off when it was turned off.
 */
export function spareNetnsState(): { running: boolean; ready: number; disabled?: string } {
  const r = ring;
  return {
    running: r !== undefined,
    ready: r ? Atomics.load(r, HEAD) - Atomics.load(r, TAIL) : 0,
    ...(disabled ? { disabled } : {}),
  };
}

/**
 * Takes a spare namespace when one is ready (the caller then owns its two fds), else returns
 * `undefined` and the caller makes the namespace itself. Counts the calls: the one numbered
 * {@linkcode SPARE_START_AT} starts the worker.
 *
 * @example
 * ```ts ignore
 * import { takeSpareNetns } from "./spare.ts";
 * const spare = takeSpareNetns(); // undefined: make one as usual
 * ```
 * @returns The spare, or `undefined`.
 */
export function takeSpareNetns(): SpareNetns | undefined {
  const r = ring;
  if (!r) {
    if (++made >= SPARE_START_AT && !disabled) {
      autoStart ??= envSetting() === "on";
      // Not awaited: this namespace and the next ones are made here until the first spare.
      if (autoStart) void startSpareNetns();
    }
    return undefined;
  }
  if (Atomics.load(r, ERROR)) {
    stopped(r, `the worker failed (errno ${Atomics.load(r, ERROR)})`);
    return undefined;
  }
  const tail = Atomics.load(r, TAIL);
  if (Atomics.load(r, HEAD) === tail) return undefined;
  const at = SLOT + (tail % CAP) * SLOT_SIZE;
  const spare = { nsFd: r[at], sockFd: r[at + 1], port: r[at + 2] };
  Atomics.store(r, TAIL, tail + 1);
  Atomics.notify(r, TAIL);
  return spare;
}

/**
 * Closes a spare that was taken but not used.
 *
 * @example
 * ```ts ignore
 * import { dropSpareNetns, takeSpareNetns } from "./spare.ts";
 * const spare = takeSpareNetns();
 * if (spare) dropSpareNetns(spare);
 * ```
 * @param spare The spare.
 */
export function dropSpareNetns(spare: SpareNetns): void {
  for (const fd of [spare.sockFd, spare.nsFd]) {
    try {
      close(fd);
    } catch { /* not open: nothing to do */ }
  }
}
