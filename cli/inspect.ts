/**
 * `nslink network inspect`'s JSON, in the spirit of `docker network inspect`: the network's
 * configuration and IPAM, then every connected container with its interface, addresses, MAC,
 * namespace and published ports.
 *
 * @module
 */
import { forwardDropWarnings } from "../firewall/firewall.ts";
import type { Network } from "../network/network.ts";
import type { PortBinding } from "../netfilter/ports.ts";

/** One container in {@linkcode NetworkInspect}. */
export interface EndpointInspect {
  /** The endpoint (container) name. */
  Name: string;
  /** The namespace its interface is in. */
  Netns: string;
  /** The interface name inside the namespace, e.g. `eth0`. */
  Interface: string;
  /** The veth's host end. */
  HostInterface: string;
  /** e.g. `02:42:c6:33:64:02`. */
  MacAddress: string;
  /** With prefix, e.g. `198.51.100.2/24`; empty when none. */
  IPv4Address: string;
  /** With prefix; empty when none. */
  IPv6Address: string;
  /** Published ports. */
  Ports: PortBinding[];
  /** The names other containers on the network resolve it by (its name, then its aliases). */
  DNSNames: string[];
}

/** The JSON of one network. */
export interface NetworkInspect {
  /** Name. */
  Name: string;
  /** Random id. */
  Id: string;
  /** ISO 8601 creation time. */
  Created: string;
  /** Always `local`. */
  Scope: "local";
  /** Driver type. */
  Driver: string;
  /** Whether it has an IPv6 subnet. */
  EnableIPv6: boolean;
  /** Address management. */
  IPAM: { Driver: "nslink"; Config: { Subnet: string; Gateway: string }[] };
  /** No traffic beyond the bridge. */
  Internal: boolean;
  /** Connected containers, by name. */
  Containers: Record<string, EndpointInspect>;
  /** The driver's configuration as saved (bridge name, MTU, …). */
  Options: Record<string, unknown>;
  /** Labels (`--label`). */
  Labels: Record<string, string>;
  /** Where its state is saved. */
  StateDir: string;
  /** Containers' names served on the gateways (see `nslink network create --disable-dns`). */
  DNSEnabled: boolean;
  /** The upstreams for other names; empty: the host's resolv.conf. */
  DNSServers: string[];
  /**
   * What stops its traffic outside nslink's control (another table's forward chain with policy
   * drop), when anything does.
   */
  Warnings?: string[];
}

/**
 * Builds a network's inspect JSON from its saved state.
 *
 * @example
 * ```ts ignore
 * const json = await inspectNetwork(await openNetwork("blue"));
 * json.Containers.c1.IPv4Address; // "198.51.100.2/24"
 * ```
 * @param net The network.
 * @returns The JSON value.
 */
export async function inspectNetwork(net: Network): Promise<NetworkInspect> {
  const containers: Record<string, EndpointInspect> = {};
  const config = net.config;
  for (const name of net.endpoints()) {
    const ep = net.endpoint(name);
    if (!ep) continue;
    const iface = ep.interfaces[0];
    containers[name] = {
      Name: name,
      Netns: ep.namespace ?? "",
      Interface: iface?.dstName ?? "",
      HostInterface: ep.hostLinks[0] ?? "",
      MacAddress: iface?.macAddress ?? "",
      IPv4Address: iface?.address ?? "",
      IPv6Address: iface?.addressIPv6 ?? "",
      Ports: await net.ports(name),
      DNSNames: config.dns === true ? [name, ...(ep.aliases ?? [])] : [],
    };
  }
  const ipam: NetworkInspect["IPAM"]["Config"] = [];
  if (net.subnet) ipam.push({ Subnet: net.subnet, Gateway: net.gateway });
  if (net.subnetIPv6) ipam.push({ Subnet: net.subnetIPv6, Gateway: net.gatewayIPv6 });
  return {
    Name: net.name,
    Id: net.id,
    Created: net.created,
    Scope: "local",
    Driver: net.type,
    EnableIPv6: net.subnetIPv6 !== "",
    IPAM: { Driver: "nslink", Config: ipam },
    Internal: config.internal === true,
    Containers: containers,
    Options: config,
    Labels: net.labels,
    StateDir: net.stateDir,
    DNSEnabled: config.dns === true,
    DNSServers: Array.isArray(config.dnsServers) ? config.dnsServers.map(String) : [],
    ...warnings(net),
  };
}

function warnings(net: Network): { Warnings?: string[] } {
  if (net.type !== "bridge" || net.config.internal === true) return {};
  const w = forwardDropWarnings();
  return w.length ? { Warnings: w } : {};
}
