/**
 * Route operations (`ip route …`): add, delete and list IPv4 and IPv6 routes, default routes and
 * routes via a gateway.
 *
 * @module
 */
import { decode } from "../netlink/codec.ts";
import {
  AF_INET,
  AF_INET6,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTPROT_BOOT,
} from "../netlink/constants.ts";
import { NetlinkDecodeError, NetlinkError } from "../netlink/errors.ts";
import { formatCidr, networkOf } from "../net/ip.ts";
import { checkCidr, checkInt, checkIP } from "../net/validate.ts";
import type { LinkRef } from "./link.ts";
import { LinkedOps } from "./ops.ts";

/** Gateways already checked, by text (a network's gateway is in every container's route). */
const gatewayFamilies = new Map<string, 4 | 6>();

function gatewayFamily(gateway: string): 4 | 6 {
  let f = gatewayFamilies.get(gateway);
  if (f === undefined) {
    f = checkIP(gateway); // throws for anything that is not an address
    if (gatewayFamilies.size >= 256) gatewayFamilies.clear();
    gatewayFamilies.set(gateway, f);
  }
  return f;
}
import { RouteMessage, type RouteMessageInput, type RouteMessageValue } from "./messages/route.ts";

/** A route to add or delete. */
export interface RouteSpec {
  /** Destination prefix, or `"default"` (the default when absent). */
  dst?: string;
  /** Next hop. */
  gateway?: string;
  /** Output link. */
  dev?: LinkRef;
  /** Family, when neither `dst` nor `gateway` tells it (`default dev eth0`). */
  family?: 4 | 6;
  /** Routing table; default main (254). */
  table?: number;
  /** Metric (`RTA_PRIORITY`). */
  metric?: number;
  /** Preferred source address. */
  src?: string;
  /** Replace an existing route instead of failing with `EEXIST`. */
  replace?: boolean;
}

/** A route as the kernel reports it. */
export interface Route {
  /** 4 or 6. */
  family: 4 | 6;
  /** `default` or a prefix such as `198.51.100.0/24`. */
  dst: string;
  /** Next hop. */
  gateway?: string;
  /** Output interface index. */
  oif?: number;
  /** Table id. */
  table: number;
  /** `RTPROT_*`: 2 kernel, 3 boot, 4 static. */
  protocol: number;
  /** `RT_SCOPE_*`: 0 universe, 253 link, 254 host. */
  scope: number;
  /** `RTN_*`: 1 unicast, 2 local, … */
  type: number;
  /** Metric. */
  metric?: number;
  /** Preferred source. */
  prefsrc?: string;
}

/**
 * Turns a decoded `RTM_NEWROUTE`/`RTM_DELROUTE` into a {@linkcode Route}.
 *
 * @example
 * ```ts
 * import { toRoute } from "./route.ts";
 * const m = { family: 2, dstLength: 0, srcLength: 0, tos: 0, table: 254, protocol: 3, scope: 0, type: 1, flags: 0 };
 * toRoute({ ...m, gateway: "198.51.100.1" }).dst; // "default"
 * ```
 * @param m The decoded message.
 * @returns The route.
 */
export function toRoute(m: RouteMessageValue): Route {
  if (m.dstLength !== 0 && m.dst === undefined) {
    throw new NetlinkDecodeError(
      `RTM_NEWROUTE with a /${m.dstLength} destination prefix but no RTA_DST`,
      1,
    );
  }
  const route: Route = {
    family: m.family === AF_INET6 ? 6 : 4,
    dst: m.dstLength === 0 ? "default" : `${m.dst}/${m.dstLength}`,
    table: m.tableId ?? m.table,
    protocol: m.protocol,
    scope: m.scope,
    type: m.type,
  };
  if (m.gateway !== undefined) route.gateway = m.gateway;
  if (m.oif !== undefined) route.oif = m.oif;
  if (m.priority !== undefined) route.metric = m.priority;
  if (m.prefsrc !== undefined) route.prefsrc = m.prefsrc;
  return route;
}

/** Route operations over one netlink socket. Get it as `Rtnl#route`. */
export class RouteOps extends LinkedOps {
  /**
   * Adds a route. The gateway must be reachable through an address already on a link, else the
   * kernel answers `ENETUNREACH`. Equivalent to: `ip route add DST [via GW] [dev DEV]`.
   *
   * @example Default routes
   * ```ts
   * import { Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * rt.route.add({ gateway: "198.51.100.1" });
   * rt.route.add({ gateway: "2001:db8::1", dev: "eth0" });
   * ```
   * @param route The route.
   */
  add(route: RouteSpec): void {
    const body = this.#body(route, false);
    const flags = NLM_F_CREATE | (route.replace ? NLM_F_REPLACE : NLM_F_EXCL);
    this.sock.request(RTM_NEWROUTE, flags, RouteMessage, body, { object: describeRoute(route) });
  }

  /**
   * Deletes a route. Equivalent to: `ip route del DST [via GW] [dev DEV]`.
   *
   * @example
   * ```ts
   * import { Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * rt.route.del({ dst: "203.0.113.0/24", gateway: "198.51.100.1" });
   * ```
   * @param route The route.
   */
  del(route: RouteSpec): void {
    this.sock.request(RTM_DELROUTE, 0, RouteMessage, this.#body(route, true), {
      object: describeRoute(route),
    });
  }

  /**
   * Lists the routes of a table. Equivalent to: `ip route show [table T]` / `ip -6 route show`.
   *
   * @example
   * ```ts
   * import { Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * rt.route.list({ family: 4 }).find((r) => r.dst === "default")?.gateway;
   * ```
   * @param filter Family (default both) and table (default main; 0 for all).
   * @returns The routes.
   */
  list(filter: { family?: 4 | 6; table?: number } = {}): Route[] {
    const table = filter.table ?? RT_TABLE_MAIN;
    const families = filter.family === 4
      ? [AF_INET]
      : filter.family === 6
      ? [AF_INET6]
      : [AF_INET, AF_INET6];
    const out: Route[] = [];
    for (const family of families) {
      const req: RouteMessageInput = { family };
      if (table) req.tableId = table;
      let replies;
      try {
        replies = this.sock.dump(RTM_GETROUTE, RouteMessage, req, {
          object: `routes table ${table}`,
        });
      } catch (e) {
        // A table can exist for one family only: the other family's dump answers ENOENT.
        if (table && e instanceof NetlinkError && e.code === "ENOENT") continue;
        throw e;
      }
      for (const r of replies) {
        if (r.type !== RTM_NEWROUTE) continue;
        const m = decode(RouteMessage, r.payload);
        const route = toRoute(m);
        if (table && route.table !== table) continue;
        out.push(route);
      }
    }
    return out;
  }

  #body(route: RouteSpec, forDelete: boolean): RouteMessageInput {
    const dst = route.dst === undefined || route.dst === "default"
      ? undefined
      : checkCidr(route.dst);
    const gwFamily = route.gateway === undefined ? undefined : gatewayFamily(route.gateway);
    const family = dst?.family ?? gwFamily ?? route.family ?? 4;
    if (gwFamily !== undefined && gwFamily !== family) {
      throw new TypeError(
        `Route to "${route.dst}" via "${route.gateway}": address families differ`,
      );
    }
    if (route.src !== undefined && checkIP(route.src) !== family) {
      throw new TypeError(`Route source "${route.src}" is not IPv${family}`);
    }
    const table = route.table ?? RT_TABLE_MAIN;
    checkInt(table, 1, 0xffffffff, "routing table");
    if (route.metric !== undefined) checkInt(route.metric, 0, 0xffffffff, "metric");
    const body: RouteMessageInput = {
      family: family === 4 ? AF_INET : AF_INET6,
      dstLength: dst?.prefixLength ?? 0,
      table: table < 256 ? table : 0,
      protocol: forDelete ? 0 : RTPROT_BOOT,
      scope: forDelete
        ? RT_SCOPE_NOWHERE
        : route.gateway === undefined && route.dev !== undefined
        ? RT_SCOPE_LINK
        : RT_SCOPE_UNIVERSE,
      type: forDelete ? 0 : RTN_UNICAST,
    };
    // iproute2's order: RTA_DST (IPv6 default included), RTA_GATEWAY, RTA_OIF.
    if (dst) body.dst = formatCidr(networkOf(dst)).split("/")[0];
    else if (family === 6) body.dst = "::";
    if (route.src !== undefined) body.prefsrc = route.src;
    if (route.gateway !== undefined) body.gateway = route.gateway;
    if (route.dev !== undefined) body.oif = this.links.index(route.dev);
    if (route.metric !== undefined) body.priority = route.metric;
    if (table >= 256) body.tableId = table;
    return body;
  }
}

function describeRoute(r: RouteSpec): string {
  let s = r.dst ?? "default";
  if (r.gateway !== undefined) s += ` via ${r.gateway}`;
  if (r.dev !== undefined) s += ` dev ${r.dev}`;
  return s;
}
