/**
 * Connecting a namespace to a network by name: what the command line (`nslink network connect`)
 * and the CNI plugin (ADD) both do, below both of them (`cni/` never imports `cli/`).
 *
 * @module
 */
import type { Interface } from "../model/interface.ts";
import { type Namespace, openNetworkNamespace } from "./namespace.ts";
import { type LinkOptions, type Network, openNetwork, type OpenOptions } from "./network.ts";

/**
 * Links a container on the fast path (its interfaces made directly inside `ns`) and configures
 * them; on any failure unlinks it again, so nothing is left half-made.
 *
 * @example
 * ```ts ignore
 * const ns = await openNetworkNamespace("/run/netns/c1");
 * await connectIn(await openNetwork("blue"), "c1", ns, { ports: [{ hostPort: 8080, port: 80 }] });
 * ```
 * @param net The network.
 * @param container The endpoint name.
 * @param ns The open namespace.
 * @param options Link options (addresses, ports, name inside).
 * @returns The interfaces as added.
 */
export async function connectIn(
  net: Network,
  container: string,
  ns: Namespace,
  options: LinkOptions,
): Promise<Interface[]> {
  const ifaces = await net.link(container, { ...options, namespace: ns });
  try {
    const added: Interface[] = [];
    for (const iface of ifaces) added.push(await ns.addInterface(iface));
    return added;
  } catch (e) {
    try {
      await net.unlink(container);
    } catch { /* report the first error */ }
    throw e;
  }
}

/** Options of {@linkcode connect}: the link's, and where the network is kept. */
export interface ConnectOptions extends Omit<LinkOptions, "namespace"> {
  /** How to open the network: `stateDir`, or an overlay network's `store` and `advertise`. */
  open?: OpenOptions;
}

/**
 * Connects the namespace mounted at `path` to the network called `network`: opens both, links
 * the container on the fast path, configures its interfaces, and closes the namespace handle.
 *
 * @example
 * ```ts ignore
 * await connect("blue", "c1", "/run/netns/c1", { address: "198.51.100.7" });
 * await connect("ov1", "c2", "/run/netns/c2", {
 *   open: { store: "etcd://198.51.100.1:2379", advertise: "198.51.100.11" },
 * });
 * ```
 * @param network The network's name.
 * @param container The endpoint name.
 * @param path The namespace's path (e.g. `/run/netns/c1`).
 * @param options Link options, and how to open the network.
 * @returns The interfaces as added.
 */
export async function connect(
  network: string,
  container: string,
  path: string,
  options: ConnectOptions = {},
): Promise<Interface[]> {
  const { open, ...link } = options;
  const net = await openNetwork(network, open ?? {});
  const ns = await openNetworkNamespace(path);
  try {
    return await connectIn(net, container, ns, link);
  } finally {
    ns.close();
  }
}
