/**
 * The network namespaces a test process (or its worker) holds open file descriptors of.
 *
 * @module
 */
import { readdirSync, statSync } from "node:fs";

/**
 * The nsfs inodes of the namespaces this process holds open fds of.
 *
 * @example
 * ```ts
 * const before = openNamespaceInodes().size;
 * ```
 */
export function openNamespaceInodes(): Set<number> {
  const nsfsDev = statSync("/proc/thread-self/ns/net").dev;
  const inodes = new Set<number>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const st = statSync(`/proc/self/fd/${fd}`);
      if (st.dev === nsfsDev) inodes.add(st.ino);
    } catch { /* the directory's own fd, closed meanwhile */ }
  }
  return inodes;
}
