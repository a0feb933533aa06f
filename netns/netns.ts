/**
 * Network namespaces mounted at a path, as `ip netns` and libnetwork make them: an empty file,
 * `unshare(CLONE_NEWNET)` on the calling thread, a bind mount of that thread's namespace onto the
 * file, and a return to the original namespace — all in one synchronous section.
 *
 * @module
 */
import { mkdirSync, readdirSync } from "node:fs";
import { dirname, normalize } from "node:path";
import {
  close,
  exists,
  type FileStat,
  lstat,
  MNT_DETACH,
  mount,
  MS_BIND,
  MS_REC,
  MS_SHARED,
  O_CLOEXEC,
  O_CREAT,
  O_EXCL,
  O_RDONLY,
  open,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  stat,
  SyscallError,
  umount2,
  unlink,
} from "../ffi/libc.ts";
import { openCurrentNetns, THREAD_NETNS, withNetns, withNewNetns } from "../ffi/enter.ts";

/** Where named namespaces live, so that `ip netns` sees them. */
export const NETNS_RUN_DIR = "/run/netns";

const EEXIST = 17;
const ENOENT = 2;
const EINVAL = 22;

/**
 * Turns a name (`c1`) into `/run/netns/c1`; a path (anything with a `/`) must be absolute and
 * normalised (no `.` or `..` segments, no `//`, no trailing `/`), and is kept as it is. Anything
 * else is refused with a `TypeError` quoting it, before anything is touched.
 *
 * @example
 * ```ts
 * import { netnsPath } from "./netns.ts";
 * netnsPath("c1"); // "/run/netns/c1"
 * netnsPath("/var/run/docker/netns/x"); // "/var/run/docker/netns/x"
 * // netnsPath("netns/c1") and netnsPath("/run/netns/../c1") throw a TypeError
 * ```
 * @param nameOrPath A namespace name or an absolute path.
 * @returns The path.
 */
export function netnsPath(nameOrPath: string): string {
  if (
    typeof nameOrPath !== "string" || nameOrPath === "" || nameOrPath === "." || nameOrPath === ".."
  ) {
    throw new TypeError(`Invalid network namespace name "${nameOrPath}"`);
  }
  if (nameOrPath.includes("\0")) {
    throw new TypeError(`Invalid network namespace path ${JSON.stringify(nameOrPath)}: NUL byte`);
  }
  if (!nameOrPath.includes("/")) return `${NETNS_RUN_DIR}/${nameOrPath}`;
  if (!nameOrPath.startsWith("/")) {
    throw new TypeError(
      `Invalid network namespace path "${nameOrPath}": expected an absolute path (or a bare name for ${NETNS_RUN_DIR}/NAME)`,
    );
  }
  // A normalised path has no "//", "/./" or "/../" and no trailing "/" or "/." or "/.." (checked
  // without node:path, which costs more than the rest of a namespace's setup on this hot path).
  if (/\/\/|\/\.\.?(\/|$)|\/$/.test(nameOrPath)) {
    throw new TypeError(
      `Invalid network namespace path "${nameOrPath}": expected a normalised path (no ".", "..", "//" or trailing "/"), such as "${
        normalize(nameOrPath).replace(/\/+$/, "") || "/"
      }"`,
    );
  }
  return nameOrPath;
}

/** The device number of nsfs, the filesystem of every namespace file. */
let nsfsDev: string | undefined;

/** Whether a stat result is a namespace (a file of nsfs, which is what a bind mount shows). */
function isNamespaceFile(st: FileStat): boolean {
  nsfsDev ??= stat(THREAD_NETNS).dev;
  return st.dev === nsfsDev;
}

/** What {@linkcode NetNs.create} makes before mounting: an empty, read-only regular file. */
function isOwnStub(st: FileStat): boolean {
  return (st.mode & S_IFMT) === S_IFREG && st.size === 0 && (st.mode & 0o777) === 0o444;
}

let runDirShared = false;

/** Makes /run/netns a shared mount point, as iproute2 does, so mounts in it propagate. */
function prepareRunDir(): void {
  if (runDirShared) return;
  mkdirSync(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
  try {
    mount("none", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC);
  } catch (e) {
    if (!(e instanceof SyscallError && e.errno === EINVAL)) throw e;
    // Not a mount point yet: bind it onto itself, then share it.
    mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC);
    mount("none", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC);
  }
  runDirShared = true;
}

/** Makes the empty file a namespace is mounted on; `EEXIST` when something is there. */
function makeStub(path: string, object: string): void {
  if (path.startsWith(`${NETNS_RUN_DIR}/`)) prepareRunDir();
  else mkdirSync(dirname(path), { recursive: true });
  let fileFd: number;
  try {
    fileFd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444, object);
  } catch (e) {
    if (e instanceof SyscallError && e.errno === EEXIST) {
      throw new SyscallError("create netns", `${object} (already exists)`, EEXIST, { cause: e });
    }
    throw e;
  }
  close(fileFd);
}

/** Undoes what a failed creation made: the mount, if any, and the file. */
function removeStub(path: string): void {
  try {
    umount2(path, MNT_DETACH);
  } catch { /* not mounted */ }
  try {
    unlink(path);
  } catch { /* already gone */ }
}

/**
 * An open network namespace. `close()` (or `using`) releases the fd; `delete()` removes the
 * mount and the file. Requires root (`CAP_SYS_ADMIN`) to create, delete or enter.
 *
 * @example Create, use and delete
 * ```ts ignore
 * import { NetNs } from "./netns.ts";
 * const ns = NetNs.create("nsltest");       // /run/netns/nsltest, visible to `ip netns`
 * ns.run(() => console.log("inside"));     // synchronous work inside it
 * ns.delete();
 * ```
 */
export class NetNs implements Disposable {
  /** Where it is mounted (or the `/proc/PID/ns/net` it was opened from). */
  readonly path: string;
  #fd: number;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** The open fd of the namespace; `-1` once closed. */
  get fd(): number {
    return this.#fd;
  }

  /**
   * Creates a new, empty network namespace mounted at a path (a bare name means
   * `/run/netns/NAME`). Fails with `EEXIST` when something is already there, leaving it alone;
   * any failure midway removes what was made.
   *
   * @example
   * ```ts ignore
   * const ns = NetNs.create("/run/netns/c1");
   * ```
   * @param nameOrPath Name or path.
   * @param inside Synchronous work to run inside the new namespace before the thread returns
   *   (e.g. opening a netlink socket there, which saves entering it again); when it throws,
   *   the namespace is removed and the error is thrown.
   * @returns The namespace, open.
   */
  static create(nameOrPath: string, inside?: () => void): NetNs {
    const path = netnsPath(nameOrPath);
    const object = JSON.stringify(path);
    makeStub(path, object);
    try {
      withNewNetns(() => {
        mount(THREAD_NETNS, path, "none", MS_BIND, object);
        inside?.();
      }, object);
      return new NetNs(path, open(path, O_RDONLY | O_CLOEXEC, 0, object));
    } catch (e) {
      removeStub(path);
      throw e;
    }
  }

  /**
   * Mounts the namespace of an open fd at a path (a bare name means `/run/netns/NAME`), as
   * {@linkcode NetNs.create} mounts a new one (the same file, the same bind mount), and takes
   * the fd over: the returned object closes it. Fails with `EEXIST` when something is already
   * there, leaving it alone; on any failure the fd stays the caller's. Equivalent to:
   * `ip netns attach NAME PID`, with an fd instead of a process.
   *
   * @example
   * ```ts ignore
   * const ns = NetNs.attach("/run/netns/c1", fd);
   * ```
   * @param nameOrPath Name or path.
   * @param fd An open fd of a network namespace (`O_CLOEXEC`).
   * @returns The namespace, open on `fd`.
   */
  static attach(nameOrPath: string, fd: number): NetNs {
    const path = netnsPath(nameOrPath);
    const object = JSON.stringify(path);
    makeStub(path, object);
    try {
      mount(`/proc/self/fd/${fd}`, path, "none", MS_BIND, object);
      return new NetNs(path, fd);
    } catch (e) {
      removeStub(path);
      throw e;
    }
  }

  /**
   * Opens an existing namespace by name or path.
   *
   * @example
   * ```ts ignore
   * using ns = NetNs.open("c1");
   * ```
   * @param nameOrPath Name or path.
   * @returns The namespace, open.
   */
  static open(nameOrPath: string): NetNs {
    const path = netnsPath(nameOrPath);
    return new NetNs(path, open(path, O_RDONLY | O_CLOEXEC, 0, JSON.stringify(path)));
  }

  /**
   * Opens the network namespace of a process.
   *
   * @example
   * ```ts ignore
   * using ns = NetNs.openPid(1);
   * ```
   * @param pid The process id.
   * @returns The namespace, open.
   */
  static openPid(pid: number): NetNs {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`Invalid pid "${pid}"`);
    const path = `/proc/${pid}/ns/net`;
    return new NetNs(path, open(path, O_RDONLY | O_CLOEXEC, 0, JSON.stringify(path)));
  }

  /**
   * Opens the calling thread's current namespace.
   *
   * @example
   * ```ts ignore
   * using here = NetNs.current();
   * ```
   * @returns The namespace, open.
   */
  static current(): NetNs {
    return new NetNs(THREAD_NETNS, openCurrentNetns());
  }

  /**
   * Lists the names under `/run/netns`, like `ip netns list`.
   *
   * @example
   * ```ts
   * import { NetNs } from "../mod.ts";
   * NetNs.list(); // ["c1", "c2"]
   * ```
   * @returns The names.
   */
  static list(): string[] {
    try {
      return readdirSync(NETNS_RUN_DIR).sort();
    } catch {
      return [];
    }
  }

  /**
   * Whether a namespace is mounted at this name or path.
   *
   * @example
   * ```ts
   * import { NetNs } from "../mod.ts";
   * NetNs.exists("c1"); // true
   * ```
   * @param nameOrPath Name or path.
   * @returns `true` when the file exists.
   */
  static exists(nameOrPath: string): boolean {
    return exists(netnsPath(nameOrPath));
  }

  /**
   * Unmounts and removes a namespace by name or path. Processes and sockets still inside keep
   * it alive; its links go when the last of them leaves. With `missingOk`, a namespace that is
   * already gone is not an error. Only a namespace mount is removed, or the empty file
   * {@linkcode NetNs.create} makes before mounting (left by a crash in between); anything else
   * at the path (a regular file, a directory, a symbolic link) is refused with `EINVAL` and left
   * alone.
   *
   * @example
   * ```ts ignore
   * NetNs.remove("c1", { missingOk: true });
   * ```
   * @param nameOrPath Name or path.
   * @param options `missingOk`: succeed when nothing is there.
   */
  static remove(nameOrPath: string, options: { missingOk?: boolean } = {}): void {
    const path = netnsPath(nameOrPath);
    const object = JSON.stringify(path);
    let st: FileStat;
    try {
      st = lstat(path);
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") throw e;
      if (options.missingOk) return;
      throw new SyscallError("delete netns", `${object} (no such namespace)`, ENOENT, {
        cause: e,
      });
    }
    // Only a namespace mount, or the empty file NetNs.create makes before mounting (left by a
    // crash in between): anything else at the path is not nslink's to remove.
    // (Not a symbolic link, so what lstat saw is what is mounted there.)
    if ((st.mode & S_IFMT) !== S_IFLNK && isNamespaceFile(st)) {
      try {
        umount2(path, MNT_DETACH, object);
      } catch (e) {
        // EINVAL: a namespace reached some other way than a mount on this path (e.g. a path
        // inside /proc): not ours either.
        if (!(e instanceof SyscallError && e.errno === EINVAL)) throw e;
        throw new SyscallError(
          "delete netns",
          `${object} (a namespace file, but not a mount: refusing to remove it)`,
          EINVAL,
          { cause: e },
        );
      }
    } else if (!isOwnStub(st)) {
      throw new SyscallError(
        "delete netns",
        `${object} (not a network namespace: refusing to remove it)`,
        EINVAL,
      );
    }
    try {
      unlink(path);
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT" || !options.missingOk) throw e;
    }
  }

  /**
   * Runs synchronous work with the calling thread inside this namespace, and returns.
   *
   * @example
   * ```ts ignore
   * const fd = ns.run(() => someSocketOpen());
   * ```
   * @param fn The work; must not return a promise.
   * @returns What `fn` returned.
   */
  run<T>(fn: () => T): T {
    if (this.#fd < 0) throw new Error(`Network namespace ${JSON.stringify(this.path)} is closed`);
    return withNetns(this.#fd, fn, JSON.stringify(this.path));
  }

  /**
   * Closes the fd and removes the namespace's mount and file.
   *
   * @example
   * ```ts
   * import { NetNs } from "../mod.ts";
   * declare const ns: NetNs;
   * ns.delete();
   * ```
   * @param options `missingOk`: succeed when the mount is already gone.
   */
  delete(options: { missingOk?: boolean } = {}): void {
    this.close();
    NetNs.remove(this.path, options);
  }

  /** Closes the fd; safe to call twice. The namespace itself stays. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    close(fd);
  }

  /** Closes the fd (for `using`); the namespace itself stays. */
  [Symbol.dispose](): void {
    this.close();
  }
}
