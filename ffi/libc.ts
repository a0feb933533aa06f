/**
 * The loader and the typed, errno-checked libc calls the rest of nslink uses. It picks the
 * runtime's backend, opens libc on first use, and turns every failure into a
 * {@linkcode SyscallError} whose errno was read immediately after the call.
 *
 * All calls are synchronous and run on the calling thread, which is what namespace switching
 * needs: `setns` and `unshare` act on the calling thread only.
 *
 * @module
 */
import { openBunLibc } from "./bun.ts";
import { openDenoLibc } from "./deno.ts";
import { FfiUnavailableError, SyscallError } from "./errors.ts";
import type { LoadedLibc, RawLibc } from "./symbols.ts";

export { FfiUnavailableError, SyscallError };

/** `CLONE_NEWNET` from `<sched.h>`. */
export const CLONE_NEWNET = 0x40000000;
/** `O_RDONLY` from `<fcntl.h>`. */
export const O_RDONLY = 0;
/** `O_WRONLY` from `<fcntl.h>`. */
export const O_WRONLY = 1;
/** `O_RDWR` from `<fcntl.h>`. */
export const O_RDWR = 2;
/** `O_CREAT` from `<fcntl.h>`. */
export const O_CREAT = 0o100;
/** `O_EXCL` from `<fcntl.h>`. */
export const O_EXCL = 0o200;
/** `O_CLOEXEC` from `<fcntl.h>`. */
export const O_CLOEXEC = 0o2000000;
/** `MS_BIND` from `<sys/mount.h>`. */
export const MS_BIND = 4096;
/** `MS_REC` from `<sys/mount.h>`. */
export const MS_REC = 16384;
/** `MS_SHARED` from `<sys/mount.h>`. */
export const MS_SHARED = 1 << 20;
/** `EFD_CLOEXEC` from `<sys/eventfd.h>`. */
export const EFD_CLOEXEC = 0o2000000;
/** `EFD_NONBLOCK` from `<sys/eventfd.h>`. */
export const EFD_NONBLOCK = 0o4000;
/** `POLLIN` from `<poll.h>`. */
export const POLLIN = 1;
/** `MNT_DETACH` from `<sys/mount.h>`. */
export const MNT_DETACH = 2;
/** `LOCK_SH` from `<sys/file.h>`. */
export const LOCK_SH = 1;
/** `LOCK_EX` from `<sys/file.h>`. */
export const LOCK_EX = 2;
/** `LOCK_UN` from `<sys/file.h>`. */
export const LOCK_UN = 8;
/** `LOCK_NB` from `<sys/file.h>`. */
export const LOCK_NB = 4;

let loaded: LoadedLibc | undefined;

function platform(): string {
  const deno = (globalThis as { Deno?: { build?: { os?: string } } }).Deno;
  if (deno?.build?.os) return deno.build.os;
  return (globalThis as { process?: { platform?: string } }).process?.platform ?? "unknown";
}

/**
 * Loads libc for this runtime, once. Throws {@linkcode FfiUnavailableError} with instructions
 * when FFI is not allowed, libc is missing or the platform is not Linux.
 *
 * @example
 * ```ts ignore
 * import { loadLibc } from "./libc.ts";
 * const { symbols } = loadLibc(); // needs --allow-ffi under Deno
 * symbols.getpid();
 * ```
 * @returns The loaded library.
 */
export function loadLibc(): LoadedLibc {
  if (loaded) return loaded;
  const os = platform();
  if (os !== "linux") {
    throw new FfiUnavailableError(
      `nslink needs Linux (network namespaces and rtnetlink); this is "${os}"`,
    );
  }
  const isBun = "Bun" in globalThis;
  try {
    loaded = isBun ? openBunLibc() : openDenoLibc();
  } catch (cause) {
    const text = String((cause as Error)?.message ?? cause);
    if (!isBun && /ffi|permission|NotCapable|Requires/i.test(text + (cause as Error)?.name)) {
      throw new FfiUnavailableError(
        "nslink needs FFI access: run Deno with --allow-ffi (and --unstable-ffi before Deno 2.9)",
        { cause },
      );
    }
    throw new FfiUnavailableError(
      `nslink could not load libc.so.6 through ${isBun ? "bun:ffi" : "Deno.dlopen"}: ${text}`,
      { cause },
    );
  }
  return loaded;
}

function sym(): RawLibc {
  return (loaded ?? loadLibc()).symbols;
}

/** Reads errno; call it first thing after a failing call, before anything allocates. */
function errno(): number {
  return loaded!.errno();
}

const encoder = new TextEncoder();

/**
 * A `size_t`/`unsigned long` argument. Both runtimes take a plain number for these 64-bit
 * parameters (no BigInt allocation); Deno's typings only say `bigint`.
 */
function size(n: number): bigint {
  return n as unknown as bigint;
}

/**
 * Encodes a string as a NUL-terminated C string.
 *
 * @example
 * ```ts
 * import { cString } from "./libc.ts";
 * cString("lo"); // Uint8Array [108, 111, 0]
 * ```
 * @param s The string.
 * @returns Its UTF-8 bytes followed by a NUL.
 */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  // One allocation (encodeInto into a worst-case buffer, then a view of it, made two; on Deno
  // that cost ~1 µs more per path, and a container's teardown passes about a dozen paths).
  return encoder.encode(s + "\0") as Uint8Array<ArrayBuffer>;
}

/** `socket(2)`; returns the fd. @param domain @param type @param protocol @param object What the socket is for, for error messages. */
export function socket(domain: number, type: number, protocol: number, object = ""): number {
  const fd = sym().socket(domain, type, protocol);
  if (fd < 0) throw new SyscallError("socket", object, errno());
  return fd;
}

/** `bind(2)`. @param fd @param addr A `sockaddr`. @param object For error messages. */
export function bind(fd: number, addr: Uint8Array<ArrayBuffer>, object = ""): void {
  if (sym().bind(fd, addr, addr.byteLength) < 0) throw new SyscallError("bind", object, errno());
}

/** `getsockname(2)`. @param fd @param addr Receives the `sockaddr`. @param object For error messages. @returns The address length. */
export function getsockname(fd: number, addr: Uint8Array<ArrayBuffer>, object = ""): number {
  const len = new Uint32Array([addr.byteLength]);
  if (sym().getsockname(fd, addr, len) < 0) {
    throw new SyscallError("getsockname", object, errno());
  }
  return len[0];
}

/** `setsockopt(2)` with an `int` value. @param fd @param level @param name @param value @param object For error messages. */
export function setsockoptInt(
  fd: number,
  level: number,
  name: number,
  value: number,
  object = "",
): void {
  const v = new Int32Array([value]);
  if (sym().setsockopt(fd, level, name, v, 4) < 0) {
    throw new SyscallError("setsockopt", object, errno());
  }
}

/**
 * `getsockopt(2)` of an `int` option, e.g. the effective `SO_RCVBUF`.
 *
 * @example
 * ```ts ignore
 * const bytes = getsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF");
 * ```
 * @param fd The socket.
 * @param level E.g. `SOL_SOCKET`.
 * @param name E.g. `SO_RCVBUF`.
 * @param object For error messages.
 * @returns The option's value.
 */
export function getsockoptInt(fd: number, level: number, name: number, object = ""): number {
  const v = new Int32Array(1);
  const len = new Uint32Array([4]);
  if (sym().getsockopt(fd, level, name, v, len) < 0) {
    throw new SyscallError("getsockopt", object, errno());
  }
  return v[0];
}

/**
 * `getsockopt(2)` `SO_PEERCRED` of a connected unix socket: who is at the other end (the
 * credentials it had when it connected).
 *
 * @example
 * ```ts ignore
 * peerCredentials(fd); // { pid: 4242, uid: 0, gid: 0 }
 * ```
 * @param fd The socket.
 * @param object For error messages.
 * @returns The peer's pid, uid and gid.
 */
export function peerCredentials(
  fd: number,
  object = "",
): { pid: number; uid: number; gid: number } {
  const v = new Int32Array(3); // struct ucred
  const len = new Uint32Array([12]);
  if (sym().getsockopt(fd, 1, /* SOL_SOCKET */ 17, /* SO_PEERCRED */ v, len) < 0) {
    throw new SyscallError("getsockopt", object || "SO_PEERCRED", errno());
  }
  return { pid: v[0], uid: v[1], gid: v[2] };
}

/** `sendto(2)` with no destination. @param fd @param buf @param flags @param object For error messages. @returns Bytes sent. */
export function send(fd: number, buf: Uint8Array<ArrayBuffer>, flags = 0, object = ""): number {
  const n = sym().sendto(fd, buf, size(buf.byteLength), flags, null, 0);
  if (n < 0) throw new SyscallError("sendto", object, errno());
  return n;
}

/**
 * `recvfrom(2)` with no source address. Returns `-errno` instead of throwing for `EINTR`,
 * `EAGAIN` and `ENOBUFS` (a netlink socket's lost multicast messages), so that callers can
 * handle them without an exception.
 *
 * @param fd @param buf @param flags @param object For error messages.
 * @returns Bytes received (with `MSG_TRUNC`, the datagram's real length), or a negative errno.
 */
export function recv(fd: number, buf: Uint8Array<ArrayBuffer>, flags = 0, object = ""): number {
  const n = sym().recvfrom(fd, buf, size(buf.byteLength), flags, null, null);
  if (n < 0) {
    const e = errno();
    if (e === 4 || e === 11 || e === 105) return -e;
    throw new SyscallError("recvfrom", object, e);
  }
  return n;
}

/** `close(2)`. @param fd @param object For error messages. */
export function close(fd: number, object = ""): void {
  if (sym().close(fd) < 0) throw new SyscallError("close", object, errno());
}

/** `setns(2)` on the calling thread. @param fd A namespace fd. @param nstype e.g. {@linkcode CLONE_NEWNET}. @param object For error messages. */
export function setns(fd: number, nstype: number, object = ""): void {
  if (sym().setns(fd, nstype) < 0) throw new SyscallError("setns", object, errno());
}

/** `unshare(2)` on the calling thread. @param flags e.g. {@linkcode CLONE_NEWNET}. @param object For error messages. */
export function unshare(flags: number, object = ""): void {
  if (sym().unshare(flags) < 0) throw new SyscallError("unshare", object, errno());
}

/** `SCHED_IDLE` from `<sched.h>`: run only when a CPU has nothing else to run. */
export const SCHED_IDLE = 5;

/**
 * `sched_setscheduler(2)` on the calling thread (`pid` 0), with priority 0 (what `SCHED_OTHER`,
 * `SCHED_BATCH` and `SCHED_IDLE` take).
 *
 * @example
 * ```ts ignore
 * import { SCHED_IDLE, schedSetScheduler } from "./libc.ts";
 * schedSetScheduler(SCHED_IDLE); // this thread runs only on an idle CPU
 * ```
 * @param policy e.g. {@linkcode SCHED_IDLE}.
 */
export function schedSetScheduler(policy: number): void {
  const param = new Uint8Array(4); // struct sched_param { int sched_priority; }: 0
  if (sym().sched_setscheduler(0, policy, param) < 0) {
    throw new SyscallError("sched_setscheduler", `policy ${policy}`, errno());
  }
}

/** `mount(2)`. @param source @param target @param fstype @param flags @param object For error messages. */
export function mount(
  source: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  object = "",
): void {
  const src = source === null ? null : cString(source);
  const tgt = cString(target);
  const fs = fstype === null ? null : cString(fstype);
  if (sym().mount(src, tgt, fs, size(flags), null) < 0) {
    throw new SyscallError("mount", object || JSON.stringify(target), errno());
  }
}

/** `umount2(2)`. @param target @param flags e.g. {@linkcode MNT_DETACH}. @param object For error messages. */
export function umount2(target: string, flags: number, object = ""): void {
  const tgt = cString(target);
  if (sym().umount2(tgt, flags) < 0) {
    throw new SyscallError("umount2", object || JSON.stringify(target), errno());
  }
}

/** `open(2)`; returns the fd. @param path @param flags @param mode @param object For error messages. */
export function open(path: string, flags: number, mode = 0, object = ""): number {
  const p = cString(path);
  const fd = sym().open(p, flags, mode);
  if (fd < 0) throw new SyscallError("open", object || JSON.stringify(path), errno());
  return fd;
}

/** `rename(2)`. @param from @param to @param object For error messages. */
export function rename(from: string, to: string, object = ""): void {
  if (sym().rename(cString(from), cString(to)) < 0) {
    throw new SyscallError(
      "rename",
      object || `${JSON.stringify(from)} -> ${JSON.stringify(to)}`,
      errno(),
    );
  }
}

/** `link(2)`: fails with `EEXIST` instead of replacing. @param from @param to @param object For error messages. */
export function link(from: string, to: string, object = ""): void {
  if (sym().link(cString(from), cString(to)) < 0) {
    throw new SyscallError(
      "link",
      object || `${JSON.stringify(from)} -> ${JSON.stringify(to)}`,
      errno(),
    );
  }
}

/** `symlink(2)`: fails with `EEXIST` instead of replacing. @param target @param path @param object For error messages. */
export function symlink(target: string, path: string, object = ""): void {
  if (sym().symlink(cString(target), cString(path)) < 0) {
    throw new SyscallError("symlink", object || JSON.stringify(path), errno());
  }
}

/** `mkdir(2)`: fails with `EEXIST` when it exists. @param path @param mode @param object For error messages. */
export function mkdir(path: string, mode: number, object = ""): void {
  if (sym().mkdir(cString(path), mode) < 0) {
    throw new SyscallError("mkdir", object || JSON.stringify(path), errno());
  }
}

/** `rmdir(2)`: only an empty directory. @param path @param object For error messages. */
export function rmdir(path: string, object = ""): void {
  if (sym().rmdir(cString(path)) < 0) {
    throw new SyscallError("rmdir", object || JSON.stringify(path), errno());
  }
}

/** `unlink(2)`. @param path @param object For error messages. */
export function unlink(path: string, object = ""): void {
  if (sym().unlink(cString(path)) < 0) {
    throw new SyscallError("unlink", object || JSON.stringify(path), errno());
  }
}

/** `read(2)`. @param fd @param buf @param object For error messages. @returns Bytes read (0 at the end). */
export function read(fd: number, buf: Uint8Array<ArrayBuffer>, object = ""): number {
  for (;;) {
    const n = sym().read(fd, buf, size(buf.byteLength));
    if (n >= 0) return n;
    const e = errno();
    if (e !== 4) throw new SyscallError("read", object, e); // EINTR: again
  }
}

/**
 * `pread(2)`: reads at an offset without moving the file position (`EINTR` retried).
 *
 * @example
 * ```ts ignore
 * pread(fd, new Uint8Array(512), 0); // a /proc file read again from its start
 * ```
 * @param fd The file. @param buf Where to read. @param offset From where. @param object For error messages.
 * @returns Bytes read (0 at the end).
 */
export function pread(
  fd: number,
  buf: Uint8Array<ArrayBuffer>,
  offset: number,
  object = "",
): number {
  for (;;) {
    const n = sym().pread(fd, buf, size(buf.byteLength), size(offset));
    if (n >= 0) return n;
    const e = errno();
    if (e !== 4) throw new SyscallError("pread", object, e); // EINTR: again
  }
}

const fileBuf = { bytes: new Uint8Array(4096) };
const decoder = new TextDecoder();

/**
 * Reads a whole (small) file as UTF-8 through `open`/`read`/`close`. For regular files and
 * `/proc/sys` values: a read that returns less than it was offered is taken as the end (no
 * second `read` to see 0).
 *
 * @example
 * ```ts ignore
 * readTextFile("/proc/sys/net/ipv4/ip_forward"); // "0\n"
 * ```
 * @param path The file.
 * @returns Its text; throws a {@linkcode SyscallError} (code `ENOENT`, …) when it cannot be read.
 */
export function readTextFile(path: string): string {
  const object = JSON.stringify(path);
  const fd = open(path, O_RDONLY | O_CLOEXEC, 0, object);
  try {
    let len = 0;
    for (;;) {
      if (len === fileBuf.bytes.byteLength) {
        const bigger = new Uint8Array(len * 2);
        bigger.set(fileBuf.bytes);
        fileBuf.bytes = bigger;
      }
      const space = fileBuf.bytes.byteLength - len;
      const n = read(fd, fileBuf.bytes.subarray(len), object);
      len += n;
      if (n < space) break;
    }
    return decoder.decode(fileBuf.bytes.subarray(0, len));
  } finally {
    close(fd, object);
  }
}

/**
 * Like {@linkcode readTextFile}, but `undefined` when nothing is there (`ENOENT`, `ENOTDIR`),
 * without making an error object: for files that are usually absent, on a hot path.
 *
 * @example
 * ```ts ignore
 * readTextFileIfExists("/etc/netns/c1/resolv.conf"); // undefined
 * ```
 * @param path The file.
 * @returns Its text, or `undefined`; other failures throw a {@linkcode SyscallError}.
 */
export function readTextFileIfExists(path: string): string | undefined {
  const fd = sym().open(cString(path), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    const e = errno();
    if (e === 2 || e === 20) return undefined; // ENOENT, ENOTDIR
    throw new SyscallError("open", JSON.stringify(path), e);
  }
  const object = JSON.stringify(path);
  try {
    let len = 0;
    for (;;) {
      if (len === fileBuf.bytes.byteLength) {
        const bigger = new Uint8Array(len * 2);
        bigger.set(fileBuf.bytes);
        fileBuf.bytes = bigger;
      }
      const n = read(fd, fileBuf.bytes.subarray(len), object);
      if (n === 0) break;
      len += n;
    }
    return decoder.decode(fileBuf.bytes.subarray(0, len));
  } finally {
    close(fd, object);
  }
}

/**
 * The raw outcome of one path call, for callers that expect some failures on a hot path:
 * `0` on success, else the errno (no error object is made).
 *
 * @example
 * ```ts ignore
 * tryPathCall("mkdir", "/etc/netns/c1", 0o755); // 0, or 17 (EEXIST)
 * ```
 * @param op `mkdir`, `rmdir` or `unlink`.
 * @param path The path.
 * @param mode For `mkdir`.
 * @returns 0 or the errno.
 */
export function tryPathCall(op: "mkdir" | "rmdir" | "unlink", path: string, mode = 0o755): number {
  const p = cString(path);
  const r = op === "mkdir"
    ? sym().mkdir(p, mode)
    : op === "rmdir"
    ? sym().rmdir(p)
    : sym().unlink(p);
  return r < 0 ? errno() : 0;
}

/** `O_DIRECTORY` from `<fcntl.h>`. */
const O_DIRECTORY = 0o200000;
/** `O_TMPFILE` from `<fcntl.h>` (`__O_TMPFILE | O_DIRECTORY`): an unnamed file in a directory. */
export const O_TMPFILE = 0o20000000 | O_DIRECTORY;
const AT_SYMLINK_FOLLOW = 0x400;

/**
 * Gives a file opened with {@linkcode O_TMPFILE} its name, `linkat(2)` through
 * `/proc/self/fd/FD` (as `open(2)` describes; no capability needed): the file appears whole,
 * and never replaces one that exists. `0` on success, else the errno (`EEXIST` when `to`
 * exists, `ENOENT` without `/proc`), with no error object made.
 *
 * @example
 * ```ts ignore
 * const fd = open("/run/nslink/ep.x", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0o600);
 * write(fd, bytes);
 * tryLinkFd(fd, "/run/nslink/ep.x/c1.json"); // 0, or 17 (EEXIST)
 * close(fd);
 * ```
 * @param fd The unnamed file.
 * @param to Its new name.
 * @returns 0 or the errno.
 */
export function tryLinkFd(fd: number, to: string): number {
  const r = sym().linkat(
    AT_FDCWD,
    cString(`/proc/self/fd/${fd}`),
    AT_FDCWD,
    cString(to),
    AT_SYMLINK_FOLLOW,
  );
  return r < 0 ? errno() : 0;
}
const direntBuf = new Uint8Array(32 * 1024);
const direntView = new DataView(direntBuf.buffer);

/**
 * The names in a directory (without `.` and `..`, in the directory's order), through
 * `open(O_DIRECTORY)`, `getdents64(2)` and `close`.
 *
 * @example
 * ```ts ignore
 * readDir("/run/netns"); // ["c1", "c2"]
 * ```
 * @param path The directory.
 * @returns The names; throws a {@linkcode SyscallError} (code `ENOENT`, `ENOTDIR`, …).
 */
export function readDir(path: string): string[] {
  const object = JSON.stringify(path);
  const fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, object);
  const names: string[] = [];
  try {
    for (;;) {
      const n = sym().getdents64(fd, direntBuf, size(direntBuf.byteLength));
      if (n < 0) throw new SyscallError("getdents64", object, errno());
      if (n === 0) return names;
      // struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16 (at 16), d_type u8, d_name.
      for (let off = 0; off < n;) {
        const reclen = direntView.getUint16(off + 16, true);
        let end = off + 19;
        while (direntBuf[end] !== 0) end++;
        const name = decoder.decode(direntBuf.subarray(off + 19, end));
        if (name !== "." && name !== "..") names.push(name);
        off += reclen;
      }
    }
  } finally {
    close(fd, object);
  }
}

/**
 * `readlink(2)`: a symbolic link's target.
 *
 * @param path The link. @param object For error messages.
 * @returns The target; throws `EINVAL` when `path` is not a symbolic link, `ENOENT` when absent.
 */
export function readlink(path: string, object = ""): string {
  const buf = fileBuf.bytes;
  const n = sym().readlink(cString(path), buf, size(buf.byteLength));
  if (n < 0) throw new SyscallError("readlink", object || JSON.stringify(path), errno());
  return decoder.decode(buf.subarray(0, n));
}

/**
 * `readlink(2)` for callers that expect it to fail on a hot path: the target, or the errno
 * (`ENOENT` absent, `EINVAL` not a symbolic link) without making an error object.
 *
 * @example
 * ```ts ignore
 * readlinkOrErrno("/run/nslink/rel.0a1b/c1"); // 2 (ENOENT): no mark
 * ```
 * @param path The link.
 * @returns The target, or the errno.
 */
export function readlinkOrErrno(path: string): string | number {
  const buf = fileBuf.bytes;
  const n = sym().readlink(cString(path), buf, size(buf.byteLength));
  if (n < 0) return errno();
  return decoder.decode(buf.subarray(0, n));
}

/** `access(2)` with `F_OK`. @param path @returns Whether something exists at `path` (following links). */
export function exists(path: string): boolean {
  return sym().access(cString(path), 0) === 0;
}

/** What {@linkcode lstat} and {@linkcode stat} report (from `struct statx`). */
export interface FileStat {
  /** `st_mode`: type and permission bits. */
  mode: number;
  /** Size in bytes. */
  size: number;
  /** Inode number. */
  ino: number;
  /** The containing device, `major:minor`. */
  dev: string;
}

/** `S_IFMT` and the file types of `<sys/stat.h>`. */
export const S_IFMT = 0o170000;
/** A regular file. */
export const S_IFREG = 0o100000;
/** A symbolic link. */
export const S_IFLNK = 0o120000;
/** A directory. */
export const S_IFDIR = 0o040000;

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const STATX_BASIC_STATS = 0x7ff;
const statxBuf = new Uint8Array(256);
const statxView = new DataView(statxBuf.buffer);

function statxOf(path: string, flags: number, call: string): FileStat {
  if (sym().statx(AT_FDCWD, cString(path), flags, STATX_BASIC_STATS, statxBuf) < 0) {
    throw new SyscallError(call, JSON.stringify(path), errno());
  }
  // struct statx: stx_mode at 0x1c, stx_ino 0x20, stx_size 0x28, stx_dev_major/minor 0x88/0x8c.
  return {
    mode: statxView.getUint16(0x1c, true),
    ino: Number(statxView.getBigUint64(0x20, true)),
    size: Number(statxView.getBigUint64(0x28, true)),
    dev: `${statxView.getUint32(0x88, true)}:${statxView.getUint32(0x8c, true)}`,
  };
}

/**
 * `lstat` (through `statx(2)`): a path's own type, size, inode and device, not following a final
 * symbolic link.
 *
 * @example
 * ```ts ignore
 * (lstat("/run/netns/c1").mode & S_IFMT) === S_IFREG;
 * ```
 * @param path The path.
 * @returns What it is; throws a {@linkcode SyscallError} (code `ENOENT`, …).
 */
export function lstat(path: string): FileStat {
  return statxOf(path, AT_SYMLINK_NOFOLLOW, "lstat");
}

/**
 * `stat` (through `statx(2)`): as {@linkcode lstat}, following symbolic links.
 *
 * @param path The path.
 * @returns What it is; throws a {@linkcode SyscallError} (code `ENOENT`, …).
 */
export function stat(path: string): FileStat {
  return statxOf(path, 0, "stat");
}

/**
 * `flock(2)`. Returns `false` instead of throwing when `LOCK_NB` was asked and the lock is held.
 *
 * @param fd @param operation e.g. {@linkcode LOCK_EX}. @param object For error messages.
 * @returns Whether the lock was taken (or released).
 */
export function flock(fd: number, operation: number, object = ""): boolean {
  if (sym().flock(fd, operation) < 0) {
    const e = errno();
    if (e === 11 && (operation & LOCK_NB)) return false;
    throw new SyscallError("flock", object, e);
  }
  return true;
}

/** `eventfd(2)`; returns the fd. @param flags e.g. {@linkcode EFD_CLOEXEC}. @param object For error messages. */
export function eventfd(flags: number, object = ""): number {
  const fd = sym().eventfd(0, flags);
  if (fd < 0) throw new SyscallError("eventfd", object, errno());
  return fd;
}

/** `write(2)`. @param fd @param buf @param object For error messages. @returns Bytes written. */
export function write(fd: number, buf: Uint8Array<ArrayBuffer>, object = ""): number {
  const n = sym().write(fd, buf, size(buf.byteLength));
  if (n < 0) throw new SyscallError("write", object, errno());
  return n;
}

/**
 * Whether {@linkcode pollOffThread} can wait here: Deno runs a `nonblocking` FFI call on a pool
 * thread; Bun has no such calls, so a waiter there polls with timers instead.
 *
 * @returns `true` under Deno.
 */
export function canPollOffThread(): boolean {
  return typeof (sym() as { poll?: unknown }).poll === "function";
}

/**
 * `poll(2)` for readability on a pool thread, so the JS thread keeps running. It never enters a
 * namespace (fds belong to the process). `pollfds` is a `struct pollfd[]` the caller keeps alive
 * until the promise settles; read `revents` from it afterwards.
 *
 * @param pollfds `struct pollfd` array (8 bytes each: fd, events, revents).
 * @param timeoutMs Milliseconds, `-1` for no limit.
 * @returns What `poll` returned: the number of ready fds, 0 on timeout, -1 on failure (errno is
 *   not kept across threads; callers retry).
 */
export function pollOffThread(
  pollfds: Uint8Array<ArrayBuffer>,
  timeoutMs: number,
): Promise<number> {
  return sym().poll(pollfds, size(pollfds.byteLength / 8), timeoutMs);
}

/** `inotify_init1(2)` flag: reads return `EAGAIN` instead of waiting. */
export const IN_NONBLOCK = 0o4000;
/** `inotify_init1(2)` flag: close on exec. */
export const IN_CLOEXEC = 0o2000000;
/** inotify event: a file was moved out of the watched directory. */
export const IN_MOVED_FROM = 0x40;
/** inotify event: a file was moved into the watched directory. */
export const IN_MOVED_TO = 0x80;
/** inotify event: a file was created in the watched directory. */
export const IN_CREATE = 0x100;
/** inotify event: a file was deleted from the watched directory. */
export const IN_DELETE = 0x200;
/** inotify event: the watched directory itself was deleted. */
export const IN_DELETE_SELF = 0x400;
/** inotify event: events were lost (the queue overflowed). */
export const IN_Q_OVERFLOW = 0x4000;
/** inotify event: the watch was removed (its directory went). */
export const IN_IGNORED = 0x8000;
/** inotify event flag: the subject is a directory. */
export const IN_ISDIR = 0x40000000;
/** `inotify_add_watch(2)` flag: only watch the path when it is a directory. */
export const IN_ONLYDIR = 0x1000000;

/**
 * `inotify_init1(2)`.
 *
 * @example
 * ```ts ignore
 * const fd = inotifyInit1(IN_NONBLOCK | IN_CLOEXEC);
 * ```
 * @param flags {@linkcode IN_NONBLOCK}, {@linkcode IN_CLOEXEC}.
 * @param object For error messages.
 * @returns The inotify fd.
 */
export function inotifyInit1(flags: number, object = ""): number {
  const fd = sym().inotify_init1(flags);
  if (fd < 0) throw new SyscallError("inotify_init1", object, errno());
  return fd;
}

/**
 * `inotify_add_watch(2)`.
 *
 * @example
 * ```ts ignore
 * const wd = inotifyAddWatch(fd, "/run/nslink", IN_CREATE | IN_DELETE);
 * ```
 * @param fd An fd from {@linkcode inotifyInit1}.
 * @param path The file or directory to watch.
 * @param mask The events (`IN_CREATE`, …).
 * @returns The watch descriptor.
 */
export function inotifyAddWatch(fd: number, path: string, mask: number): number {
  const wd = sym().inotify_add_watch(fd, cString(path), mask);
  if (wd < 0) throw new SyscallError("inotify_add_watch", JSON.stringify(path), errno());
  return wd;
}

/**
 * `read(2)` of a non-blocking fd: `0` instead of an `EAGAIN` error when nothing is there.
 *
 * @example
 * ```ts ignore
 * const n = readNonBlocking(inotifyFd, buf); // 0: no event queued
 * ```
 * @param fd A non-blocking fd.
 * @param buf Where to read to.
 * @param object For error messages.
 * @returns Bytes read; 0 when nothing was ready.
 */
export function readNonBlocking(fd: number, buf: Uint8Array<ArrayBuffer>, object = ""): number {
  for (;;) {
    const n = sym().read(fd, buf, size(buf.byteLength));
    if (n >= 0) return n;
    const e = errno();
    if (e === 11) return 0; // EAGAIN
    if (e !== 4) throw new SyscallError("read", object, e); // EINTR: again
  }
}

/** `MSG_DONTWAIT` from `<sys/socket.h>`. */
export const MSG_DONTWAIT = 0x40;

/**
 * `recvmmsg(2)` without waiting: `0` instead of an `EAGAIN` error when nothing is queued.
 *
 * @example
 * ```ts ignore
 * const n = recvmmsgNonBlocking(fd, hdrs, 32); // messages received into hdrs' buffers
 * ```
 * @param fd A datagram socket.
 * @param hdrs A `struct mmsghdr[vlen]` whose pointers name live buffers.
 * @param vlen How many headers.
 * @param object For error messages.
 * @returns How many messages were received.
 */
export function recvmmsgNonBlocking(
  fd: number,
  hdrs: Uint8Array<ArrayBuffer>,
  vlen: number,
  object = "",
): number {
  for (;;) {
    const n = sym().recvmmsg(fd, hdrs, vlen, MSG_DONTWAIT, null);
    if (n >= 0) return n;
    const e = errno();
    if (e === 11) return 0; // EAGAIN
    if (e !== 4) throw new SyscallError("recvmmsg", object, e);
  }
}

/**
 * `sendmmsg(2)` without waiting; a full socket buffer (`EAGAIN`) sends nothing more.
 *
 * @example
 * ```ts ignore
 * sendmmsgNonBlocking(fd, hdrs, 3);
 * ```
 * @param fd A datagram socket.
 * @param hdrs A `struct mmsghdr[vlen]` whose pointers name live buffers.
 * @param vlen How many headers.
 * @param object For error messages.
 * @returns How many messages were sent.
 */
export function sendmmsgNonBlocking(
  fd: number,
  hdrs: Uint8Array<ArrayBuffer>,
  vlen: number,
  object = "",
): number {
  for (;;) {
    const n = sym().sendmmsg(fd, hdrs, vlen, MSG_DONTWAIT);
    if (n >= 0) return n;
    const e = errno();
    if (e === 11) return 0;
    if (e !== 4) throw new SyscallError("sendmmsg", object, e);
  }
}

/**
 * `sendto(2)` of one datagram to a `sockaddr`, without waiting.
 *
 * @example
 * ```ts ignore
 * sendtoAddress(fd, answer, sockaddr);
 * ```
 * @param fd A datagram socket.
 * @param buf The datagram.
 * @param addr The destination `sockaddr`.
 * @param object For error messages.
 * @returns Bytes sent; 0 when the socket buffer is full.
 */
export function sendtoAddress(
  fd: number,
  buf: Uint8Array<ArrayBuffer>,
  addr: Uint8Array<ArrayBuffer>,
  object = "",
): number {
  const n = sym().sendto(fd, buf, size(buf.byteLength), MSG_DONTWAIT, addr, addr.byteLength);
  if (n >= 0) return n;
  const e = errno();
  if (e === 11) return 0;
  throw new SyscallError("sendto", object, e);
}

/** `getpid(2)`. @returns The process id. */
export function getpid(): number {
  return sym().getpid();
}
