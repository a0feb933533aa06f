/**
 * Running synchronous code inside another network namespace on the calling thread, and always
 * coming back. Namespace membership belongs to a thread, so everything here is synchronous: an
 * `await` in between would let other work run in the foreign namespace.
 *
 * It sits beside the libc bindings, below both `netlink/` (a socket opened inside a namespace)
 * and `netns/` (namespaces mounted at a path), so that imports only ever point down.
 *
 * @module
 */
import { CLONE_NEWNET, close, O_CLOEXEC, O_RDONLY, open, setns, unshare } from "./libc.ts";

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
  return away(() => setns(fd, CLONE_NEWNET, `${object} CLONE_NEWNET`), fn);
}

/**
 * Runs `fn` with the calling thread in a brand-new network namespace (`unshare(CLONE_NEWNET)`),
 * then switches back, with the same guarantees as {@linkcode withNetns}. The new namespace lives
 * on only if `fn` keeps a reference to it (a bind mount of {@linkcode THREAD_NETNS}, an fd).
 *
 * @example Mount a new namespace at a path
 * ```ts ignore
 * import { THREAD_NETNS, withNewNetns } from "./enter.ts";
 * withNewNetns(() => mount(THREAD_NETNS, "/run/netns/c1", "none", MS_BIND), '"/run/netns/c1"');
 * ```
 * @param fn The synchronous work.
 * @param object Names the namespace in errors.
 * @returns What `fn` returned.
 */
export function withNewNetns<T>(fn: () => T, object = "(new namespace)"): T {
  return away(() => unshare(CLONE_NEWNET, `${object} CLONE_NEWNET`), fn);
}

/** Leaves this thread's namespace with `enter`, runs `fn`, and comes back (or poisons). */
function away<T>(enter: () => void, fn: () => T): T {
  if (poisoned) throw poisoned;
  const home = openCurrentNetns();
  try {
    enter();
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
        "Namespace switches run synchronous callbacks only; the callback returned a promise",
      );
    }
    return result;
  } finally {
    close(home);
  }
}
