/**
 * nslink's on-disk state: one JSON file per object (`<dir>/<kind>/<name>.json`), replaced
 * atomically on every write, and a process-wide lock (`flock` on `<dir>/.lock`) that makes a
 * read-modify-write safe against other processes.
 *
 * Permissions: Deno needs `--allow-read --allow-write` on the state directory and `--allow-ffi`
 * for the lock (`--allow-env` only to honour `NSLINK_STATE_DIR`). The default directory,
 * `/run/nslink`, needs root; any writable directory works.
 *
 * @module
 */
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { close, flock, LOCK_EX, LOCK_UN, O_CLOEXEC, O_CREAT, O_RDWR, open } from "../ffi/libc.ts";

/** Where nslink keeps its state unless `NSLINK_STATE_DIR` says otherwise. */
export const DEFAULT_STATE_DIR = "/run/nslink";

const ENV_VAR = "NSLINK_STATE_DIR";
const NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;
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

function readEnv(name: string): string | undefined {
  try {
    const deno = (globalThis as { Deno?: DenoEnv }).Deno;
    if (deno?.env) {
      // Ask first, so that a missing --allow-env neither throws nor prompts.
      const state = deno.permissions?.querySync?.({ name: "env", variable: name }).state;
      if (state !== undefined && state !== "granted") return undefined;
      return deno.env.get(name);
    }
    return (globalThis as { process?: NodeProcess }).process?.env?.[name];
  } catch {
    return undefined;
  }
}

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

function checkName(value: string, what: string): string {
  if (typeof value !== "string") {
    throw new TypeError(`Invalid state ${what} ${String(value)}: expected a string`);
  }
  if (!NAME_RE.test(value) || value.includes("..") || value.length > NAME_MAX) {
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

/** Locks this thread holds, by resolved directory, so nested calls do not wait on themselves. */
const held = new Map<string, { depth: number }>();

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

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
  }

  /**
   * Runs `fn` while holding an exclusive `flock` on `<dir>/.lock`, waiting for other processes
   * (and other threads) that hold it. Nested calls on the same directory from the same thread
   * just run `fn`. The lock is released and the file closed even when `fn` throws.
   *
   * `fn` must be synchronous: an `async` function is refused before it runs, and a returned
   * promise raises a `TypeError` (the lock would not cover its work).
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * const store = new StateStore();
   * const names = store.withLock(() => store.list("networks"));
   * ```
   * @param fn The critical section.
   * @returns What `fn` returned.
   */
  withLock<T>(fn: () => T): T {
    if (typeof fn !== "function" || fn.constructor?.name === "AsyncFunction") {
      throw new TypeError("StateStore.withLock needs a synchronous function, not an async one");
    }
    const key = resolve(this.dir);
    const mine = held.get(key);
    if (mine) {
      mine.depth++;
      try {
        return checkSync(fn());
      } finally {
        mine.depth--;
      }
    }
    const path = join(this.dir, ".lock");
    const fd = ensureDir(this.dir, () => open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600));
    try {
      flock(fd, LOCK_EX, JSON.stringify(path));
      held.set(key, { depth: 1 });
      try {
        return checkSync(fn());
      } finally {
        held.delete(key);
        flock(fd, LOCK_UN, JSON.stringify(path));
      }
    } finally {
      close(fd, JSON.stringify(path));
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
      text = readFileSync(file, "utf8");
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
   * (`<name>.json.tmp-<pid>-<random>`), which is then renamed over the old one.
   *
   * @example
   * ```ts ignore
   * import { StateStore } from "./state.ts";
   * new StateStore().write("networks", "web", { subnet: "198.51.100.0/24" });
   * ```
   * @param kind The kind of object, e.g. `networks`.
   * @param name The object's name.
   * @param value Any JSON-serializable value.
   */
  write(kind: string, name: string, value: unknown): void {
    const file = this.#file(kind, name);
    const text = JSON.stringify(value);
    if (text === undefined) {
      throw new TypeError(`State "${kind}/${name}" cannot be stored: the value is not JSON`);
    }
    const random = Array.from(crypto.getRandomValues(new Uint8Array(6)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const tmp = `${file}.tmp-${pid()}-${random}`;
    try {
      ensureDir(join(this.dir, kind), () => writeFileSync(tmp, text + "\n", { mode: 0o600 }));
      renameSync(tmp, file);
    } catch (err) {
      try {
        unlinkSync(tmp);
      } catch {
        // Already renamed or never created.
      }
      throw err;
    }
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
      unlinkSync(this.#file(kind, name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
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
      entries = readdirSync(join(this.dir, checkName(kind, "kind")));
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
    return join(this.dir, checkName(kind, "kind"), `${checkName(name, "name")}.json`);
  }
}

/** Directories this process made or found, so the hot path skips `mkdir -p`. */
const knownDirs = new Set<string>();

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
