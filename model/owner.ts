/**
 * Who is doing an operation: a process, named so that a later process can tell whether it is
 * still running. State records that describe unfinished work (an endpoint being linked, a
 * network being created or deleted) carry their owner; recovery and `gc()` finish or undo the
 * work only when its owner is dead, so they are safe to run beside live processes.
 *
 * A pid alone is not enough (pids are reused), so the owner also carries the process's start
 * time from `/proc/PID/stat` (field 22, clock ticks since boot), as `pidfd`-less tools do.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { getpid } from "../ffi/libc.ts";

/** A process that owns unfinished work. */
export interface Owner {
  /** Its process id. */
  pid: number;
  /** Its start time (`/proc/PID/stat` field 22); `0` when unknown. */
  start: number;
  /**
   * Which copy of nslink in that process (a random token per module instance): threads of one
   * process (Deno workers) share the pid but not their work in progress.
   */
  token?: string;
}

const TOKEN = Array.from(
  crypto.getRandomValues(new Uint8Array(6)),
  (b) => b.toString(16).padStart(2, "0"),
).join("");

/** The start time of a process, or `undefined` when it is gone or a zombie (killed, unreaped). */
function startOf(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "PID (COMM) STATE ...": COMM may hold spaces and parentheses; fields resume after the last ")".
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  if (rest[0] === "Z" || rest[0] === "X") return undefined;
  return Number(rest[19]); // field 22 is the 20th after STATE (field 3)
}

let me: Owner | undefined;

/**
 * This process as an owner.
 *
 * @example
 * ```ts
 * import { currentOwner } from "./owner.ts";
 * currentOwner(); // { pid: 4242, start: 123456 }
 * ```
 * @returns This process's pid and start time.
 */
export function currentOwner(): Owner {
  if (!me) {
    const pid = getpid();
    me = { pid, start: startOf(pid) ?? 0, token: TOKEN };
  }
  return me;
}

/**
 * Work in progress in this process, by key: a record owned by this process whose key is not
 * here is left over from a failed call of this same process, and as stale as a dead owner's.
 */
const inProgress = new Set<string>();

/**
 * Marks work as in progress in this process while `fn` runs (synchronously or not).
 *
 * @example
 * ```ts ignore
 * await working("net-id/c1", () => linkIt());
 * ```
 * @param key Names the work, e.g. `NETWORK_ID/ENDPOINT`.
 * @param fn The work.
 * @returns What `fn` returned.
 */
export function working<T>(key: string, fn: () => T): T {
  inProgress.add(key);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    inProgress.delete(key);
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => inProgress.delete(key)) as T;
  }
  inProgress.delete(key);
  return result;
}

/**
 * Whether the owner of some unfinished work may still finish it: it is a running process (same
 * pid and start time), and, when that is this process, the work is in progress here.
 *
 * @example
 * ```ts
 * import { isAlive } from "./owner.ts";
 * isAlive({ pid: 1, start: 0 }, "x"); // true for init
 * ```
 * @param owner The owner recorded with the work.
 * @param key The work's key (see {@linkcode working}).
 * @returns `false` when the work is abandoned and may be finished or undone by anyone.
 */
export function isAlive(owner: Owner | undefined, key: string): boolean {
  if (!owner || !Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  const self = currentOwner();
  if (owner.pid === self.pid && owner.start === self.start) {
    // This copy of nslink knows its own work; another copy in this process (another thread)
    // is alive as long as the process is.
    return owner.token === undefined || owner.token === self.token ? inProgress.has(key) : true;
  }
  const start = startOf(owner.pid);
  if (start === undefined) return false;
  return owner.start === 0 || start === owner.start;
}

/**
 * Whether a process with this pid runs (for temporary files named after their writer's pid).
 *
 * @example
 * ```ts
 * import { pidAlive } from "./owner.ts";
 * pidAlive(1); // true
 * ```
 * @param pid The process id.
 * @returns `true` when it runs and is not a zombie.
 */
export function pidAlive(pid: number): boolean {
  return Number.isInteger(pid) && pid > 0 && startOf(pid) !== undefined;
}
