/**
 * Running synchronous code inside another network namespace on the calling thread, and always
 * coming back. Namespace membership belongs to a thread, so everything here is synchronous: an
 * `await` in between would let other work run in the foreign namespace.
 *
 * @module
 */
import { CLONE_NEWNET, close, O_CLOEXEC, O_RDONLY, open, setns } from "../ffi/libc.ts";

/** The calling thread's network namespace (`/proc/self` can name another thread's under `deno test`). */
export const THREAD_NETNS = "/proc/thread-self/ns/net";

let poisoned: Error | undefined;

/**
 * Opens the calling thread's current network namespace.
 *
 * @example
 * ```ts ignore
 * import { openCurrentNetns } from "./enter.ts";
 * const fd = openCurrentNetns(); // close it when done
 * ```
 * @returns An fd of the namespace, `O_CLOEXEC`.
 */
export function openCurrentNetns(): number {
  return open(THREAD_NETNS, O_RDONLY | O_CLOEXEC);
}

/**
 * Runs `fn` with the calling thread inside the network namespace `fd`, then switches back, also
 * when `fn` throws. `fn` must be synchronous; a returned promise is refused. Failing to switch
 * back is fatal: it is thrown, and every later switch refuses to run.
 *
 * @example Open a socket inside a namespace
 * ```ts ignore
 * import { withNetns } from "./enter.ts";
 * const fd = withNetns(nsFd, () => socket(AF_NETLINK, SOCK_RAW, 0), '"/run/netns/c1"');
 * ```
 * @param fd An fd of the target network namespace.
 * @param fn The synchronous work.
 * @param object Names the namespace in errors, e.g. `"/run/netns/c1"` (quoted).
 * @returns What `fn` returned.
 */
export function withNetns<T>(fd: number, fn: () => T, object = `fd ${fd}`): T {
  if (poisoned) throw poisoned;
  const home = openCurrentNetns();
  try {
    setns(fd, CLONE_NEWNET, `${object} CLONE_NEWNET`);
    let result: T;
    try {
      result = fn();
    } finally {
      try {
        setns(home, CLONE_NEWNET, `(original namespace) CLONE_NEWNET`);
      } catch (cause) {
        poisoned = new Error(
          "Fatal: this thread could not return to its original network namespace; nslink refuses further namespace switches",
          { cause },
        );
        // deno-lint-ignore no-unsafe-finally -- a failed restore must win over anything else
        throw poisoned;
      }
    }
    if (result !== null && typeof (result as { then?: unknown })?.then === "function") {
      throw new TypeError(
        "withNetns() runs synchronous callbacks only; the callback returned a promise",
      );
    }
    return result;
  } finally {
    close(home);
  }
}
