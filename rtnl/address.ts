/**
 * Address operations (`ip addr …`): add, delete and list IPv4 and IPv6 addresses.
 *
 * @module
 */
import { decode } from "../netlink/codec.ts";
import {
  AF_INET,
  AF_INET6,
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RT_SCOPE_HOST,
  RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_NEWADDR,
} from "../netlink/constants.ts";
import { formatAddress, lastOf, networkOf } from "../net/ip.ts";
import { checkCidr, checkIfName, checkIP } from "../net/validate.ts";
import { describeLink, type LinkRef } from "./link.ts";
import { LinkedOps } from "./ops.ts";
import { AddrMessage, type AddrMessageInput, type AddrMessageValue } from "./messages/address.ts";

/** An address as the kernel reports it. */
export interface Address {
  /** Interface index. */
  index: number;
  /** 4 or 6. */
  family: 4 | 6;
  /** The address with its prefix, e.g. `198.51.100.2/24`. */
  cidr: string;
  /** The address alone. */
  address: string;
  /** Prefix length. */
  prefixLength: number;
  /** `ip addr` scope: `global`, `link`, `host`, or the number. */
  scope: string;
  /** `IFA_F_*` flags (from `IFA_FLAGS` when present). */
  flags: number;
  /** The label (IPv4), e.g. `eth0`. */
  label?: string;
  /** The broadcast address (IPv4), if set. */
  broadcast?: string;
}

/** Options of {@linkcode AddrOps.add}. */
export interface AddrOptions {
  /** Skip duplicate address detection (IPv6, `IFA_F_NODAD`): usable at once. */
  nodad?: boolean;
  /** Do not add the prefix route. */
  noprefixroute?: boolean;
  /** Set the IPv4 broadcast address; `true` derives it from the prefix (`brd +`). */
  broadcast?: string | true;
  /** IPv4 label. */
  label?: string;
  /** Scope; default `global`. */
  scope?: "global" | "link" | "host";
  /** Replace an existing address instead of failing with `EEXIST`. */
  replace?: boolean;
}

const SCOPES = { global: RT_SCOPE_UNIVERSE, link: RT_SCOPE_LINK, host: RT_SCOPE_HOST } as const;
const SCOPE_NAMES: Record<number, string> = {
  0: "global",
  200: "site",
  253: "link",
  254: "host",
  255: "nowhere",
};

/**
 * Turns a decoded `RTM_NEWADDR`/`RTM_DELADDR` into an {@linkcode Address}.
 *
 * @example
 * ```ts
 * import { toAddress } from "./address.ts";
 * toAddress({ family: 2, prefixLength: 24, flags: 0, scope: 0, index: 2, local: "198.51.100.2" })
 *   ?.cidr; // "198.51.100.2/24"
 * ```
 * @param m The decoded message.
 * @returns The address, or `undefined` when the message carries none.
 */
export function toAddress(m: AddrMessageValue): Address | undefined {
  const address = m.local ?? m.address;
  if (address === undefined) return undefined;
  const a: Address = {
    index: m.index,
    family: m.family === AF_INET6 ? 6 : 4,
    cidr: `${address}/${m.prefixLength}`,
    address,
    prefixLength: m.prefixLength,
    scope: SCOPE_NAMES[m.scope] ?? String(m.scope),
    flags: m.addrFlags ?? m.flags,
  };
  if (m.label !== undefined) a.label = m.label;
  if (m.broadcast !== undefined) a.broadcast = m.broadcast;
  return a;
}

/** Address operations over one netlink socket. Get it as `Rtnl#addr`. */
export class AddrOps extends LinkedOps {
  /**
   * Adds an address. Equivalent to: `ip addr add CIDR dev DEV [nodad]`.
   *
   * @example
   * ```ts
   * import { Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * rt.addr.add("eth0", "198.51.100.2/24");
   * rt.addr.add("eth0", "2001:db8::2/64", { nodad: true });
   * ```
   * @param dev The link.
   * @param cidr Address and prefix length.
   * @param options Flags, broadcast, label, scope.
   */
  add(dev: LinkRef, cidr: string, options: AddrOptions = {}): void {
    const body = this.#body(dev, cidr, options);
    const flags = NLM_F_CREATE | (options.replace ? NLM_F_REPLACE : NLM_F_EXCL);
    this.sock.request(RTM_NEWADDR, flags, AddrMessage, body, {
      object: `${cidr} dev ${describeLink(dev, "").trim()}`,
    });
  }

  /**
   * Deletes an address. Equivalent to: `ip addr del CIDR dev DEV`.
   *
   * @example
   * ```ts
   * import { Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * rt.addr.del("eth0", "198.51.100.2/24");
   * ```
   * @param dev The link.
   * @param cidr Address and prefix length.
   */
  del(dev: LinkRef, cidr: string): void {
    const body = this.#body(dev, cidr, {});
    this.sock.request(RTM_DELADDR, 0, AddrMessage, body, {
      object: `${cidr} dev ${describeLink(dev, "").trim()}`,
    });
  }

  /**
   * Lists addresses. Equivalent to: `ip addr show [dev DEV]` (`ip -4`/`-6` with `family`).
   *
   * @example
   * ```ts
   * import { Rtnl } from "../mod.ts";
   * declare const rt: Rtnl;
   * rt.addr.list({ dev: "eth0", family: 4 }).map((a) => a.cidr); // ["198.51.100.2/24"]
   * ```
   * @param filter Optional link and family.
   * @returns The addresses.
   */
  list(filter: { dev?: LinkRef; family?: 4 | 6 } = {}): Address[] {
    const family = filter.family === 4 ? AF_INET : filter.family === 6 ? AF_INET6 : 0;
    const index = filter.dev === undefined ? 0 : this.links.index(filter.dev);
    const replies = this.sock.dump(RTM_GETADDR, AddrMessage, { family, index }, {
      object: "addresses",
    });
    const out: Address[] = [];
    for (const r of replies) {
      if (r.type !== RTM_NEWADDR) continue;
      const m = decode(AddrMessage, r.payload);
      if (index && m.index !== index) continue; // kernels without strict checking ignore the filter
      const a = toAddress(m);
      if (a) out.push(a);
    }
    return out;
  }

  #body(dev: LinkRef, cidr: string, options: AddrOptions): AddrMessageInput {
    const c = checkCidr(cidr);
    if (typeof dev === "string") checkIfName(dev);
    if (options.label !== undefined) checkIfName(options.label, "address label", { alias: true });
    if (
      typeof options.broadcast === "string" && (c.family !== 4 || checkIP(options.broadcast) !== 4)
    ) {
      throw new TypeError(`Invalid broadcast "${options.broadcast}" for "${cidr}": IPv4 only`);
    }
    if (options.scope !== undefined && !(options.scope in SCOPES)) {
      throw new TypeError(`Invalid scope "${options.scope}": global, link or host`);
    }
    let flags = 0;
    if (options.nodad) flags |= IFA_F_NODAD;
    if (options.noprefixroute) flags |= IFA_F_NOPREFIXROUTE;
    const address = formatAddress(c.family, c.address);
    const body: AddrMessageInput = {
      family: c.family === 4 ? AF_INET : AF_INET6,
      prefixLength: c.prefixLength,
      // iproute2: flags that fit go in the header, larger ones in IFA_FLAGS alone.
      flags: flags <= 0xff ? flags : 0,
      scope: SCOPES[options.scope ?? "global"],
      index: this.links.index(dev),
    };
    // iproute2's order: IFA_LOCAL, IFA_ADDRESS, then IFA_FLAGS when any flag is set.
    body.local = address;
    body.address = address;
    if (options.broadcast !== undefined && c.family === 4) {
      body.broadcast = options.broadcast === true
        ? formatAddress(4, lastOf(networkOf(c)))
        : options.broadcast;
    }
    if (options.label !== undefined) body.label = options.label;
    if (flags > 0xff) body.addrFlags = flags;
    return body;
  }
}
