/**
 * The one libc symbol table nslink binds, in `Deno.dlopen` form. The Bun backend translates this
 * same table to `bun:ffi` types; nothing else declares a C signature.
 *
 * `ssize_t` results are declared `i32` on purpose: a `BigInt` result allocates, and any allocation
 * between a failing call and the errno read can clobber errno in Deno. Every length nslink passes
 * is far below 2^31, and `-1` reads the same in the low 32 bits.
 *
 * @module
 */

/** The libc functions nslink calls, with their C parameter names in comments. */
export const LIBC_SYMBOLS = {
  /** `int socket(int domain, int type, int protocol)` */
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** `int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen)` */
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** `int getsockname(int sockfd, struct sockaddr *addr, socklen_t *addrlen)` */
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  /** `int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen)` */
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  /** `int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen)` */
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  /** `ssize_t sendto(int sockfd, const void *buf, size_t len, int flags, const struct sockaddr *dest_addr, socklen_t addrlen)` */
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "i32" },
  /** `ssize_t recvfrom(int sockfd, void *buf, size_t len, int flags, struct sockaddr *src_addr, socklen_t *addrlen)` */
  recvfrom: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"], result: "i32" },
  /** `int close(int fd)` */
  close: { parameters: ["i32"], result: "i32" },
  /** `int setns(int fd, int nstype)` */
  setns: { parameters: ["i32", "i32"], result: "i32" },
  /** `int unshare(int flags)` */
  unshare: { parameters: ["i32"], result: "i32" },
  /** `int sched_setscheduler(pid_t pid, int policy, const struct sched_param *param)` */
  sched_setscheduler: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  /** `int mount(const char *source, const char *target, const char *filesystemtype, unsigned long mountflags, const void *data)` */
  mount: { parameters: ["buffer", "buffer", "buffer", "usize", "buffer"], result: "i32" },
  /** `int umount2(const char *target, int flags)` */
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  /** `int open(const char *pathname, int flags, mode_t mode)` */
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  /** `int rename(const char *oldpath, const char *newpath)` */
  rename: { parameters: ["buffer", "buffer"], result: "i32" },
  /** `int link(const char *oldpath, const char *newpath)` */
  link: { parameters: ["buffer", "buffer"], result: "i32" },
  /** `int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)` */
  linkat: { parameters: ["i32", "buffer", "i32", "buffer", "i32"], result: "i32" },
  /** `int symlink(const char *target, const char *linkpath)` */
  symlink: { parameters: ["buffer", "buffer"], result: "i32" },
  /** `int unlink(const char *pathname)` */
  unlink: { parameters: ["buffer"], result: "i32" },
  /** `int mkdir(const char *pathname, mode_t mode)` */
  mkdir: { parameters: ["buffer", "u32"], result: "i32" },
  /** `int rmdir(const char *pathname)` */
  rmdir: { parameters: ["buffer"], result: "i32" },
  /** `ssize_t read(int fd, void *buf, size_t count)` */
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  /** `ssize_t pread(int fd, void *buf, size_t count, off_t offset)` (offsets passed are small) */
  pread: { parameters: ["i32", "buffer", "usize", "usize"], result: "i32" },
  /** `ssize_t getdents64(int fd, void *dirp, size_t count)` */
  getdents64: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  /** `ssize_t readlink(const char *pathname, char *buf, size_t bufsiz)` */
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "i32" },
  /** `int access(const char *pathname, int mode)` */
  access: { parameters: ["buffer", "i32"], result: "i32" },
  /** `int statx(int dirfd, const char *pathname, int flags, unsigned int mask, struct statx *statxbuf)` */
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  /** `int flock(int fd, int operation)` */
  flock: { parameters: ["i32", "i32"], result: "i32" },
  /** `pid_t getpid(void)` */
  getpid: { parameters: [], result: "i32" },
  /** `int eventfd(unsigned int initval, int flags)` */
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  /** `ssize_t write(int fd, const void *buf, size_t count)` */
  write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  /**
   * `int poll(struct pollfd *fds, nfds_t nfds, int timeout)`, run on a pool thread (Deno's
   * `nonblocking`: the call returns a promise). It only waits on fds, which belong to the whole
   * process; it never touches a thread's namespace. Bun cannot run a call off the JS thread, so
   * its backend leaves this symbol out.
   */
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  /** `int inotify_init1(int flags)` */
  inotify_init1: { parameters: ["i32"], result: "i32" },
  /** `int inotify_add_watch(int fd, const char *pathname, uint32_t mask)` */
  inotify_add_watch: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** `int recvmmsg(int sockfd, struct mmsghdr *msgvec, unsigned int vlen, int flags, struct timespec *timeout)` */
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "buffer"], result: "i32" },
  /** `int sendmmsg(int sockfd, struct mmsghdr *msgvec, unsigned int vlen, int flags)` */
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  /** `int *__errno_location(void)`: the calling thread's errno */
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The raw functions bound from {@linkcode LIBC_SYMBOLS}, as Deno types them. */
export type RawLibc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** A loaded libc: its raw functions and a reader for the calling thread's errno. */
export interface LoadedLibc {
  /** The bound functions; they return `-1` on failure and never throw. */
  readonly symbols: RawLibc;
  /** Reads the calling thread's errno without allocating. */
  readonly errno: () => number;
  /** Unloads the library. */
  close(): void;
}

/** The shared object every glibc system has; `libc.so` is a linker script and cannot be loaded. */
export const LIBC_PATH = "libc.so.6";
