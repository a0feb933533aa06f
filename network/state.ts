/**
 * nslink's on-disk state primitives: one JSON file per object (`<dir>/<kind>/<name>.json`),
 * replaced atomically on every write or created exclusively; claims (one directory per reserved
 * name, made atomically, holding its owner's entry); and a lock (`flock` on `<dir>/.lock`, shared or exclusive)
 * that is only ever tried without blocking and waited for asynchronously.
 *
 * Permissions: Deno needs `--allow-read --allow-write` on the state directory and `--allow-ffi`
 * for the lock (`--allow-env` only to honour `NSLINK_STATE_DIR`). The default directory,
 * `/run/nslink`, needs root; any writable directory works.
 *
 * @module
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import {
  close,
  flock,
  link,
  LOCK_EX,
  LOCK_NB,
  LOCK_SH,
  mkdir,
  O_CLOEXEC,
  O_CREAT,
  O_EXCL,
  O_RDWR,
  O_TMPFILE,
  O_WRONLY,
  open,
  readDir,
  readlinkOrErrno,
  readTextFile,
  rename,
  rmdir,
  symlink,
  SyscallError,
  tryLinkFd,
  tryPathCall,
  unlink,
  write,
} from "../ffi/libc.ts";

const ENOENT_ = 2;
const EINVAL_ = 22;

/** Where nslink keeps its state unless `NSLINK_STATE_DIR` says otherwise. */
export const DEFAULT_STATE_DIR = "/run/nslink";

const ENV_VAR = "NSLINK_STATE_DIR";
const NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;
/** A claim's owner: a name, optionally with an identity after `@` (`c1@0a1b2c3d4e5f6a7b`). */
const OWNER_RE = /^[A-Za-z0-9_-][A-Za-z0-9_.@-]*$/;
/** Leaves room for `.json` and the temporary suffix within a 255-byte file name. */
const NAME_MAX = 200;

interface DenoEnv {
  env: { get(name: string): string | undefined };
  permissions?: { querySync?(desc: { name: "env"; variable: string }): { state: string } };
  pid?: number;
}
interface NodeProcess {
  env?: Record<string, string | undefined>;
  pid?: number;
}

/**
 * An environment variable, or `undefined` when unset or not allowed (Deno without `--allow-env`).
 *
 * @example
 * ```ts ignore
 * readEnv("NSLINK_STATE_DIR"); // "/run/nslink-test" or undefined
 * ```
 * @param name The variable.
 * @returns Its value.
 */
export function readEnv(name: string): string | undefined {
  try {
    const deno = (globalThis as { Deno?: DenoEnv }).Deno;
    if (deno?.env) {
      // Ask first, so that a missing --allow-env neither throws nor prompts. A grant is
      // remembered (the query costs ~15 µs, and this runs on every link): should it be revoked
      // later, env.get throws, which reads as unset below.
      if (!envGranted.has(name)) {
        const state = deno.permissions?.querySync?.({ name: "env", variable: name }).state;
        if (state !== undefined && state !== "granted") return undefined;
        envGranted.add(name);
      }
      return deno.env.get(name);
    }
    return (globalThis as { process?: NodeProcess }).process?.env?.[name];
  } catch {
    return undefined;
  }
}

/** Variables Deno's permission query granted (see {@linkcode readEnv}). */
const envGranted = new Set<string>();

function pid(): number {
  return (globalThis as { Deno?: DenoEnv }).Deno?.pid ??
    (globalThis as { process?: NodeProcess }).process?.pid ?? 0;
}

/**
 * The state directory to use: the `NSLINK_STATE_DIR` environment variable when it is set and
 * readable, else {@linkcode DEFAULT_STATE_DIR}. Never throws, also without `--allow-env`.
 *
 * @example
 * ```ts
 * import { defaultStateDir } from "./state.ts";
 * defaultStateDir(); // "/run/nslink" unless NSLINK_STATE_DIR is set
 * ```
 * @returns An absolute or relative directory path.
 */
export function defaultStateDir(): string {
  const dir = readEnv(ENV_VAR);
  return dir ? dir : DEFAULT_STATE_DIR;
}

function checkName(value: string, what: string, re = NAME_RE): string {
  if (typeof value !== "string") {
    throw new TypeError(`Invalid state ${what} ${String(value)}: expected a string`);
  }
  if (!re.test(value) || value.includes("..") || value.length > NAME_MAX) {
    throw new TypeError(
      `Invalid state ${what} "${value}": expected 1 to ${NAME_MAX} letters, digits, "_", "-" ` +
        `or ".", not starting with "." and without ".."`,
    );
  }
  return value;
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === "ENOENT";
}

/** Directories whose lock this thread holds inside `withLock`, so nested calls just run. */
const held = new Set<string>();

/** How long {@linkcode StateStore.lock} waits by default: 10 s. */
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

/** Options of {@linkcode StateStore.lock}. */
export interface LockOptions {
  /** A shared lock (several holders at once) instead of an exclusive one. */
  shared?: boolean;
  /** Give up after this many milliseconds; default {@linkcode DEFAULT_LOCK_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** A held state lock. */
export interface StateLock extends Disposable {
  /** Releases it; safe to call twice. */
  release(): void;
}

/**
 * The state lock stayed taken for the whole timeout. `holders` are the pids holding it, read
 * from `/proc/locks` (empty when they could not be found, e.g. across pid namespaces).
 *
 * @example
 * ```ts ignore
 * import { LockTimeoutError, StateStore } from "./state.ts";
 * try {
 *   await new StateStore().lock({ timeoutMs: 100 });
 * } catch (e) {
 *   if (e instanceof LockTimeoutError) e.holders; // e.g. [4242]
 * }
 * ```
 */
export class LockTimeoutError extends Error {
  /** The lock file. */
  readonly path: string;
  /** How long it waited, in milliseconds. */
  readonly timeoutMs: number;
  /** The pids holding the lock when it gave up. */
  readonly holders: number[];

  /**
   * Makes the error.
   *
   * @param path The lock file.
   * @param timeoutMs How long it waited.
   * @param holders The holders' pids.
   */
  constructor(path: string, timeoutMs: number, holders: number[]) {
    const who = holders.length === 0 ? "an unknown process" : `pid ${holders.join(", pid ")}`;
    super(
      `flock ${JSON.stringify(path)}: still held by ${who} after ${timeoutMs} ms (timed out)`,
    );
    this.name = "LockTimeoutError";
    this.path = path;
    this.timeoutMs = timeoutMs;
    this.holders = holders;
  }
}

/** The pids holding `flock`s on `<dir>/.lock`, from `/proc/locks`. */
function lockHolders(dir: string): number[] {
  try {
    const ino = statSync(join(dir, ".lock")).ino;
    const pids = new Set<number>();
    for (const line of readFileSync("/proc/locks", "utf8").split("\n")) {
      // "1: FLOCK  ADVISORY  WRITE 4242 fe:00:1234 0 EOF"; waiters' lines start with "1: ->".
      const f = line.trim().split(/\s+/);
      if (f[1] !== "FLOCK") continue;
      if (Number(f[5]?.split(":")[2]) === ino) pids.add(Number(f[4]));
    }
    return [...pids].sort((a, b) => a - b);
  } catch {
    return [];
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

/** This process's waiters for a state lock, woken when it releases one (see `lock`). */
const lockWaiters = new Set<() => void>();

/**
 * A directory of JSON state files with a process-wide lock.
 *
 * Every file is replaced atomically (written under a temporary name, then renamed), so a reader
 * never sees a half-written file; a read-modify-write still needs {@linkcode StateStore.withLock}
 * to keep another process from writing in between.
 *
 * @example Read-modify-write under the lock
 * ```ts ignore
 * import { StateStore } from "./state.ts";
 * const store = new StateStore("/run/nslink");
 * store.withLock(() => {
 *   const n = store.read<number>("counters", "demo") ?? 0;
 *   store.write("counters", "demo", n + 1);
 * });
 * store.list("counters"); // ["demo"]
 * ```
 */
export class StateStore {
  /** The state directory. */
  readonly dir: string;

  /**
   * Opens a state directory; nothing is created until the first write or lock.
   *
   * @param dir The state directory; by default {@linkcode defaultStateDir}. It is created
   *   (mode 0700) when first written or locked.
   */
  constructor(dir: string = defaultStateDir()) {
    if (typeof dir !== "string" || dir === "") {
      throw new TypeError(`Invalid state directory "${String(dir)}": expected a non-empty path`);
    }
    this.dir = dir;
    // What `join(dir, …)` puts before a plain name (no `/`, `.` or `..`, as checkName allows):
    // paths are then concatenated, not normalized again on every call.
    this.#prefix = join(dir, "x").slice(0, -1);
    this.#lockPath = join(dir, ".lock");
  }

  #prefix: string;
  #lockPath: string;
  #lockObject?: string;

  /**
   * Takes the directory's lock (`flock` on `<dir>/.lock`) without ever blocking the event loop:
   * one non-blocking try, then asynchronous waits with back-off (1 ms doubling to 50 ms) until
   * it is free, or a {@linkcode LockTimeoutError} naming the holders' pids after `timeoutMs`.
   * Shared holders (`{ shared: true }`, used by link and unlink) do not exclude each other; an
   * exclusive holder (network create and delete, `gc()`) excludes everyone.
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * const store = new StateStore();
   * const lock = await store.lock({ timeoutMs: 2000 });
   * try {
   *   store.write("counters", "demo", 1);
   * } finally {
   *   lock.release();
   * }
   * ```
   * @param options `shared` (default `false`) and `timeoutMs` (default
   *   {@linkcode DEFAULT_LOCK_TIMEOUT_MS}).
   * @returns The held lock; call `release()` (or `using`) when done.
   */
  async lock(options: LockOptions = {}): Promise<StateLock> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    if (typeof timeoutMs !== "number" || !(timeoutMs >= 0)) {
      throw new TypeError(`Invalid lock timeout ${String(timeoutMs)}: expected milliseconds >= 0`);
    }
    const deadline = Date.now() + timeoutMs;
    let wait = 1;
    while (true) {
      const got = this.tryLock(options);
      if (got) return got;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new LockTimeoutError(join(this.dir, ".lock"), timeoutMs, lockHolders(this.dir));
      }
      // Woken early when this process releases a state lock (the host agent serving an ADD
      // while its removal of a network holds the lock); another process's release is seen at
      // the next attempt.
      await new Promise<void>((r) => {
        const done = () => {
          clearTimeout(timer);
          lockWaiters.delete(done);
          r();
        };
        const timer = setTimeout(done, Math.min(wait, left));
        lockWaiters.add(done);
      });
      wait = Math.min(wait * 2, 50);
    }
  }

  /**
   * One non-blocking attempt at the lock (see {@linkcode StateStore.lock}).
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * const lock = new StateStore().tryLock({ shared: true });
   * lock?.release();
   * ```
   * @param options `shared`: a shared lock instead of an exclusive one.
   * @returns The held lock, or `undefined` when another holder excludes it.
   */
  tryLock(options: { shared?: boolean } = {}): StateLock | undefined {
    const path = this.#lockPath;
    const object = this.#lockObject ??= JSON.stringify(path);
    const fd = ensureDir(this.dir, () => open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600, object));
    let ok = false;
    try {
      ok = flock(fd, (options.shared ? LOCK_SH : LOCK_EX) | LOCK_NB, object);
    } finally {
      if (!ok) close(fd, object);
    }
    if (!ok) return undefined;
    let open_ = true;
    const release = () => {
      if (!open_) return;
      open_ = false;
      close(fd, object); // closing the only fd of the open file releases the flock
      for (const w of [...lockWaiters]) w();
    };
    return { release, [Symbol.dispose]: release };
  }

  /**
   * Runs `fn` while holding the directory's exclusive lock (waiting for it asynchronously, see
   * {@linkcode StateStore.lock}). Nested calls on the same directory inside `fn` just run.
   * The lock is released even when `fn` throws.
   *
   * `fn` must be synchronous: an `async` function is refused before it runs, and a returned
   * promise raises a `TypeError` (the lock would not cover its work).
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * const store = new StateStore();
   * const names = await store.withLock(() => store.list("networks"));
   * ```
   * @param fn The critical section.
   * @param options `timeoutMs`, as for {@linkcode StateStore.lock}.
   * @returns What `fn` returned.
   */
  withLock<T>(fn: () => T, options: { timeoutMs?: number } = {}): Promise<T> {
    try {
      if (typeof fn !== "function" || fn.constructor?.name === "AsyncFunction") {
        throw new TypeError("StateStore.withLock needs a synchronous function, not an async one");
      }
      const key = resolve(this.dir);
      const run = () => {
        held.add(key);
        try {
          return checkSync(fn());
        } finally {
          held.delete(key);
        }
      };
      if (held.has(key)) return Promise.resolve(checkSync(fn()));
      const now = this.tryLock();
      if (now) {
        try {
          return Promise.resolve(run());
        } finally {
          now.release();
        }
      }
      return this.lock(options).then((lock) => {
        try {
          return run();
        } finally {
          lock.release();
        }
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Reads `<dir>/<kind>/<name>.json`.
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * new StateStore().read<{ subnet: string }>("networks", "web")?.subnet;
   * ```
   * @param kind The kind of object, e.g. `networks`.
   * @param name The object's name.
   * @returns The parsed value, or `undefined` when there is no such file.
   */
  read<T>(kind: string, name: string): T | undefined {
    const file = this.#file(kind, name);
    let text: string;
    try {
      text = readTextFile(file);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new SyntaxError(`State file "${file}" is not valid JSON`, { cause });
    }
  }

  /**
   * Writes `<dir>/<kind>/<name>.json` atomically: the JSON goes to a temporary file next to it
   * (`<name>.json.tmp-<pid>-<hex>`: the pid, this module instance, a counter), which is then
   * renamed over the old one.
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * new StateStore().write("networks", "web", { subnet: "198.51.100.0/24" });
   * ```
   * @param kind The kind of object, e.g. `networks`.
   * @param name The object's name.
   * @param value Any JSON-serializable value.
   * @param options `mkdir` (default `true`): create the kind's directory when missing; with
   *   `false` a missing directory throws (code `ENOENT`).
   */
  write(kind: string, name: string, value: unknown, options: { mkdir?: boolean } = {}): void {
    const file = this.#file(kind, name);
    const tmp = this.#temp(kind, file, value, options.mkdir ?? true);
    try {
      rename(tmp, file);
    } catch (err) {
      removeQuietly(tmp);
      throw err;
    }
  }

  /**
   * Creates `<dir>/<kind>/<name>.json` only if it does not exist, atomically and complete: the
   * JSON goes to an unnamed file (`O_TMPFILE`), which is then linked to the final name
   * (`linkat(2)` fails with `EEXIST` instead of replacing); where the file system or the kernel
   * has no unnamed files (or there is no `/proc`), to a temporary file, hard-linked and removed.
   * No reader ever sees a partial file, a crash leaves no temporary file (with `O_TMPFILE`), and
   * of two processes creating the same name exactly one succeeds.
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * const store = new StateStore();
   * store.create("endpoints", "c1", { state: "creating" }); // true
   * store.create("endpoints", "c1", { state: "creating" }); // false: it exists
   * ```
   * @param kind The kind of object.
   * @param name The object's name.
   * @param value Any JSON-serializable value.
   * @param options `mkdir` (default `true`): create the kind's directory when missing; with
   *   `false` a missing directory throws (code `ENOENT`).
   * @returns `true` when it was created, `false` when it already existed.
   */
  create(kind: string, name: string, value: unknown, options: { mkdir?: boolean } = {}): boolean {
    const file = this.#file(kind, name);
    if (unnamedFiles) {
      // open, write, linkat, close: one system call fewer than a named temporary file's
      // (issue 21: an endpoint's intent record is created on every link).
      const made = this.#createUnnamed(kind, file, value, options.mkdir ?? true);
      if (made !== undefined) return made;
    }
    const tmp = this.#temp(kind, file, value, options.mkdir ?? true);
    try {
      link(tmp, file);
      return true;
    } catch (err) {
      if ((err as { code?: string } | null)?.code === "EEXIST") return false;
      throw err;
    } finally {
      removeQuietly(tmp);
    }
  }

  /**
   * Claims `<dir>/<kind>/<name>` for an owner: a directory made with `mkdir(2)`, which either
   * makes it or fails with `EEXIST` (two processes never both claim a name, as CNI's host-local
   * makes one file per reserved address), holding one entry named after the owner. No lock is
   * needed. Releasing removes that entry, which only its owner names, and then the empty
   * directory: a release can never remove a claim another owner made meanwhile (see
   * {@linkcode StateStore.unclaim}). A crash between the two steps leaves an empty claim, held
   * by no one and kept until `gc()` removes it.
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * const store = new StateStore();
   * store.claim("addresses", "198.51.100.2", "c1"); // true
   * store.claim("addresses", "198.51.100.2", "c2"); // false
   * store.claimant("addresses", "198.51.100.2"); // "c1"
   * ```
   * @param kind The kind (directory); it must exist unless `mkdir`.
   * @param name The claimed name (an address).
   * @param owner Who claims it (letters, digits, `_.@-`; never reused, to be released safely).
   * @param options `mkdir` (default `false`): create the kind's directory when missing.
   * @returns `true` when claimed, `false` when someone else holds it.
   */
  claim(kind: string, name: string, owner: string, options: { mkdir?: boolean } = {}): boolean {
    checkName(owner, "owner", OWNER_RE);
    const dir = this.#prefix + checkName(kind, "kind");
    const path = `${dir}/${checkClaim(name)}`;
    try {
      if (options.mkdir) ensureDir(dir, () => mkdir(path, 0o700));
      else mkdir(path, 0o700);
    } catch (err) {
      if ((err as { code?: string } | null)?.code === "EEXIST") return false;
      throw err;
    }
    try {
      // The entry's name is what counts; its target only has to lead nowhere (no loop for
      // tools that walk the tree following links).
      symlink("/dev/null", `${path}/${owner}`);
    } catch (err) {
      removeQuietly(path, true);
      throw err;
    }
    return true;
  }

  /**
   * Sets a mark: a symbolic link `<dir>/<kind>/<name> -> target`, made in one atomic step
   * (`symlink(2)` makes it whole or fails with `EEXIST`), so that a crash never leaves half a
   * mark. Read it with {@linkcode StateStore.claimant}, drop it with
   * {@linkcode StateStore.unclaim} (read, then removed: for marks that only their name's current
   * holder sets and drops, unlike claims).
   *
   * @example
   * ```ts ignore
   * new StateStore().mark("rel.0a1b2c3d4e5f", "c1", "releasing-1764380000000"); // true
   * ```
   * @param kind The kind (directory); it must exist.
   * @param name The marked name.
   * @param target What the mark says (no `/`).
   * @returns `true` when set, `false` when a mark of that name exists.
   */
  mark(kind: string, name: string, target: string): boolean {
    checkName(target, "mark", OWNER_RE);
    try {
      symlink(target, `${this.#prefix}${checkName(kind, "kind")}/${checkClaim(name)}`);
      return true;
    } catch (err) {
      if ((err as { code?: string } | null)?.code === "EEXIST") return false;
      throw err;
    }
  }

  /**
   * Drops a mark set by {@linkcode StateStore.mark}, whatever it says: read (`readlink(2)`, so
   * that only a mark is removed), then removed (`unlink(2)`), without an error object on the way.
   * A name held in the claim format (a directory) is dropped as {@linkcode StateStore.unclaim}
   * drops it.
   *
   * @example
   * ```ts ignore
   * new StateStore().unmark("rel.0a1b2c3d4e5f", "c1"); // true
   * ```
   * @param kind The kind (directory).
   * @param name The marked name.
   * @returns Whether a mark was there and is gone.
   */
  unmark(kind: string, name: string): boolean {
    const path = join(this.dir, checkName(kind, "kind"), checkClaim(name));
    const target = readlinkOrErrno(path);
    if (typeof target === "string") {
      const e = tryPathCall("unlink", path);
      if (e !== 0 && e !== ENOENT_) throw new SyscallError("unlink", JSON.stringify(path), e);
      return e === 0;
    }
    if (target === ENOENT_) return false;
    if (target !== EINVAL_) throw new SyscallError("readlink", JSON.stringify(path), target);
    // A directory: the claim format.
    const owner = this.claimant(kind, name);
    return owner !== undefined && this.unclaim(kind, name, owner);
  }

  /**
   * Who holds a claim made by {@linkcode StateStore.claim} (or, in the format of earlier
   * versions, a symbolic link `<name> -> OWNER`).
   *
   * @example
   * ```ts ignore
   * new StateStore().claimant("addresses", "198.51.100.2"); // "c1"
   * ```
   * @param kind The kind.
   * @param name The claimed name.
   * @returns The owner, or `undefined` when it is not claimed (or claimed by no one: a claim
   *   whose owner entry was never made or is already gone).
   */
  claimant(kind: string, name: string): string | undefined {
    const path = `${this.#prefix}${checkName(kind, "kind")}/${checkClaim(name)}`;
    // The earlier format, and marks; absent claims end here too (one syscall, and no error
    // object: an absent mark is the common case of every endpoint read).
    const link = readlinkOrErrno(path);
    if (typeof link === "string") return link;
    if (link === ENOENT_) return undefined;
    if (link !== EINVAL_) throw new SyscallError("readlink", JSON.stringify(path), link);
    try {
      return readDir(path).find((n) => !n.includes(".tmp-"));
    } catch (err) {
      if (isNotFound(err) || (err as { code?: string }).code === "ENOTDIR") return undefined;
      throw err;
    }
  }

  /**
   * Drops a claim, but only when `owner` holds it: its owner entry is removed (`unlink(2)` of a
   * name only that owner's claim has: atomic, it never touches another owner's claim), then the
   * emptied claim. A claim in the earlier format (a symbolic link) is read, then removed.
   *
   * @example
   * ```ts ignore
   * new StateStore().unclaim("addresses", "198.51.100.2", "c1"); // true
   * ```
   * @param kind The kind.
   * @param name The claimed name.
   * @param owner The owner it must have.
   * @returns Whether it was dropped.
   */
  unclaim(kind: string, name: string, owner: string): boolean {
    checkName(owner, "owner", OWNER_RE);
    const path = `${this.#prefix}${checkName(kind, "kind")}/${checkClaim(name)}`;
    try {
      unlink(`${path}/${owner}`);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
      // Not this owner's, absent, or a claim of the earlier format.
      if (this.claimant(kind, name) !== owner) return false;
      try {
        unlink(path);
        return true;
      } catch (e) {
        if (isNotFound(e) || (e as { code?: string }).code === "EISDIR") return false;
        throw e;
      }
    }
    // Empty now: nobody else can have made an entry in it (a claim of this name fails with
    // EEXIST while the directory exists).
    try {
      rmdir(path);
    } catch { /* gone already */ }
    return true;
  }

  /**
   * The names claimed in a kind (see {@linkcode StateStore.claim}).
   *
   * @example
   * ```ts ignore
   * new StateStore().claims("addresses"); // ["198.51.100.2"]
   * ```
   * @param kind The kind.
   * @returns The names, unsorted; `[]` when the kind does not exist.
   */
  claims(kind: string): string[] {
    return this.entries(kind).filter((n) => !n.includes(".tmp-"));
  }

  /**
   * Every entry of a kind's directory as it is (state files, claims, temporary files), for
   * maintenance.
   *
   * @example
   * ```ts ignore
   * new StateStore().entries("networks"); // ["web.json", "web.json.tmp-4242-a1b2c3d4e5f6"]
   * ```
   * @param kind The kind.
   * @returns The names, unsorted; `[]` when the directory does not exist.
   */
  entries(kind: string): string[] {
    try {
      return readDir(this.#prefix + checkName(kind, "kind"));
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  /**
   * The kinds (directories) in the state directory.
   *
   * @example
   * ```ts ignore
   * new StateStore().kinds(); // ["networks"]
   * ```
   * @returns Their names, sorted.
   */
  kinds(): string[] {
    try {
      return readdirSync(this.dir, { withFileTypes: true })
        .filter((d) => d.isDirectory() && NAME_RE.test(d.name) && !d.name.includes(".."))
        .map((d) => d.name).sort();
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  /**
   * Makes a kind's directory (mode 0700); nothing happens when it exists.
   *
   * @example
   * ```ts ignore
   * new StateStore().makeKind("addresses.0a1b2c3d4e5f");
   * ```
   * @param kind The kind.
   */
  makeKind(kind: string): void {
    mkdirSync(join(this.dir, checkName(kind, "kind")), { recursive: true, mode: 0o700 });
  }

  /**
   * Removes one entry of a kind as it is (a stray temporary file, a claim); nothing happens when
   * it is absent.
   *
   * @example
   * ```ts ignore
   * new StateStore().removeEntry("networks", "web.json.tmp-4242-a1b2c3d4e5f6");
   * ```
   * @param kind The kind.
   * @param entry The entry's file name.
   */
  removeEntry(kind: string, entry: string): void {
    if (entry.includes("/") || entry === "." || entry === "..") {
      throw new TypeError(`Invalid state entry "${entry}"`);
    }
    removeQuietly(join(this.dir, checkName(kind, "kind"), entry), true);
  }

  /**
   * {@linkcode StateStore.create} through an unnamed file: `true` created, `false` it exists,
   * `undefined` when unnamed files cannot be used here (then never tried again by this process
   * when the file system refuses them).
   */
  #createUnnamed(
    kind: string,
    file: string,
    value: unknown,
    mkdir: boolean,
  ): boolean | undefined {
    const text = JSON.stringify(value);
    if (text === undefined) return undefined; // #temp says why
    const dir = this.#prefix + kind;
    const bytes = encoder.encode(text + "\n");
    let fd: number;
    try {
      const openIt = () => open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0o600);
      fd = mkdir ? ensureDir(dir, openIt) : openIt();
    } catch (err) {
      const errno = err instanceof SyscallError ? err.errno : 0;
      // No O_TMPFILE in this file system (EOPNOTSUPP) or kernel (EISDIR, EINVAL).
      if (errno === 95 || errno === 21 || errno === 22) {
        unnamedFiles = false;
        return undefined;
      }
      throw err;
    }
    try {
      for (let off = 0; off < bytes.byteLength;) {
        off += write(fd, off === 0 ? bytes : bytes.subarray(off), JSON.stringify(file));
      }
      const r = tryLinkFd(fd, file);
      if (r === 0) return true;
      if (r === 17) return false; // EEXIST
      // Another failure (no /proc, say): the named temporary file says what it is.
      return undefined;
    } finally {
      close(fd);
    }
  }

  /** Writes `value` to a new temporary file beside `file`; returns its path. */
  #temp(kind: string, file: string, value: unknown, mkdir: boolean): string {
    const text = JSON.stringify(value);
    if (text === undefined) {
      throw new TypeError(
        `State "${kind}/${basename(file)}" cannot be stored: the value is not JSON`,
      );
    }
    // Unique: the writer's pid, this module instance (threads share the pid), a counter.
    const tmp = `${file}.tmp-${pid()}-${INSTANCE}${(++tempCount).toString(16)}`;
    // Through libc rather than node:fs: the same calls, without the runtime's layers (Deno's
    // writeFileSync costs ~45 µs here, open + write + close ~8 µs).
    const put = () => writeNew(tmp, encoder.encode(text + "\n"));
    try {
      if (mkdir) ensureDir(this.#prefix + kind, put);
      else put();
    } catch (err) {
      removeQuietly(tmp);
      throw err;
    }
    return tmp;
  }

  /**
   * Identifies the current version of `<dir>/<kind>/<name>.json` (inode, size and modification
   * time): every {@linkcode StateStore.write} renames a new file into place, so the stamp changes
   * with each write, by this process or another. Lets a caller keep a parsed copy and re-read
   * only when the file changed.
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * new StateStore().stamp("networks", "web"); // e.g. "1234:512:1764380000000.123"
   * ```
   * @param kind The kind of object.
   * @param name The object's name.
   * @returns The stamp, or `undefined` when there is no such file.
   */
  stamp(kind: string, name: string): string | undefined {
    try {
      const st = statSync(this.#file(kind, name));
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * Identifies the current version of a kind's directory (inode, size, modification time): it
   * changes when an entry is added or removed — except, on filesystems whose clock ticks
   * coarsely, for changes that keep the size within one tick. A hint for caches, never proof.
   *
   * @example
   * ```ts ignore
   * new StateStore().kindStamp("networks"); // e.g. "77:60:1764380000000.12"
   * ```
   * @param kind The kind.
   * @returns The stamp, or `undefined` when the directory does not exist.
   */
  kindStamp(kind: string): string | undefined {
    try {
      const st = statSync(this.#prefix + checkName(kind, "kind"));
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * Removes the directory of a kind and everything in it; nothing happens when it is absent.
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * new StateStore().removeKind("endpoints.web");
   * ```
   * @param kind The kind of object.
   */
  removeKind(kind: string): void {
    rmSync(join(this.dir, checkName(kind, "kind")), { recursive: true, force: true });
  }

  /**
   * Deletes `<dir>/<kind>/<name>.json`; nothing happens when it does not exist.
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * new StateStore().remove("networks", "web");
   * ```
   * @param kind The kind of object.
   * @param name The object's name.
   */
  remove(kind: string, name: string): void {
    try {
      unlink(this.#file(kind, name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * Deletes `<dir>/<kind>/<name>.json` only if its content is the one meant, without a window in
   * which another process's removal and re-creation of the name could be mistaken for it: the
   * file is first renamed to a temporary name (atomic: of several removers, one gets it), then
   * read; a file that is not the one meant is linked back into place (`link(2)`, which never
   * replaces one written meanwhile) and the temporary name removed.
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * const store = new StateStore();
   * store.removeIf<{ token?: string }>("endpoints", "c1", (v) => v.token === "3f9a"); // "removed"
   * ```
   * @param kind The kind of object.
   * @param name The object's name.
   * @param match Whether the content read is the one to delete.
   * @returns `removed`, `absent` (no such file), or `kept` (another content: left in place).
   */
  removeIf<T>(
    kind: string,
    name: string,
    match: (value: T) => boolean,
  ): "removed" | "absent" | "kept" {
    const file = this.#file(kind, name);
    const taken = `${file}.tmp-${pid()}-${INSTANCE}${(++tempCount).toString(16)}`;
    try {
      rename(file, taken);
    } catch (err) {
      if (isNotFound(err)) return "absent";
      throw err;
    }
    let value: T | undefined;
    try {
      value = JSON.parse(readTextFile(taken)) as T;
    } catch {
      value = undefined;
    }
    if (value !== undefined && match(value)) {
      removeQuietly(taken);
      return "removed";
    }
    try {
      link(taken, file);
    } catch (err) {
      // EEXIST: a newer file took its place meanwhile, which stands. Anything else: put it back.
      if ((err as { code?: string } | null)?.code !== "EEXIST") {
        rename(taken, file);
        throw err;
      }
    }
    removeQuietly(taken);
    return "kept";
  }

  /**
   * Lists the objects of a kind.
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * new StateStore().list("networks"); // e.g. ["db", "web"]
   * ```
   * @param kind The kind of object.
   * @returns The names (without `.json`), sorted; `[]` when there are none.
   */
  list(kind: string): string[] {
    let entries: string[];
    try {
      entries = readDir(this.#prefix + checkName(kind, "kind"));
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    return entries
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.slice(0, -".json".length))
      .filter((n) => NAME_RE.test(n) && !n.includes(".."))
      .sort();
  }

  #file(kind: string, name: string): string {
    return `${this.#prefix}${checkName(kind, "kind")}/${checkName(name, "name")}.json`;
  }
}

/** Directories this process made or found, so the hot path skips `mkdir -p`. */
const knownDirs = new Set<string>();
/** Whether {@linkcode StateStore.create} may use unnamed files (`O_TMPFILE`) here. */
let unnamedFiles = true;

/**
 * Runs `fn`, which creates something in `dir`; makes `dir` (mode 0700, with parents) first when
 * this process has not seen it yet, and again if `fn` fails because it has gone since.
 */
function ensureDir<T>(dir: string, fn: () => T): T {
  if (!knownDirs.has(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    knownDirs.add(dir);
    return fn();
  }
  try {
    return fn();
  } catch (err) {
    if (!isNotFound(err)) throw err; // SyscallError and node:fs errors both carry code ENOENT
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return fn();
  }
}

const encoder = new TextEncoder();
/** This module instance, in temporary file names. */
const INSTANCE = Array.from(crypto.getRandomValues(new Uint8Array(6)))
  .map((b) => b.toString(16).padStart(2, "0")).join("");
let tempCount = 0;

/** Creates `path` (mode 0600, `EEXIST` if it exists) holding `bytes`. */
function writeNew(path: string, bytes: Uint8Array<ArrayBuffer>): void {
  const fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600);
  try {
    for (let off = 0; off < bytes.byteLength;) {
      off += write(fd, off === 0 ? bytes : bytes.subarray(off), JSON.stringify(path));
    }
  } finally {
    close(fd);
  }
}

function removeQuietly(path: string, claim = false): void {
  try {
    unlink(path);
  } catch (err) {
    // Already gone; or a claim (a directory, holding at most its owner entry).
    if (claim && (err as { code?: string }).code === "EISDIR") {
      rmSync(path, { recursive: true, force: true });
    }
  }
}

const CLAIM_RE = /^[0-9A-Za-z][0-9A-Za-z.:_-]{0,63}$/;

function checkClaim(name: string): string {
  if (typeof name !== "string" || !CLAIM_RE.test(name) || name.includes("..")) {
    throw new TypeError(`Invalid claim "${String(name)}": expected an address or a plain name`);
  }
  return name;
}

function checkSync<T>(value: T): T {
  if (isThenable(value)) {
    // Keep a rejection from going unhandled; the caller learns of the mistake from the TypeError.
    Promise.resolve(value).catch(() => {});
    throw new TypeError(
      "StateStore.withLock needs a synchronous function: it returned a promise, which the lock " +
        "would not cover",
    );
  }
  return value;
}
