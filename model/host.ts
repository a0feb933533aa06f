/**
 * The "host" side of every network: the namespace the calling thread was in when nslink first
 * needed it, and one route-netlink handle there. Both stay open for the life of the process.
 *
 * @module
 */
import { NetNs } from "../netns/netns.ts";
import { Rtnl } from "../rtnl/handle.ts";

let host: { netns: NetNs; rtnl: Rtnl } | undefined;

function init(): { netns: NetNs; rtnl: Rtnl } {
  if (!host) {
    const netns = NetNs.current();
    try {
      host = { netns, rtnl: Rtnl.open() };
    } catch (e) {
      netns.close();
      throw e;
    }
  }
  return host;
}

/**
 * The route-netlink handle of the host namespace.
 *
 * @example
 * ```ts ignore
 * hostRtnl().link.list();
 * ```
 * @returns The shared handle.
 */
export function hostRtnl(): Rtnl {
  return init().rtnl;
}

/**
 * The host namespace, open (to move links back into it).
 *
 * @example
 * ```ts ignore
 * rt.link.set("eth0", { netns: hostNetns() });
 * ```
 * @returns The shared namespace handle.
 */
export function hostNetns(): NetNs {
  return init().netns;
}
