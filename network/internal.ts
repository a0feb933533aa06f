/**
 * The hand-off between `Network` and `Namespace`, which is not part of the public API: what a
 * network of this process knows about each interface it handed out. It is keyed by the
 * interface's `srcName` — a value every copy of the `Interface` carries (a spread, a
 * `structuredClone`, a JSON round trip) — never by the object, so a copy never loses it.
 * `Namespace.addInterface` works without it too: it then asks the kernel where the interface is.
 *
 * @module
 */

/** What the network that made an interface tells the namespace that takes it in. */
export interface Handoff {
  /** The namespace path the container end was created in (the fast path), if any. */
  readonly createdIn?: string;
  /** The container end's interface index in `createdIn`, when known (saves a lookup). */
  readonly index?: number;
  /** Records in the network's state which namespace the interface went to. */
  readonly noteNamespace: (path: string) => void;
}

/** Interfaces handed out by networks of this process, by `srcName`; removed on `unlink`. */
export const handoffs: Map<string, Handoff> = new Map();

/**
 * Link names in use inside namespaces that nslink created itself: all of them, since nslink made
 * every link there (`lo` and what it added). Opened namespaces are absent: ask the kernel.
 * Keyed by the `Namespace` object, which is never copied.
 */
export const knownNames: WeakMap<object, Set<string>> = new WeakMap();
