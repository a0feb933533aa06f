/**
 * Bookkeeping shared by `Network` and `Namespace` that is not part of the public API: which
 * `Interface` values were created directly inside a namespace, and which network to tell when
 * an interface lands in a namespace.
 *
 * @module
 */
import type { Interface } from "./interface.ts";

/** Interfaces whose container end was created directly in a namespace: the namespace's path. */
export const createdIn: WeakMap<Interface, string> = new WeakMap();

/** Interfaces handed out by a network in this process: how to record where they went. */
export const noteNamespace: WeakMap<Interface, (path: string) => void> = new WeakMap();

/**
 * Link names in use inside namespaces that nslink created itself: all of them, since nslink made
 * every link there (`lo` and what it added). Opened namespaces are absent: ask the kernel.
 */
export const knownNames: WeakMap<object, Set<string>> = new WeakMap();
